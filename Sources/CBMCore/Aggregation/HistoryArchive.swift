import Synchronization

/// One series: an asset's volume measurement (gas or water, totalizer or rate).
public struct SeriesKey: Hashable, Sendable {
    public var asset: String
    /// ``AssetAggregator/seriesCode(_:)``: 0 gas total, 1 gas rate, 2 water total, 3 water rate.
    public var code: UInt8

    public init(asset: String, code: UInt8) {
        self.asset = asset
        self.code = code
    }
}

/// What the roll-up keeps in the archive: the figures of every asset for a closed hour or gas
/// day, and the revision numbers written for a window.
public struct RollupKey: Hashable, Sendable {
    public enum Table: UInt8, Sendable { case hours = 0, days = 1, revisions = 2 }
    public var table: Table
    /// For revisions: the window kind's index in ``WindowKind/allCases``; 0 otherwise.
    public var window: UInt8
    public var start: Int64

    public init(table: Table, window: UInt8 = 0, start: Int64) {
        self.table = table
        self.window = window
        self.start = start
    }
}

/// The durable half of the archive: what has been committed. Implemented by SQLite
/// (`CBMStorage.SQLiteArchive`) and, for tests and runs that need nothing on disk, by
/// ``MemoryArchiveBackend``. Reads may come from several threads at once.
public protocol ArchiveBackend: Sendable {
    /// The committed block of a series' storage hour.
    func block(_ series: SeriesKey, hour: Int64) -> [UInt8]?
    /// The committed blocks of a series with hours in `from...through`, ascending.
    func blocks(_ series: SeriesKey, from: Int64, through: Int64) -> [(hour: Int64, bytes: [UInt8])]
    /// The latest committed block of a series before `hour`.
    func block(_ series: SeriesKey, before hour: Int64) -> (hour: Int64, bytes: [UInt8])?
    /// The earliest committed block of a series after `hour`.
    func block(_ series: SeriesKey, after hour: Int64) -> (hour: Int64, bytes: [UInt8])?
    /// A committed roll-up row.
    func rollup(_ key: RollupKey) -> [UInt8]?
    /// Writes a batch in one transaction (all of it or nothing), with the journal sequence the
    /// state it belongs to reflects, and drops what is older than the cut-offs.
    func commit(_ batch: ArchiveBatch) throws
    /// The sequence of the last commit (0: none).
    func committedSequence() -> UInt64
    /// The blocks committed with a sequence above `sequence` (after a recovery that had to go
    /// back to an older checkpoint).
    func blocks(committedAfter sequence: UInt64) -> [(series: SeriesKey, hour: Int64)]
    /// Deletes everything (a recovery that rebuilds the state from the journal's beginning).
    func reset() throws
    /// The first and last hours of a series' committed blocks; nil when it has none (when that
    /// cannot be told, `Int64.min...Int64.max`).
    func span(_ series: SeriesKey) -> (first: Int64, last: Int64)?
}

/// One commit: blocks and roll-up rows to write (an empty value deletes), the sequence, and the
/// cut-offs before which blocks and roll-up rows are dropped.
public struct ArchiveBatch: Sendable {
    public var blocks: [SeriesKey: [Int64: [UInt8]]] = [:]
    public var rollups: [RollupKey: [UInt8]] = [:]
    public var sequence: UInt64?
    public var blocksBefore: Int64?
    public var rollupsBefore: Int64?

    public var isEmpty: Bool { blocks.isEmpty && rollups.isEmpty }
    var entries = 0

    mutating func merge(_ o: ArchiveBatch) {
        for (s, hours) in o.blocks { blocks[s, default: [:]].merge(hours) { _, new in new } }
        rollups.merge(o.rollups) { _, new in new }
        entries += o.entries
    }
}

