extension AssetAggregator {
    /// Merges the old readings gathered since the last flush into the archive: per series, its
    /// blocks over their span are read once, the readings placed between their true neighbours
    /// (a duplicate counts once), the changed blocks written back, the totalizer's changes noted,
    /// and every handed-on hour whose intervals changed marked for recomputation.
    mutating func mergeCold() {
        guard !cold.isEmpty else { return }
        let pending = cold
        cold.removeAll()
        // Per series, in time order; of two readings at one time the first to arrive is kept.
        let order = pending.indices.sorted {
            let x = pending[$0], y = pending[$1]
            return (x.asset, x.code, x.time, $0) < (y.asset, y.code, y.time, $1)
        }
        var start = 0
        while start < order.count {
            var end = start + 1
            let first = pending[order[start]]
            while end < order.count, pending[order[end]].asset == first.asset, pending[order[end]].code == first.code { end += 1 }
            merge(order[start..<end].map { pending[$0] }, asset: first.asset, code: first.code)
            start = end
        }
    }

    private mutating func merge(_ readings: [ColdReading], asset a: Int, code: UInt8) {
        let id = ids[a]
        let key = SeriesKey(asset: id, code: code)
        let lo = ReadingBlock.hour(of: readings.first!.time), hi = ReadingBlock.hour(of: readings.last!.time)
        var h = history(a, code, from: lo, to: hi + 3_600_000_000)
        var added: [Int64] = []
        var changed = Set<Int64>()
        for r in readings where h.insert(time: r.time, value: r.value) != nil {
            added.append(r.time)
            changed.insert(ReadingBlock.hour(of: r.time))
        }
        guard !added.isEmpty else { return }
        table[a].seen |= 1 << code
        for hour in changed {
            var block = ReadingBlock()
            var i = h.lowerBound(hour)
            while i < h.count && h.time(i) < hour + 3_600_000_000 {
                block.times.append(h.time(i))
                block.values.append(h.value(i))
                i += 1
            }
            archive.put(key, hour: hour, block, writer: writer)
        }
        // The first hot interval starts at the last reading before the floor: keep it true.
        let latest = added.last!
        let hot = table[a][code]
        let before = hot.lowerBound(floor)
        if before == 0 || hot.time(before - 1) < latest {
            _ = table[a][code].insert(time: latest, value: h.value(h.lowerBound(latest)))
        }
        var noted = Set<Int>()
        let emitted = table[a].nextHour
        for t in added {
            let i = h.lowerBound(t)
            if t > table[a].lastTime { table[a].lastTime = t }
            if code & 1 == 0 {
                for (x, y) in [(i - 1, i), (i, i + 1)] where x >= 0 && y < h.count && noted.insert(x).inserted {
                    Self.note(h, from: x, to: y, asset: id, events: &coldEvents)
                }
            }
            let from = i > 0 ? h.time(i - 1) : t
            let to = i + 1 < h.count ? h.time(i + 1) : t
            markDirty(asset: id, from: from, to: min(to, emitted - 1))
        }
        // Hours after those handed on that the readings reach close at the next watermark.
        if table[a].lastTime >= emitted {
            earliestClose = min(earliestClose, emitted + 3_600_000_000 + settings.allowedLatenessUS)
        }
    }

    /// One series' readings over `[from, to)` with the last one before and the first one at or
    /// after: from the archive, and from memory (the hot span, with the interval that crosses
    /// the floor).
    func history(_ a: Int, _ code: UInt8, from: Int64, to: Int64) -> SeriesHistory {
        let hot = table[a][code]
        var h = SeriesHistory()
        h.take(hot.counterNumber)
        guard table[a].seen & (1 << code) != 0 else { return h }
        let key = SeriesKey(asset: ids[a], code: code)
        let first = ReadingBlock.hour(of: from), last = ReadingBlock.hour(of: to - 1)
        if let before = archive.neighbour(key, of: first, before: true) {
            _ = h.insert(time: before.block.times.last!, value: before.block.values.last!)
        }
        for (_, block) in archive.blocks(key, from: first, through: last) {
            for (t, v) in zip(block.times, block.values) { _ = h.insert(time: t, value: v) }
        }
        if let after = archive.neighbour(key, of: last, before: false) {
            _ = h.insert(time: after.block.times[0], value: after.block.values[0])
        }
        for k in 0..<hot.count {
            _ = h.insert(time: hot.time(k), value: hot.value(k))
            if hot.time(k) >= to { break }
        }
        return h
    }

