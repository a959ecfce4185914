import Foundation

extension AssetAggregator {
    /// The state of every asset, for a checkpoint. The states of several partitions can be saved
    /// one after another and restored into any number of partitions (``restore(from:partition:of:)``).
    public func save(into w: inout BinaryWriter) {
        w.int(watermark.microseconds)
        w.int(floor)
        w.int(table.count)
        for (id, a) in zip(ids, table) {
            w.string(id)
            w.int(a.nextHour)
            w.int(a.lastTime)
            a.gasTotal.save(into: &w)
            a.gasRate.save(into: &w)
            a.waterTotal.save(into: &w)
            a.waterRate.save(into: &w)
            w.int(Int(a.seen))
        }
        w.int(dirty.count)
        for d in dirty.sorted(by: { ($0.hourStart, $0.asset) < ($1.hourStart, $1.asset) }) {
            w.string(d.asset)
            w.int(d.hourStart)
        }
        // Version 4: old readings not yet merged into the archive.
        w.int(cold.count)
        for c in cold {
            w.string(ids[c.asset])
            w.bool(c.code & 1 == 1)
            w.bool(c.code & 2 == 2)
            w.int(c.time)
            w.double(c.value)
        }
    }

    /// Restores, from one saved partition state, the assets that belong to `partition` of `count`
    /// (as `belongs` decides).
    /// All or nothing: a state that fails to read leaves this one as it was.
    public mutating func restore(from r: inout BinaryReader, belongs: (String) -> Bool) throws(BinaryReader.Malformed) {
        var restored = self
        try restored.restoreInPlace(from: &r, belongs: belongs)
        self = restored
    }

    private mutating func restoreInPlace(from r: inout BinaryReader, belongs: (String) -> Bool) throws(BinaryReader.Malformed) {
        let w = Timestamp(microseconds: try r.time(never: true))
        if w > watermark { watermark = w }
        // Version 4: the archive's floor (before it, how far the hot span had been pruned, which
        // the first advance now moves to the archive).
        let f = try r.time(never: true)
        if r.version >= 4 { floor = max(floor, f) }
        let n = try r.count()
        for _ in 0..<n {
            let id = try r.string()
            var a = AssetSeries(nextHour: try r.time(), lastTime: try r.time())
            a.gasTotal = try SeriesHistory.restore(from: &r)
            a.gasRate = try SeriesHistory.restore(from: &r)
            a.waterTotal = try SeriesHistory.restore(from: &r)
            a.waterRate = try SeriesHistory.restore(from: &r)
            a.seen = r.version >= 4 ? UInt8(truncatingIfNeeded: try r.amount()) & 0x0F : 0x0F
            guard belongs(id) else { continue }
            guard index[id] == nil else { throw BinaryReader.Malformed() }
            index[id] = table.count
            ids.append(id)
            table.append(a)
        }
        let d = try r.count()
        for _ in 0..<d {
            let asset = try r.string()
            let hour = try r.time()
            guard belongs(asset) else { continue }
            // A correction pending for a series the state does not hold: not a state this wrote.
            guard index[asset] != nil else { throw BinaryReader.Malformed() }
            dirty.insert(DirtyHour(asset: asset, hourStart: hour))
        }
        if r.version >= 4 {
            for _ in 0..<(try r.count()) {
                let asset = try r.string()
                let code = UInt8(try r.bool() ? 1 : 0) | UInt8(try r.bool() ? 2 : 0)
                let time = try r.time(), value = try r.double()
                guard belongs(asset) else { continue }
                guard let a = index[asset] else { throw BinaryReader.Malformed() }
                cold.append(ColdReading(asset: a, code: code, time: time, value: value))
            }
        }
        earliestClose = .min
    }

    /// The longest stretch of hours some asset has not handed on yet, up to its last reading or
    /// the watermark `w` (what ``advance(to:into:)`` to `w` walks through, at most).
    public func pendingSpanUS(through w: Timestamp) -> Int64 {
        var longest: Int64 = 0
        let through = max(watermark, w).microseconds
        for a in table {
            let (span, overflow) = min(a.lastTime, through).subtractingReportingOverflow(a.nextHour)
            longest = max(longest, overflow ? .max : span)
        }
        return longest
    }
}