/// The history archive (DESIGN §3.6): the readings of each series older than the in-memory span,
/// in blocks of one storage hour, and the roll-up's hourly and daily figures and revision numbers
/// older than its own, so that a reading of any age up to `limits.max_past` is placed between its
/// true neighbours, a duplicate of it is still recognised, and every window it changes is
/// recomputed exactly.
///
/// Writes go to an overlay in memory and reach the backend only in commits that match the
/// checkpoints: each writer (a partition, the roll-up) ``seal(writer:sequence:)``s what it wrote
/// before a checkpoint barrier as it passes it, and once the checkpoint is on disk
/// ``commit(through:)`` writes everything sealed up to it in one transaction, with its
/// sequence. So the archive on disk always matches a checkpoint: the current one, or (after a
/// crash between the checkpoint file and the commit) the one before it, which recovery then
/// uses. Reads see the overlay first. Without checkpoints (a replay), what is written is
/// committed whenever the overlay holds `autocommit` entries.
public final class HistoryArchive: Sendable {
    public let backend: any ArchiveBackend
    /// How long readings are accepted after their time (`limits.max_past`): blocks are kept a day
    /// longer, roll-up rows a month and a day longer (a month's figures are its days').
    public let maxPastUS: Int64
    private let autocommit: Int?
    private let state = Mutex(Overlay())
    private let committing = Mutex(())
    private let spans = Mutex(Spans())
    /// The writer number of the roll-up (partitions are 0, 1, …).
    public static let rollupWriter = -1

    struct Overlay {
        var open: [Int: ArchiveBatch] = [:]
        var sealed: [ArchiveBatch] = []
        var watermark = Int64.min
    }

    /// Per series, hours that hold every block the backend may have of it (first > last: none),
    /// so that a read outside them, a series not yet committed above all (a backfill, a replay),
    /// does not ask the backend. Learnt from the backend on a series' first read, widened by every
    /// commit before the overlay lets go of what it wrote (never narrowed: a superset is enough).
    struct Spans {
        var known: [SeriesKey: (first: Int64, last: Int64)] = [:]
        /// Commits so far: a span learnt across one is asked again.
        var commits = 0
    }

    public init(backend: any ArchiveBackend, maxPastUS: Int64, autocommit: Int? = nil) {
        self.backend = backend
        self.maxPastUS = maxPastUS
        self.autocommit = autocommit
    }

    /// An archive in memory (tests, and runs that keep nothing), committed as it goes.
    public static func inMemory(maxPastUS: Int64 = 7 * 86_400_000_000) -> HistoryArchive {
        HistoryArchive(backend: MemoryArchiveBackend(), maxPastUS: maxPastUS, autocommit: 50_000)
    }

    /// The oldest hour start whose windows are recomputed (older ones have lost readings to
    /// pruning): `max_past` before the watermark, and a day more.
    public func recomputableFrom(watermark: Int64) -> Int64 {
        watermark == .min ? .min : watermark - maxPastUS - 86_400_000_000
    }

    // MARK: reads

    public func block(_ series: SeriesKey, hour: Int64) -> ReadingBlock? {
        let cached: [UInt8]?? = state.withLock { o in
            for g in o.open.values { if let b = g.blocks[series]?[hour] { return .some(b) } }
            for g in o.sealed.reversed() { if let b = g.blocks[series]?[hour] { return .some(b) } }
            return .none
        }
        let span = committedSpan(series)
        let bytes = cached ?? (hour >= span.first && hour <= span.last ? backend.block(series, hour: hour) : nil)
        guard let bytes, !bytes.isEmpty else { return nil }
        return ReadingBlock.decode(bytes, hour: hour)
    }

