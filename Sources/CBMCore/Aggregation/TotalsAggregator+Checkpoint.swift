// MARK: checkpoint

extension FluidTotals {
    func save(into w: inout BinaryWriter) {
        w.double(volume)
        w.int(coveredUS)
        w.int(flowUS)
        w.int(samples)
        w.bool(estimated)
    }
    static func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) -> FluidTotals {
        FluidTotals(volume: try r.double(), coveredUS: try r.amount(), flowUS: try r.amount(), samples: Int(try r.amount()),
                    estimated: try r.bool())
    }
}

extension TotalsAggregator {
    private static func save(_ table: [Int64: [String: Figures]], into w: inout BinaryWriter) {
        w.int(table.count)
        for start in table.keys.sorted() {
            w.int(start)
            let assets = table[start]!
            w.int(assets.count)
            for id in assets.keys.sorted() {
                w.string(id)
                assets[id]!.gas.save(into: &w)
                assets[id]!.water.save(into: &w)
            }
        }
    }

    private static func restoreTable(from r: inout BinaryReader) throws(BinaryReader.Malformed) -> [Int64: [String: Figures]] {
        var table: [Int64: [String: Figures]] = [:]
        for _ in 0..<(try r.count()) {
            let start = try r.time()
            var assets: [String: Figures] = [:]
            for _ in 0..<(try r.count()) {
                let id = try r.string()
                assets[id] = Figures(gas: try FluidTotals.restore(from: &r), water: try FluidTotals.restore(from: &r))
            }
            table[start] = assets
        }
        return table
    }

    /// The roll-up's state (closed hours and days kept for corrections, the next windows to close,
    /// revision numbers, pending corrections), for a checkpoint.
    public func save(into w: inout BinaryWriter) {
        Self.save(hours, into: &w)
        Self.save(days, into: &w)
        w.int(next.count)
        for kind in WindowKind.allCases {
            guard let span = next[kind] else { continue }
            w.string(kind.rawValue)
            w.int(span.start.microseconds)
            w.int(span.end.microseconds)
        }
        w.int(revisions.count)
        for (key, revision) in revisions.sorted(by: { $0.key < $1.key }) {
            w.string(key.window.rawValue)
            w.int(key.start.microseconds)
            w.string(key.scope.rawValue)
            w.string(key.id)
            w.int(revision)
        }
        w.int(dirty.count)
        for d in dirty.sorted(by: { ($0.start, $0.window.rawValue, $0.asset) < ($1.start, $1.window.rawValue, $1.asset) }) {
            w.string(d.window.rawValue)
            w.int(d.start)
            w.string(d.asset)
        }
        w.int(lastFlush)
        w.int(lastPrune)
        w.int(dataEnd)
        w.int(unregistered.count)
        for id in unregistered.sorted() { w.string(id) }
        // Version 3.
        w.int(incompleteBefore)
        // Version 4.
        w.int(evictedHoursBefore)
        w.int(evictedDaysBefore)
    }

    /// Restores the state a checkpoint saved.
    /// All or nothing: a state that fails to read leaves this one as it was.
    public mutating func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        var restored = self
        try restored.restoreInPlace(from: &r)
        self = restored
    }

    private mutating func restoreInPlace(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        hours = try Self.restoreTable(from: &r)
        days = try Self.restoreTable(from: &r)
        next = [:]
        for _ in 0..<(try r.count()) {
            guard let kind = WindowKind(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let start = try r.time(), end = try r.time()
            guard start < end else { throw BinaryReader.Malformed() }
            next[kind] = WindowSpan(start: Timestamp(microseconds: start), end: Timestamp(microseconds: end))
        }
        revisions = [:]
        for _ in 0..<(try r.count()) {
            guard let window = WindowKind(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let start = Timestamp(microseconds: try r.time())
            guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let id = try r.string()
            revisions[TotalsRecord.Key(window: window, start: start, scope: scope, id: id)] = Int(try r.amount())
        }
        dirty = []
        for _ in 0..<(try r.count()) {
            guard let window = WindowKind(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            dirty.insert(Dirty(window: window, start: try r.time(), asset: try r.string()))
        }
        lastFlush = try r.time(never: true)
        lastPrune = try r.time(never: true)
        dataEnd = try r.time(never: true)
        unregistered = []
        for _ in 0..<(try r.count()) { unregistered.insert(try r.string()) }
        incompleteBefore = r.version >= 3 ? try r.time(never: true) : .min
        if r.version >= 4 {
            evictedHoursBefore = try r.time(never: true)
            evictedDaysBefore = try r.time(never: true)
        }
        loadedDays = []
        monthSoFar = nil
        daySoFar = nil
        clean = []
    }
}
