/// The output record families (DESIGN §3.5) and their JSON Lines encoding.
public enum RecordFamily: String, CaseIterable, Sendable {
    case readings, rejects, totals, alerts, events
}

/// Encodes records as JSON Lines, with times in the configured zone.
public struct RecordEncoder: Sendable {
    /// How many payload bytes a reject record keeps.
    public var maxRejectPayload: Int
    /// The reporting basis, written on gas readings.
    public let basis: VolumeBasis
    private var offsets: ZoneOffsets
    /// The zone's offsets, for names and times outside records.
    public var zoneOffsets: ZoneOffsets { offsets }
    /// The encoded lines.
    public var encoder = JSONLineEncoder()

    public init(zone: ZoneOffsets, basis: VolumeBasis, maxRejectPayload: Int = 1024) {
        self.offsets = zone
        self.basis = basis
        self.maxRejectPayload = maxRejectPayload
    }

    /// A `readings` record: time, asset, measurement, value, unit, and the basis of gas volumes.
    public mutating func encode(_ r: Reading) {
        encoder.begin()
        encoder.time("time", r.time, offsetSeconds: offsets.offset(at: r.time))
        encoder.string("asset", r.asset)
        encoder.string("measurement", r.measurement.rawValue)
        encoder.number("value", r.value)
        encoder.string("unit", r.unit)
        if r.measurement.dimension.isGas { encoder.string("basis", basis.name) }
        encoder.end()
    }

    /// A `rejects` record: time, topic, reason (text and code), payload (truncated, escaped) and
    /// its full size.
    public mutating func encode(_ r: Reject) {
        encoder.begin()
        encoder.time("time", r.time, offsetSeconds: offsets.offset(at: r.time))
        encoder.string("topic", r.topic)
        encoder.string("reason", r.reason.description)
        encoder.string("code", r.reason.code)
        let kept = r.payload.prefix(maxRejectPayload)
        encoder.bytesAsString("payload", kept)
        encoder.integer("payload_bytes", r.payload.count)
        if kept.count < r.payload.count { encoder.bool("truncated", true) }
        encoder.end()
    }

    /// Takes the encoded bytes, leaving the encoder empty.
    public mutating func take() -> [UInt8] {
        let out = encoder.bytes
        encoder.reset()
        return out
    }
}
