/// The field as the roll-up saw it at a snapshot: what `latest.json` holds, with the alarms and
/// each well's latest gas rate, for the status page and its JSON API. Made at the snapshot's
/// cadence, off the path of every message.
public struct FieldStatus: Sendable {
    public var generatedAt: Timestamp
    public var watermark: Timestamp
    /// The open windows' running totals, every scope.
    public var open: [TotalsRecord]
    /// The last closed hour and gas day.
    public var lastHour: [TotalsRecord]
    public var lastDay: [TotalsRecord]
    /// Each asset's latest gas rate reading.
    public var rates: [AssetRate]
    public var alarms: AlertEngine.Status

    public init(generatedAt: Timestamp, watermark: Timestamp, open: [TotalsRecord], lastHour: [TotalsRecord], lastDay: [TotalsRecord],
                rates: [AssetRate], alarms: AlertEngine.Status) {
        self.generatedAt = generatedAt
        self.watermark = watermark
        self.open = open
        self.lastHour = lastHour
        self.lastDay = lastDay
        self.rates = rates
        self.alarms = alarms
    }
}

extension AlertEngine {
    /// What the alarms are at `t`: those active, when each asset was last heard from, and which
    /// assets are in maintenance.
    public struct Status: Sendable {
        public struct Active: Sendable {
            /// The alarm's latest record (why it is active, its value and threshold).
            public var record: AlertRecord
            public var acknowledged: Bool
            public var shelvedUntil: Timestamp?
        }
        public var active: [Active]
        public var lastSeen: [String: Int64]
        public var inMaintenance: Set<String>
        public init(active: [Active], lastSeen: [String: Int64], inMaintenance: Set<String>) {
            self.active = active
            self.lastSeen = lastSeen
            self.inMaintenance = inMaintenance
        }
    }

    public func status(at t: Timestamp) -> Status {
        let now = t.microseconds
        let active = alarms.sorted { $0.key < $1.key }.compactMap { key, a -> Status.Active? in
            guard a.active, let record = a.last else { return nil }
            return Status.Active(record: record, acknowledged: a.acknowledged,
                                 shelvedUntil: a.shelvedUntil.flatMap { $0 > now ? Timestamp(microseconds: $0) : nil })
        }
        var inMaintenance = Set<String>()
        for m in maintenance where m.from.microseconds <= now && now < m.until.microseconds {
            for id in lastSeen.keys where m.selection.selects(id) { inMaintenance.insert(id) }
            for asset in register.assets where m.selection.selects(asset.id) { inMaintenance.insert(asset.id) }
        }
        return Status(active: active, lastSeen: lastSeen, inMaintenance: inMaintenance)
    }
}
