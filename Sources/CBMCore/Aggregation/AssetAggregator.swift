/// The per-asset half of aggregation, run in each partition: keeps the volume series of its
/// assets (totalizers and rates of gas and water) and turns them into ``AssetHour`` figures when
/// an hour closes, and again when late data changes an hour already closed.
///
/// A pure value: readings and watermark advances in, figures out. Figures are computed from the
/// time-ordered history of each series, never accumulated in arrival order, so the same set of
/// readings gives the same figures whatever the batches, partitions or order within the horizon.
public struct AssetAggregator: Sendable {
    public let settings: AggregationSettings
    /// How far back readings are kept for corrections, in microseconds.
    public let horizonUS: Int64
    private var calendar: WindowCalendar
    private var index: [String: Int] = [:]
    private var lastAsset = ""
    private var lastIndex = 0
    private var ids: [String] = []
    private var table: [AssetSeries] = []
    private var dirty = Set<DirtyHour>()
    private var watermark = Timestamp(microseconds: .min)
    private var prunedThrough = Int64.min
    /// The earliest watermark at which some asset's next hour closes: below it, `advance` has
    /// nothing to do.
    private var earliestClose = Int64.min

    private struct DirtyHour: Hashable {
        var asset: String
        var hourStart: Int64
    }

    /// The volume series of one asset, and how far its hours have been handed on.
    private struct AssetSeries {
        var gasTotal = SeriesHistory()
        var gasRate = SeriesHistory()
        var waterTotal = SeriesHistory()
        var waterRate = SeriesHistory()
        /// Start of the first hour not yet handed on.
        var nextHour: Int64
        /// The latest reading time.
        var lastTime: Int64
    }

    public init(settings: AggregationSettings, horizonUS: Int64) {
        self.settings = settings
        self.horizonUS = max(horizonUS, settings.allowedLatenessUS + 3_600_000_000)
        calendar = WindowCalendar(zone: settings.timeZone, dayStartMinutes: settings.dayStartMinutes)
    }

    /// Takes readings; appends totalizer rollovers and resets to `events`. Readings that are not
    /// volumes (pressures, temperatures) are not aggregated. Duplicates count once.
    public mutating func add(_ readings: [Reading], events: inout [EventRecord]) {
        for r in readings { add(r, events: &events) }
    }

    /// Takes one reading.
    public mutating func add(_ r: Reading, events: inout [EventRecord]) {
        let t = r.time.microseconds
        guard r.measurement == .gasTotal || r.measurement == .gasRate
            || r.measurement == .waterTotal || r.measurement == .waterRate else { return }
        let a: Int
        if r.asset == lastAsset {
            a = lastIndex  // the values of one message share their asset
        } else if let i = index[r.asset] {
            a = i
            lastAsset = r.asset
            lastIndex = i
        } else {
            a = table.count
            index[r.asset] = a
            ids.append(r.asset)
            table.append(AssetSeries(nextHour: calendar.hour(containing: r.time).start.microseconds, lastTime: t))
        }
        if t < table[a].nextHour {
            // Earlier than the first reading so far, in an hour still open: start there.
            let hour = calendar.hour(containing: r.time)
            if hour.end.microseconds + settings.allowedLatenessUS > watermark.microseconds {
                table[a].nextHour = hour.start.microseconds
            }
        }
        let inserted: (index: Int, from: Int64, to: Int64)?
        switch r.measurement {
        case .gasTotal: inserted = Self.insert(r, into: &table[a].gasTotal, events: &events)
        case .gasRate: inserted = Self.insert(r, into: &table[a].gasRate, events: &events)
        case .waterTotal: inserted = Self.insert(r, into: &table[a].waterTotal, events: &events)
        default: inserted = Self.insert(r, into: &table[a].waterRate, events: &events)
        }
        guard let inserted else { return }  // a duplicate
        let emitted = table[a].nextHour
        if inserted.from < emitted { markDirty(asset: r.asset, from: inserted.from, to: min(inserted.to, emitted - 1)) }
        if t > table[a].lastTime { table[a].lastTime = t }
        // Hours are an hour long in every zone: the next one closes an hour after it starts.
        let close = table[a].nextHour + 3_600_000_000 + settings.allowedLatenessUS
        if close < earliestClose { earliestClose = close }
    }