    /// Hands on the figures of every marked hour: from memory for hours in the hot span, from
    /// the archive (each asset's span read once) for older ones.
    mutating func emitDirty(into out: inout [AssetHour]) {
        let marked = dirty.sorted(by: { ($0.hourStart, $0.asset) < ($1.hourStart, $1.asset) })
        dirty.removeAll()
        var old: [DirtyHour: AssetHour] = [:]
        for (asset, hours) in Dictionary(grouping: marked.filter { $0.hourStart < floor }, by: \.asset) {
            let a = index[asset]!
            let lo = hours.map(\.hourStart).min()!, hi = hours.map(\.hourStart).max()! + 3_600_000_000
            var series = table[a]
            for code in UInt8(0)..<4 { series[code] = history(a, code, from: lo, to: hi) }
            for d in hours {
                old[d] = Self.figures(asset, calendar.hour(containing: Timestamp(microseconds: d.hourStart)), series, settings)
            }
        }
        for d in marked {
            out.append(old[d] ?? figures(d.asset, calendar.hour(containing: Timestamp(microseconds: d.hourStart))))
        }
    }

    /// Moves each series' readings before `cutoff` (a storage hour's start) to the archive,
    /// keeping in memory the last one before it (where the first hot interval starts).
    mutating func migrate(before cutoff: Int64) {
        var moved: [(series: SeriesKey, hour: Int64, bytes: [UInt8])] = []
        for a in table.indices {
            for code in UInt8(0)..<4 where table[a].seen & (1 << code) != 0 {
                let i = table[a].withSeries(code) { $0.lowerBound(cutoff) }
                guard i > 0 else { continue }
                let key = SeriesKey(asset: ids[a], code: code)
                if floor == .min {
                    migrateFirst(a, code, key, before: i)
                } else {
                    // Hours at or after the floor are new to the archive: each block is encoded
                    // straight from the readings in memory.
                    table[a].withSeries(code) { h in
                        var k = h.lowerBound(floor)
                        while k < i {
                            let hour = ReadingBlock.hour(of: h.time(k))
                            var end = k + 1
                            while end < i && h.time(end) < hour + 3_600_000_000 { end += 1 }
                            moved.append((key, hour, h.encodedBlock(k..<end, hour: hour)))
                            k = end
                        }
                    }
                }
                table[a].withSeries(code) { $0.prune(before: cutoff) }
            }
        }
        archive.put(moved, writer: writer)
        floor = cutoff
    }

    /// The first move: a state restored beside an archive may have written these hours already,
    /// so each block is merged with the archive's.
    private mutating func migrateFirst(_ a: Int, _ code: UInt8, _ key: SeriesKey, before i: Int) {
        let h = table[a][code]
        var k = 0
        while k < i {
            let hour = ReadingBlock.hour(of: h.time(k))
            var block = archive.block(key, hour: hour) ?? ReadingBlock()
            var merged = SeriesHistory()
            for (t, v) in zip(block.times, block.values) { _ = merged.insert(time: t, value: v) }
            while k < i && h.time(k) < hour + 3_600_000_000 {
                _ = merged.insert(time: h.time(k), value: h.value(k))
                k += 1
            }
            block.times = merged.times
            block.values = merged.values
            archive.put(key, hour: hour, block, writer: writer)
        }
    }

    /// Marks the hours of archive blocks for recomputation (after a recovery whose archive is
    /// ahead of the checkpoint: what it holds beyond the checkpoint is not news to it).
    public mutating func recompute(_ blocks: [(series: SeriesKey, hour: Int64)]) {
        for b in blocks {
            guard let a = index[b.series.asset] else { continue }
            table[a].seen |= 1 << b.series.code
            markDirty(asset: b.series.asset, from: b.hour, to: min(b.hour + 3_599_999_999, table[a].nextHour - 1))
        }
    }

    /// Merges the old readings waiting and hands on every hour they or late data changed, now
    /// (at a stop), without closing more.
    public mutating func flushCorrections(into out: inout [AssetHour]) {
        mergeCold()
        // Hours the watermark has passed that the merged readings are the first data of (an
        // asset's later hours, received old) are handed on now too, not at the next start.
        if watermark.microseconds > Int64.min / 2 { closePassedHours(into: &out) }
        emitChangedHours(into: &out)
    }

    /// Hands on the closed hours that late data changed and that wait for the next point where the
    /// roll-up writes (a snapshot of the open windows takes them first).
    public mutating func emitChangedHours(into out: inout [AssetHour]) {
        if !dirty.isEmpty { emitDirty(into: &out) }
    }

    /// Readings before this time are in the archive (`Int64.min`: none yet).
    public var archiveFloor: Int64 { floor }

    /// The events noted while merging old readings, since the last call.
    public mutating func takeEvents() -> [EventRecord] {
        defer { coldEvents.removeAll() }
        return coldEvents
    }
}
