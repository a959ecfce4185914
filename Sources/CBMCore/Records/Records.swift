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

    /// A `totals` record: the window, the scope, the figures that apply to it, the quality
    /// fields, the basis of the volumes and, with derived figures, the factor set used.
    public mutating func encode(_ r: TotalsRecord, factors: Factors) {
        encoder.begin()
        encoder.string("window", r.window.rawValue)
        encoder.time("start", r.span.start, offsetSeconds: offsets.offset(at: r.span.start))
        encoder.time("end", r.span.end, offsetSeconds: offsets.offset(at: r.span.end))
        encoder.string("scope", r.scope.rawValue)
        encoder.string("id", r.id)
        if let v = r.gasM3 { encoder.number("gas_m3", v) }
        if let v = r.waterM3 { encoder.number("water_m3", v) }
        if let v = r.utilisedM3 { encoder.number("utilised_m3", v) }
        if let v = r.flaredM3 { encoder.number("flared_m3", v) }
        if r.hasUtilisationRate {
            if let v = r.utilisationRate { encoder.number("utilisation_rate", v) } else { encoder.null("utilisation_rate") }
        }
        if let v = r.coalT { encoder.number("coal_t", v) }
        if let v = r.co2eT { encoder.number("co2e_t", v) }
        encoder.number("flow_seconds", r.flowSeconds)
        encoder.number("coverage", r.coverage)
        encoder.integer("samples", r.samples)
        encoder.bool("estimated", r.estimated)
        encoder.integer("revision", r.revision)
        encoder.string("basis", basis.name)
        if r.coalT != nil {
            encoder.number("coal_kgce_per_m3", factors.coalKgcePerM3)
            encoder.number("co2e_kg_per_m3", factors.co2eKgPerM3)
        }
        encoder.end()
    }

    /// An `alerts` record: time, rule, scope, id, state, severity, value, threshold, window,
    /// message, and whether it is acknowledged or suppressed (shelved, maintenance).
    public mutating func encode(_ a: AlertRecord) {
        encoder.begin()
        encoder.time("time", a.time, offsetSeconds: offsets.offset(at: a.time))
        encoder.string("rule", a.rule)
        encoder.string("scope", a.scope.rawValue)
        encoder.string("id", a.id)
        encoder.string("state", a.state.rawValue)
        encoder.string("severity", a.severity)
        if let v = a.value { encoder.number("value", v) } else { encoder.null("value") }
        if let v = a.threshold { encoder.number("threshold", v) } else { encoder.null("threshold") }
        encoder.string("window", a.window?.rawValue)
        encoder.string("message", a.message)
        encoder.bool("acknowledged", a.acknowledged)
        if let s = a.suppressedUntil { encoder.time("suppressed_until", s, offsetSeconds: offsets.offset(at: s)) } else { encoder.null("suppressed_until") }
        encoder.end()
    }

    /// An `events` record: time, kind, id, detail.
    public mutating func encode(_ e: EventRecord) {
        encoder.begin()
        encoder.time("time", e.time, offsetSeconds: offsets.offset(at: e.time))
        encoder.string("kind", e.kind.rawValue)
        encoder.string("id", e.id)
        encoder.string("detail", e.detail)
        encoder.end()
    }

    /// `latest.json`: the running totals of the open windows and the last closed hour and gas day,
    /// for dashboards. One JSON object; records as in `totals/`.
    public mutating func snapshot(generatedAt: Timestamp, watermark: Timestamp, open: [TotalsRecord],
                                  lastHour: [TotalsRecord], lastDay: [TotalsRecord], factors: Factors) -> [UInt8] {
        var out: [UInt8] = []
        func time(_ t: Timestamp) -> String { "\"" + RFC3339.format(t, offsetSeconds: offsets.offset(at: t)) + "\"" }
        out += Array("{\"generated_at\":\(time(generatedAt)),\"watermark\":\(watermark.microseconds > Int64.min / 2 ? time(watermark) : "null"),".utf8)
        out += Array("\"basis\":\"\(basis.name)\",\"coal_kgce_per_m3\":\(factors.coalKgcePerM3),\"co2e_kg_per_m3\":\(factors.co2eKgPerM3),".utf8)
        for (i, (name, records)) in [("open", open), ("last_closed_hour", lastHour), ("last_closed_day", lastDay)].enumerated() {
            out += Array("\"\(name)\":[".utf8)
            for (j, r) in records.enumerated() {
                encoder.reset()
                encode(r, factors: factors)
                if j > 0 { out.append(44) }
                out.append(contentsOf: encoder.bytes[..<(encoder.bytes.count - 1)])  // without the newline
            }
            out += Array((i < 2 ? "]," : "]").utf8)
        }
        encoder.reset()
        out += Array("}\n".utf8)
        return out
    }

    /// Takes the encoded bytes, leaving the encoder empty.
    public mutating func take() -> [UInt8] {
        let out = encoder.bytes
        encoder.reset()
        return out
    }
}