    /// The blocks of a series with hours in `from...through`, ascending.
    public func blocks(_ series: SeriesKey, from: Int64, through: Int64) -> [(hour: Int64, block: ReadingBlock)] {
        // The overlay first: what it lets go of by the time the backend is read is committed.
        var overlay: [Int64: [UInt8]] = [:]
        state.withLock { o in
            for g in o.sealed { for (h, b) in g.blocks[series] ?? [:] where h >= from && h <= through { overlay[h] = b } }
            for g in o.open.values { for (h, b) in g.blocks[series] ?? [:] where h >= from && h <= through { overlay[h] = b } }
        }
        var found: [Int64: [UInt8]] = [:]
        let span = committedSpan(series)
        if max(from, span.first) <= min(through, span.last) {
            for (h, b) in backend.blocks(series, from: max(from, span.first), through: min(through, span.last)) { found[h] = b }
        }
        found.merge(overlay) { _, newer in newer }
        return found.keys.sorted().compactMap { h in
            guard let bytes = found[h], !bytes.isEmpty, let b = ReadingBlock.decode(bytes, hour: h) else { return nil }
            return (h, b)
        }
    }

    /// The nearest non-empty block of a series before (`before: true`) or after `hour`.
    public func neighbour(_ series: SeriesKey, of hour: Int64, before: Bool) -> (hour: Int64, block: ReadingBlock)? {
        // The overlay's nearest, then the backend's; the overlay wins where both have an hour (an
        // empty overlay entry is a deletion: look further).
        var overlay: [Int64: [UInt8]] = [:]
        state.withLock { o in
            for g in o.sealed { for (h, b) in g.blocks[series] ?? [:] where before ? h < hour : h > hour { overlay[h] = b } }
            for g in o.open.values { for (h, b) in g.blocks[series] ?? [:] where before ? h < hour : h > hour { overlay[h] = b } }
        }
        let span = committedSpan(series)
        var from = hour
        while true {
            let stored = before ? (span.first < from ? backend.block(series, before: from) : nil)
                                : (span.last > from ? backend.block(series, after: from) : nil)
            let candidates = overlay.filter { before ? $0.key < from : $0.key > from }
            let nearestOverlay = before ? candidates.keys.max() : candidates.keys.min()
            let pick: (Int64, [UInt8])?
            switch (stored, nearestOverlay) {
            case (nil, nil): return nil
            case (let s?, nil): pick = overlay[s.hour] != nil ? (s.hour, overlay[s.hour]!) : (s.hour, s.bytes)
            case (nil, let h?): pick = (h, overlay[h]!)
            case (let s?, let h?):
                let h2 = before ? max(s.hour, h) : min(s.hour, h)
                pick = (h2, overlay[h2] ?? s.bytes)
            }
            guard let (h, bytes) = pick else { return nil }
            if !bytes.isEmpty, let b = ReadingBlock.decode(bytes, hour: h), !b.isEmpty { return (h, b) }
            from = h
        }
    }

    /// Hours that hold every committed block of a series (``Spans``).
    private func committedSpan(_ series: SeriesKey) -> (first: Int64, last: Int64) {
        while true {
            let (known, commits) = spans.withLock { ($0.known[series], $0.commits) }
            if let known { return known }
            let learnt = backend.span(series) ?? (.max, .min)
            let kept = spans.withLock { s -> Bool in
                guard s.commits == commits else { return false }
                s.known[series] = learnt
                return true
            }
            if kept { return learnt }
        }
    }

    public func rollup(_ key: RollupKey) -> [UInt8]? {
        let cached: [UInt8]?? = state.withLock { o in
            for g in o.open.values { if let b = g.rollups[key] { return .some(b) } }
            for g in o.sealed.reversed() { if let b = g.rollups[key] { return .some(b) } }
            return .none
        }
        let bytes = cached ?? backend.rollup(key)
        guard let bytes, !bytes.isEmpty else { return nil }
        return bytes
    }

    // MARK: writes

    public func put(_ series: SeriesKey, hour: Int64, _ block: ReadingBlock, writer: Int) {
        let bytes = block.isEmpty ? [] : block.encoded(hour: hour)
        let full = state.withLock { o -> Bool in
            o.open[writer, default: ArchiveBatch()].blocks[series, default: [:]][hour] = bytes
            o.open[writer]!.entries += 1
            return autocommit.map { limit in o.open.values.reduce(0) { $0 + $1.entries } >= limit } ?? false
        }
        if full { commitAll() }
    }

