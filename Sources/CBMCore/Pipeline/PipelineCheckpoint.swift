/// The checkpoint's contents, and its one codec: the journal sequence the state reflects, and
/// each step's state as that step saved it (``TelemetryDecoder/save(into:)``,
/// ``AssetAggregator/save(into:)``, ``TotalsAggregator/save(into:)``,
/// ``AlertEngine/save(into:)``, each beside its type in an `X+Checkpoint.swift`). The store
/// around it (``CBMStorage/CheckpointStore``) adds only the framing and the checksum.
///
///     "cbm-ingest checkpoint 4"  decoder  partition count  partition states…  totals+alerts
///
/// Partition states are saved per asset, so a checkpoint restores into any partition count.
public struct PipelineCheckpoint: Sendable, Equatable {
    public var sequence: UInt64
    public var decoder: [UInt8]
    public var partitions: [[UInt8]]
    public var rollup: [UInt8]

    /// The first field: the format and its version (``BinaryReader/currentVersion``).
    public static let header = "cbm-ingest checkpoint \(BinaryReader.currentVersion)"

    public init(sequence: UInt64, decoder: [UInt8], partitions: [[UInt8]], rollup: [UInt8]) {
        self.sequence = sequence
        self.decoder = decoder
        self.partitions = partitions
        self.rollup = rollup
    }

    /// Why a checkpoint's state could not be restored.
    public struct RestoreError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The state, encoded (the sequence is the store's, in its header).
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.string(Self.header)
        w.raw(decoder)
        w.int(partitions.count)
        for p in partitions { w.raw(p) }
        w.raw(rollup)
        return w.bytes
    }

    /// Every step's state, new or restored.
    public struct State: Sendable {
        public var decoder: TelemetryDecoder
        public var partitions: [AssetAggregator]
        public var totals: TotalsAggregator
        public var alerts: AlertEngine

        /// The history archive the aggregators share.
        public var archive: HistoryArchive { totals.archive }

        /// New states for these settings, over `archive` (one in memory when nil).
        public init(_ s: PipelineSettings, archive: HistoryArchive? = nil) {
            let a = s.aggregation
            let archive = archive ?? .inMemory(maxPastUS: s.limits.maxPastUS)
            decoder = TelemetryDecoder(rules: s.rules, register: s.register, limits: s.limits)
            partitions = (0..<s.partitions).map { AssetAggregator(settings: a, horizonUS: a.horizonUS, archive: archive, writer: $0) }
            totals = TotalsAggregator(settings: a, factors: s.factors, hierarchy: s.hierarchy, horizonUS: a.horizonUS, archive: archive)
            alerts = AlertEngine(rules: s.alerts, hierarchy: s.hierarchy, maintenance: s.maintenance)
            alerts.zone = ZoneOffsets(zone: a.timeZone)
        }
    }

    /// Restores an encoded state (of this version or the four before) into the steps made from
    /// `settings`.
    public static func restore(_ state: [UInt8], settings: PipelineSettings, archive: HistoryArchive? = nil) throws(RestoreError) -> State {
        var restored = State(settings, archive: archive)
        let count = settings.partitions
        do {
            var first = BinaryReader(state)
            let version: Int
            switch try first.string() {
            case "cbm-ingest checkpoint 1": version = 1
            case "cbm-ingest checkpoint 2": version = 2
            case "cbm-ingest checkpoint 3": version = 3
            case "cbm-ingest checkpoint 4": version = 4
            case Self.header: version = BinaryReader.currentVersion
            default: throw RestoreError(description: "unknown checkpoint version")
            }
            var r = BinaryReader(state, version: version)
            _ = try r.string()
            var d = try r.part()
            try restored.decoder.restore(from: &d)
            for _ in 0..<(try r.count()) {
                let blob = try r.raw()
                for i in 0..<count {
                    var pr = BinaryReader(blob, version: version)
                    try restored.partitions[i].restore(from: &pr, belongs: { DecodeStep.partition(of: $0, count: count) == i })
                }
            }
            var t = try r.part()
            try restored.totals.restore(from: &t)
            if !t.isAtEnd { try restored.alerts.restore(from: &t) }
        } catch let e as RestoreError {
            throw e
        } catch {
            throw RestoreError(description: "the checkpoint cannot be read: \(error)")
        }
        return restored
    }

}