    /// Inserts a reading into its series; returns the span its neighbours bound (the intervals it
    /// changes), or nil for a duplicate.
    private static func insert(_ r: Reading, into history: inout SeriesHistory, events: inout [EventRecord])
        -> (index: Int, from: Int64, to: Int64)?
    {
        let t = r.time.microseconds
        if r.measurement.isTotalizer, let rollover = r.rollover { history.rollover = rollover }
        guard let i = history.insert(time: t, value: r.value) else { return nil }
        if r.measurement.isTotalizer { checkDecrease(history, at: i, asset: r.asset, events: &events) }
        return (i, i > 0 ? history.time(i - 1) : t, i + 1 < history.count ? history.time(i + 1) : t)
    }

    private static func checkDecrease(_ h: SeriesHistory, at i: Int, asset: String, events: inout [EventRecord]) {
        for (a, b) in [(i - 1, i), (i, i + 1)] where a >= 0 && b < h.count {
            let v1 = h.value(a), v2 = h.value(b)
            guard v2 < v1 else { continue }
            let t = Timestamp(microseconds: h.time(b))
            if let rollover = h.rollover, v1 >= rollover / 2 {
                events.append(EventRecord(time: t, kind: .totalizerRollover, id: asset,
                    detail: "totalizer went from \(v1) to \(v2) m3 and rolled over at \(rollover): \(v2 - v1 + rollover) m3 counted"))
            } else {
                events.append(EventRecord(time: t, kind: .totalizerReset, id: asset,
                    detail: "totalizer went from \(v1) to \(v2) m3"
                        + (h.rollover == nil ? " with no rollover value" : ", far below its rollover value \(h.rollover!)")
                        + ": taken as a reset, \(v2) m3 counted from zero"))
            }
        }
    }

    /// Marks the handed-on hours that overlap `[from, to]` for recomputation.
    private mutating func markDirty(asset: String, from: Int64, to: Int64) {
        let oldest = watermark.microseconds == .min ? Int64.min : watermark.microseconds - horizonUS
        var span = calendar.hour(containing: Timestamp(microseconds: max(from, oldest)))
        while span.start.microseconds <= to {
            dirty.insert(DirtyHour(asset: asset, hourStart: span.start.microseconds))
            span = calendar.next(.hour, after: span)
        }
    }

    /// Advances the watermark: hands on every hour that closes (its end plus the allowed lateness
    /// is at or before the watermark) and every closed hour that late data changed.
    public mutating func advance(to w: Timestamp, into out: inout [AssetHour]) {
        if w > watermark { watermark = w }
        guard watermark.microseconds > Int64.min / 2 else { return }
        if dirty.isEmpty && watermark.microseconds < earliestClose { return }
        let lateness = settings.allowedLatenessUS
        earliestClose = .max
        for a in table.indices {
            var next = calendar.hour(containing: Timestamp(microseconds: table[a].nextHour))
            let last = table[a].lastTime
            while next.end.microseconds + lateness <= watermark.microseconds && next.start.microseconds <= last {
                out.append(Self.figures(ids[a], next, table[a], settings))
                next = calendar.next(.hour, after: next)
            }
            table[a].nextHour = next.start.microseconds
            if next.start.microseconds <= last { earliestClose = min(earliestClose, next.end.microseconds + lateness) }
        }
        if !dirty.isEmpty {
            for d in dirty.sorted(by: { ($0.hourStart, $0.asset) < ($1.hourStart, $1.asset) }) {
                out.append(figures(d.asset, calendar.hour(containing: Timestamp(microseconds: d.hourStart))))
            }
            dirty.removeAll()
        }
        // Forget what is older than the horizon, once an hour.
        let cutoff = watermark.microseconds - horizonUS
        if prunedThrough == .min || cutoff - prunedThrough >= 3_600_000_000 {
            for a in table.indices {
                table[a].gasTotal.prune(before: cutoff)
                table[a].gasRate.prune(before: cutoff)
                table[a].waterTotal.prune(before: cutoff)
                table[a].waterRate.prune(before: cutoff)
            }
            prunedThrough = cutoff
        }
    }