    /// Writes encoded blocks (``ReadingBlock/encoded(hour:)``) at once: one turn of the lock for
    /// a whole migration, not one a block.
    public func put(_ blocks: [(series: SeriesKey, hour: Int64, bytes: [UInt8])], writer: Int) {
        guard !blocks.isEmpty else { return }
        let full = state.withLock { o -> Bool in
            var batch = o.open.removeValue(forKey: writer) ?? ArchiveBatch()
            for b in blocks { batch.blocks[b.series, default: [:]][b.hour] = b.bytes }
            batch.entries += blocks.count
            o.open[writer] = batch
            return autocommit.map { limit in o.open.values.reduce(0) { $0 + $1.entries } >= limit } ?? false
        }
        if full { commitAll() }
    }

    public func put(_ key: RollupKey, _ bytes: [UInt8], writer: Int) {
        let full = state.withLock { o -> Bool in
            o.open[writer, default: ArchiveBatch()].rollups[key] = bytes
            o.open[writer]!.entries += 1
            return autocommit.map { limit in o.open.values.reduce(0) { $0 + $1.entries } >= limit } ?? false
        }
        if full { commitAll() }
    }

    /// Hears how far a writer's watermark has come (for pruning).
    public func note(watermark: Int64) {
        // (The end of a replay advances to the end of time: not a watermark to prune by.)
        guard watermark < Int64.max / 4 else { return }
        state.withLock { o in if watermark > o.watermark { o.watermark = watermark } }
    }

    /// Seals what `writer` wrote before the checkpoint barrier it is passing.
    public func seal(writer: Int, sequence: UInt64) {
        state.withLock { o in
            var g = o.open.removeValue(forKey: writer) ?? ArchiveBatch()
            g.sequence = sequence
            o.sealed.append(g)
        }
    }

    /// Writes what was sealed at barriers up to `sequence` in one transaction, marked with it.
    public func commit(through sequence: UInt64) throws {
        try commitSealed(through: sequence)
    }

    /// Commits everything written so far (a replay, or the end of a run). An error leaves it in
    /// the overlay, where reads still find it, for the next commit.
    public func commitAll() {
        state.withLock { o in
            for w in o.open.keys.sorted() { o.sealed.append(o.open.removeValue(forKey: w)!) }
        }
        try? commitSealed(through: nil)
    }

    /// Writes the sealed batches up to `sequence` (all of them when nil) in one transaction, then
    /// drops them from the overlay.
    private func commitSealed(through sequence: UInt64?) throws {
        try committing.withLock { _ in
            let (batch, count) = state.withLock { o -> (ArchiveBatch, Int) in
                var batch = ArchiveBatch()
                var n = 0
                for g in o.sealed {
                    if let sequence, (g.sequence ?? .max) > sequence { break }
                    batch.merge(g)
                    n += 1
                }
                batch.sequence = sequence
                if o.watermark > Int64.min / 2 {
                    batch.blocksBefore = o.watermark - maxPastUS - 2 * 86_400_000_000
                    batch.rollupsBefore = o.watermark - maxPastUS - 34 * 86_400_000_000
                }
                return (batch, n)
            }
            try backend.commit(batch)
            spans.withLock { s in
                s.commits += 1
                for (series, hours) in batch.blocks {
                    guard var span = s.known[series] else { continue }
                    for (h, bytes) in hours where !bytes.isEmpty {
                        span.first = min(span.first, h)
                        span.last = max(span.last, h)
                    }
                    s.known[series] = span
                }
            }
            state.withLock { o in o.sealed.removeFirst(min(count, o.sealed.count)) }
        }
    }

    /// Entries written and not yet committed (for tests and status).
    public var pendingEntries: Int {
        state.withLock { o in o.open.values.reduce(0) { $0 + $1.entries } + o.sealed.reduce(0) { $0 + $1.entries } }
    }
}

