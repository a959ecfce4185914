import Foundation

extension AssetAggregator {
    /// The state of every asset, for a checkpoint. The states of several partitions can be saved
    /// one after another and restored into any number of partitions (``restore(from:partition:of:)``).
    public func save(into w: inout BinaryWriter) {
        w.int(watermark.microseconds)
        w.int(prunedThrough)
        w.int(table.count)
        for (id, a) in zip(ids, table) {
            w.string(id)
            w.int(a.nextHour)
            w.int(a.lastTime)
            a.gasTotal.save(into: &w)
            a.gasRate.save(into: &w)
            a.waterTotal.save(into: &w)
            a.waterRate.save(into: &w)
        }
        w.int(dirty.count)
        for d in dirty.sorted(by: { ($0.hourStart, $0.asset) < ($1.hourStart, $1.asset) }) {
            w.string(d.asset)
            w.int(d.hourStart)
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
        prunedThrough = max(prunedThrough, try r.time(never: true))
        let n = try r.count()
        for _ in 0..<n {
            let id = try r.string()
            var a = AssetSeries(nextHour: try r.time(), lastTime: try r.time())
            a.gasTotal = try SeriesHistory.restore(from: &r)
            a.gasRate = try SeriesHistory.restore(from: &r)
            a.waterTotal = try SeriesHistory.restore(from: &r)
            a.waterRate = try SeriesHistory.restore(from: &r)
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