    /// Hands on every hour that has data, however recent (end of a replay).
    public mutating func finish(into out: inout [AssetHour]) {
        advance(to: Timestamp(microseconds: Int64.max - settings.allowedLatenessUS - 7_200_000_000), into: &out)
    }

    /// The running figures of the hours not yet handed on (the open windows).
    public func openHours() -> [AssetHour] {
        var calendar = self.calendar
        var out: [AssetHour] = []
        for (id, a) in zip(ids, table) {
            var span = calendar.hour(containing: Timestamp(microseconds: a.nextHour))
            while span.start.microseconds <= a.lastTime {
                out.append(Self.figures(id, span, a, settings))
                span = calendar.next(.hour, after: span)
            }
        }
        return out
    }

    private func figures(_ id: String, _ span: WindowSpan) -> AssetHour {
        Self.figures(id, span, table[index[id]!], settings)
    }

    /// One asset's figures for one hour, from its series: the totalizer when it has data in the
    /// hour, otherwise the rate (then `estimated`).
    private static func figures(_ id: String, _ span: WindowSpan, _ a: AssetSeries, _ s: AggregationSettings) -> AssetHour {
        AssetHour(asset: id, hour: span,
                  gas: fluid(total: a.gasTotal, rate: a.gasRate, span, s),
                  water: fluid(total: a.waterTotal, rate: a.waterRate, span, s))
    }

    private static func fluid(total: SeriesHistory, rate: SeriesHistory, _ span: WindowSpan, _ s: AggregationSettings) -> FluidTotals {
        let a = span.start.microseconds, b = span.end.microseconds
        if !total.isEmpty {
            var f = FluidTotals()
            var i = max(total.lowerBound(a) - 1, 0)
            while i < total.count && total.time(i) < b {
                if total.time(i) >= a { f.samples += 1 }
                if i + 1 < total.count {
                    IntervalVolume.addTotalizer(t1: total.time(i), v1: total.value(i), t2: total.time(i + 1), v2: total.value(i + 1),
                                                rollover: total.rollover, window: a, b, into: &f)
                }
                i += 1
            }
            if f.hasData { return f }
        }
        var f = FluidTotals()
        guard !rate.isEmpty else { return f }
        var i = max(rate.lowerBound(a) - 1, 0)
        while i < rate.count && rate.time(i) < b {
            if rate.time(i) >= a { f.samples += 1 }
            if i + 1 < rate.count {
                IntervalVolume.addRate(t1: rate.time(i), r1: rate.value(i), t2: rate.time(i + 1), r2: rate.value(i + 1),
                                       maxGap: s.maxGapUS, integration: s.integration, window: a, b, into: &f)
            }
            i += 1
        }
        if f.samples > 0 { f.estimated = true }
        return f
    }
}

// MARK: checkpoint

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
    public mutating func restore(from r: inout BinaryReader, belongs: (String) -> Bool) throws(BinaryReader.Malformed) {
        let w = Timestamp(microseconds: try r.int())
        if w > watermark { watermark = w }
        prunedThrough = max(prunedThrough, try r.int())
        let n = try r.count()
        for _ in 0..<n {
            let id = try r.string()
            var a = AssetSeries(nextHour: try r.int(), lastTime: try r.int())
            a.gasTotal = try SeriesHistory.restore(from: &r)
            a.gasRate = try SeriesHistory.restore(from: &r)
            a.waterTotal = try SeriesHistory.restore(from: &r)
            a.waterRate = try SeriesHistory.restore(from: &r)
            guard belongs(id) else { continue }
            index[id] = table.count
            ids.append(id)
            table.append(a)
        }
        let d = try r.count()
        for _ in 0..<d {
            let asset = try r.string()
            let hour = try r.int()
            if belongs(asset) { dirty.insert(DirtyHour(asset: asset, hourStart: hour)) }
        }
        earliestClose = .min
    }
}
