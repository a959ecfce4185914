import Synchronization

/// An archive backend in memory.
public final class MemoryArchiveBackend: ArchiveBackend {
    struct Store {
        var blocks: [SeriesKey: [Int64: (bytes: [UInt8], sequence: UInt64)]] = [:]
        var rollups: [RollupKey: [UInt8]] = [:]
        var sequence: UInt64 = 0
    }
    private let store = Mutex(Store())

    public init() {}

    public func block(_ series: SeriesKey, hour: Int64) -> [UInt8]? { store.withLock { $0.blocks[series]?[hour]?.bytes } }

    public func blocks(_ series: SeriesKey, from: Int64, through: Int64) -> [(hour: Int64, bytes: [UInt8])] {
        store.withLock { s in
            (s.blocks[series] ?? [:]).filter { $0.key >= from && $0.key <= through }.sorted { $0.key < $1.key }.map { ($0.key, $0.value.bytes) }
        }
    }

    public func block(_ series: SeriesKey, before hour: Int64) -> (hour: Int64, bytes: [UInt8])? {
        store.withLock { s in
            guard let h = (s.blocks[series] ?? [:]).keys.filter({ $0 < hour }).max() else { return nil }
            return (h, s.blocks[series]![h]!.bytes)
        }
    }

    public func block(_ series: SeriesKey, after hour: Int64) -> (hour: Int64, bytes: [UInt8])? {
        store.withLock { s in
            guard let h = (s.blocks[series] ?? [:]).keys.filter({ $0 > hour }).min() else { return nil }
            return (h, s.blocks[series]![h]!.bytes)
        }
    }

    public func rollup(_ key: RollupKey) -> [UInt8]? { store.withLock { $0.rollups[key] } }

    public func span(_ series: SeriesKey) -> (first: Int64, last: Int64)? {
        store.withLock { s in
            guard let hours = s.blocks[series]?.keys, let first = hours.min(), let last = hours.max() else { return nil }
            return (first, last)
        }
    }

    public func commit(_ batch: ArchiveBatch) throws {
        store.withLock { s in
            let sequence = batch.sequence ?? s.sequence
            for (series, hours) in batch.blocks {
                for (h, b) in hours {
                    if b.isEmpty { s.blocks[series]?[h] = nil } else { s.blocks[series, default: [:]][h] = (b, sequence) }
                }
            }
            for (k, b) in batch.rollups { s.rollups[k] = b.isEmpty ? nil : b }
            if let cut = batch.blocksBefore {
                for series in s.blocks.keys { s.blocks[series] = s.blocks[series]!.filter { $0.key >= cut } }
            }
            if let cut = batch.rollupsBefore { s.rollups = s.rollups.filter { $0.key.start >= cut } }
            if let q = batch.sequence { s.sequence = q }
        }
    }

    public func committedSequence() -> UInt64 { store.withLock { $0.sequence } }

    public func reset() throws { store.withLock { $0 = Store() } }

    public func blocks(committedAfter sequence: UInt64) -> [(series: SeriesKey, hour: Int64)] {
        store.withLock { s in
            s.blocks.flatMap { series, hours in hours.filter { $0.value.sequence > sequence }.map { (series, $0.key) } }
        }
    }
}
