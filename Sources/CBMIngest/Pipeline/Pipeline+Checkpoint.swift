import CBMCore
import Foundation

extension Pipeline {
    /// The first field of a checkpoint: its format and version (``BinaryReader/currentVersion``).
    static let checkpointHeader = "cbm-ingest checkpoint 3"

    /// Why a checkpoint could not be restored.
    public struct RestoreError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The states of the stages, gathered as a checkpoint barrier passes them. Each partition
    /// fills its own slot, under the lock.
    final class CheckpointAssembly: @unchecked Sendable {
        let sequence: UInt64
        let decoder: [UInt8]
        private let lock = NSLock()
        private var parts: [[UInt8]]
        init(sequence: UInt64, decoder: [UInt8], partitions: Int) {
            self.sequence = sequence
            self.decoder = decoder
            parts = Array(repeating: [], count: partitions)
        }
        /// Stores a partition's state.
        func add(_ state: [UInt8], partition: Int) {
            lock.withLock { parts[partition] = state }
        }
        func encode(rollup: [UInt8]) -> [UInt8] {
            var w = BinaryWriter()
            w.string(Pipeline.checkpointHeader)
            w.raw(decoder)
            lock.withLock {
                w.int(parts.count)
                for p in parts { w.raw(p) }
            }
            w.raw(rollup)
            return w.bytes
        }
    }

    /// The stages' states: new, or restored from a checkpoint (of this version or the one before).
    /// Partition states are saved per asset, so a checkpoint restores into any partition count.
    static func states(_ configuration: Configuration, restoring state: [UInt8]?) throws
        -> (TelemetryDecoder, [AssetAggregator], TotalsAggregator, AlertEngine)
    {
        let a = configuration.aggregation
        let count = configuration.pipeline.partitions
        var decoderState = TelemetryDecoder(rules: configuration.rules, register: configuration.register, limits: configuration.limits)
        var partitionStates = (0..<count).map { _ in AssetAggregator(settings: a, horizonUS: a.horizonUS) }
        var totalsState = TotalsAggregator(settings: a, factors: configuration.factors, register: configuration.register, horizonUS: a.horizonUS)
        var alertState = AlertEngine(rules: configuration.alerts, register: configuration.register, maintenance: configuration.maintenance)
        guard let state else { return (decoderState, partitionStates, totalsState, alertState) }
        do {
            var header = BinaryReader(state)
            let version: Int
            switch try header.string() {
            case "cbm-ingest checkpoint 1": version = 1
            case "cbm-ingest checkpoint 2": version = 2
            case Pipeline.checkpointHeader: version = BinaryReader.currentVersion
            default: throw RestoreError(description: "unknown checkpoint version")
            }
            var r = BinaryReader(state, version: version)
            _ = try r.string()
            var d = try r.part()
            try decoderState.restore(from: &d)
            for _ in 0..<(try r.count()) {
                let blob = try r.raw()
                for i in 0..<count {
                    var pr = BinaryReader(blob, version: version)
                    try partitionStates[i].restore(from: &pr, belongs: { DecodeStep.partition(of: $0, count: count) == i })
                }
            }
            var t = try r.part()
            try totalsState.restore(from: &t)
            if !t.isAtEnd { try alertState.restore(from: &t) }
        } catch let e as RestoreError {
            throw e
        } catch {
            throw RestoreError(description: "the checkpoint cannot be read: \(error)")
        }
        return (decoderState, partitionStates, totalsState, alertState)
    }
}
