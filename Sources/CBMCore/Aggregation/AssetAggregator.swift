import Foundation

/// The per-asset half of aggregation, run in each partition: keeps the volume series of its
/// assets (totalizers and rates of gas and water) and turns them into ``AssetHour`` figures when
/// an hour closes, and again when late data changes an hour already closed.
///
/// Readings and watermark advances in, figures out. Figures are computed from the time-ordered
/// history of each series, never accumulated in arrival order, so the same set of readings gives
/// the same figures whatever the batches, partitions or order.
///
/// The history is in two tiers. The hot span (`horizonUS` behind the watermark, an internal
/// tuning knob) is in memory; what is older is in the ``HistoryArchive``, moved there once an
/// hour. A reading older than the hot span (a backfill, a daemon that was down) is gathered with
/// the others of its series until the next flush, then merged into the archive's blocks in one
/// pass, and every handed-on hour it changes is recomputed from the archive, once.
public struct AssetAggregator: Sendable {
    public let settings: AggregationSettings
    /// How far back readings are kept in memory, in microseconds (the hot span).
    public let horizonUS: Int64
    /// Where older readings are.
    public let archive: HistoryArchive
    /// This partition's number (the archive's writer).
    public var writer = 0
    /// Readings before this time (a storage hour's start) are in the archive; at and after it, in
    /// memory (with the last reading before it, where the first interval starts).
    var floor = Int64.min
    /// Readings older than `floor`, waiting for the next flush.
    var cold: [ColdReading] = []
    /// Totalizer events noted while merging them.
    var coldEvents: [EventRecord] = []

    struct ColdReading: Sendable {
        var asset: Int
        var code: UInt8
        var time: Int64
        var value: Double
    }
    var calendar: WindowCalendar
    var index: [String: Int] = [:]
    /// Each asset's place in `table`, by ``AssetID`` number (-1: not looked up yet).
    var slots: [Int32] = []
    var ids: [String] = []
    var table: [AssetSeries] = []
    var dirty = Set<DirtyHour>()
    var watermark = Timestamp(microseconds: .min)
    /// The earliest watermark at which some asset's next hour closes: below it, `advance` has
    /// nothing to do.
    var earliestClose = Int64.min

    struct DirtyHour: Hashable {
        var asset: String
        var hourStart: Int64
    }

    /// The volume series of one asset, and how far its hours have been handed on.
    struct AssetSeries: Sendable {
        // (In this order: a well's gas series and what every reading changes besides, first.)
        var gasTotal = SeriesHistory()
        var gasRate = SeriesHistory()
        /// Start of the first hour not yet handed on.
        var nextHour: Int64
        /// The latest reading time.
        var lastTime: Int64
        /// Which series (bits by ``AssetAggregator/seriesCode(_:)``) have ever had a reading.
        var seen: UInt8 = 0
        var waterTotal = SeriesHistory()
        var waterRate = SeriesHistory()

        /// Changes a series by its ``AssetAggregator/seriesCode(_:)`` in place (not a copy of it
        /// changed and written back: its buffer stays its own, and is not copied).
        @inline(__always)
        mutating func withSeries<R>(_ code: UInt8, _ body: (inout SeriesHistory) -> R) -> R {
            switch code {
            case 0: return body(&gasTotal)
            case 1: return body(&gasRate)
            case 2: return body(&waterTotal)
            default: return body(&waterRate)
            }
        }

        /// A series by its ``AssetAggregator/seriesCode(_:)``.
        subscript(code: UInt8) -> SeriesHistory {
            get {
                switch code {
                case 0: return gasTotal
                case 1: return gasRate
                case 2: return waterTotal
                default: return waterRate
                }
            }
            set {
                switch code {
                case 0: gasTotal = newValue
                case 1: gasRate = newValue
                case 2: waterTotal = newValue
                default: waterRate = newValue
                }
            }
        }
    }

    /// The archive's number for a volume measurement.
    static func seriesCode(_ m: Measurement) -> UInt8 {
        switch m {
        case .gasTotal: return 0
        case .gasRate: return 1
        case .waterTotal: return 2
        default: return 3
        }
    }

    public init(settings: AggregationSettings, horizonUS: Int64, archive: HistoryArchive = .inMemory(), writer: Int = 0) {
        self.settings = settings
        self.horizonUS = max(horizonUS, settings.allowedLatenessUS + 3_600_000_000)
        self.archive = archive
        self.writer = writer
        calendar = WindowCalendar(zone: settings.timeZone, dayStartMinutes: settings.dayStartMinutes)
    }

    /// Takes readings; appends totalizer step-backs, resets, rollovers and jumps to `events`. Readings that are not
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
        let n = Int(r.id.number)
        if n < slots.count, slots[n] >= 0 {
            a = Int(slots[n])
        } else {
            a = slot(of: r)
        }
        let code = Self.seriesCode(r.measurement)
        if t < floor {
            table[a][code].take(r.counterNumber)
            cold.append(ColdReading(asset: a, code: code, time: t, value: r.value))
            return
        }
        if t < table[a].nextHour {
            // Earlier than the first reading so far, in an hour still open: start there.
            let hour = calendar.hour(containing: r.time)
            if hour.end.microseconds + settings.allowedLatenessUS > watermark.microseconds {
                table[a].nextHour = hour.start.microseconds
            }
        }
        table[a].seen |= 1 << code
        let totalizer = code & 1 == 0
        var quiet = true
        // A totalizer's rules: the reading's, or else the series' own (what it has once it took them).
        var rules = CounterRules()
        if totalizer {
            let number = r.counterNumber != .none ? r.counterNumber : table[a].withSeries(code) { $0.counterNumber }
            rules = CounterRules.rules(number) ?? rules
        }
        let inserted = table[a].withSeries(code) { h -> (index: Int, from: Int64, to: Int64)? in
            h.take(r.counterNumber)
            if h.isEmpty || t > h.lastTime {
                // In time order (nearly every reading): its neighbour is the latest reading, known
                // without reading the buffer.
                let (before, value) = (h.lastTime, h.lastValue)
                let i = h.insert(time: t, value: r.value)!
                if totalizer && i > 0 { quiet = Self.isPlainIncrease(from: value, to: r.value, overUS: t - before, rules: rules) }
                return (i, i > 0 ? before : t, t)
            }
            guard let i = h.insert(time: t, value: r.value) else { return nil }
            if totalizer { quiet = Self.isQuiet(h, at: i, rules: rules) }
            return (i, i > 0 ? h.time(i - 1) : t, i + 1 < h.count ? h.time(i + 1) : t)
        }
        guard let inserted else { return }  // a duplicate
        if !quiet { Self.noteChanges(table[a][code], at: inserted.index, asset: ids[a], events: &events) }
        let emitted = table[a].nextHour
        if inserted.from < emitted { markDirty(asset: ids[a], from: inserted.from, to: min(inserted.to, emitted - 1)) }
        if t > table[a].lastTime { table[a].lastTime = t }
        // Hours are an hour long in every zone: the next one closes an hour after it starts.
        let close = table[a].nextHour + 3_600_000_000 + settings.allowedLatenessUS
        if close < earliestClose { earliestClose = close }
    }

    /// The place in `table` of a reading's asset, first seen by this number: found by its id
    /// (restored from a checkpoint), or added.
    private mutating func slot(of r: Reading) -> Int {
        let id = r.asset
        let a: Int
        if let i = index[id] {
            a = i
        } else {
            a = table.count
            index[id] = a
            ids.append(id)
            // Hours before the floor are handed on as corrections, from the archive.
            table.append(AssetSeries(nextHour: max(calendar.hour(containing: r.time).start.microseconds, floor), lastTime: r.time.microseconds))
        }
        let n = Int(r.id.number)
        if n >= slots.count { slots.append(contentsOf: repeatElement(-1, count: n + 1 - slots.count)) }
        slots[n] = Int32(a)
        return a
    }

    /// Marks the handed-on hours that overlap `[from, to]` for recomputation.
    mutating func markDirty(asset: String, from: Int64, to: Int64) {
        let oldest = archive.recomputableFrom(watermark: watermark.microseconds)
        var span = calendar.hour(containing: Timestamp(microseconds: max(from, oldest)))
        while span.start.microseconds <= to {
            dirty.insert(DirtyHour(asset: asset, hourStart: span.start.microseconds))
            span = calendar.next(.hour, after: span)
        }
    }

    /// Advances the watermark: hands on every hour that closes (its end plus the allowed lateness
    /// is at or before the watermark) and every closed hour that late data changed.
    public mutating func advance(to w: Timestamp, into out: inout [AssetHour]) {
        let previous = watermark
        if w > watermark { watermark = w }
        guard watermark.microseconds > Int64.min / 2 else { return }
        // The roll-up writes at the flush points (its corrections) and where windows close.
        let every = max(settings.flushIntervalUS, 1)
        let flushPoint = previous.microseconds == .min
            || BatchCuts.floorDiv(watermark.microseconds, every) > BatchCuts.floorDiv(previous.microseconds, every)
        // Old readings are merged at the flush points, or when many wait: once per series and
        // flush, not once per reading.
        if !cold.isEmpty && (flushPoint || cold.count >= Self.coldBatch) { mergeCold() }
        let cutoff = watermark.microseconds < Int64.max / 2 ? ReadingBlock.hour(of: watermark.microseconds - horizonUS) : floor
        // Closed hours that late data changed are handed on where the roll-up may write: at a
        // flush point, where the watermark passes an hour's end plus the allowed lateness (every
        // window ends at an hour's end), where an hour closes here, and before readings move to
        // the archive. Not at every batch: a late hour is figured once between those points,
        // however many batches bring it readings (the partitions move in lockstep, so the roll-up
        // writes the same). Snapshots take them first (`emitChangedHours`).
        let due = flushPoint || cutoff > floor || (!dirty.isEmpty && passedHourClose(since: previous))
        if (dirty.isEmpty || !due) && watermark.microseconds < earliestClose && cutoff <= floor {
            archive.note(watermark: watermark.microseconds)
            return
        }
        let (handed, marked) = (out.count, dirty.count)
        closePassedHours(into: &out)
        if !dirty.isEmpty && (due || out.count > handed || dirty.count > marked) {
            emitDirty(into: &out)
        }
        // Move what is older than the hot span to the archive, once an hour.
        if cutoff > floor { migrate(before: cutoff) }
        archive.note(watermark: watermark.microseconds)
    }

    /// Whether the watermark passed an hour's end plus the allowed lateness since `previous`.
    private mutating func passedHourClose(since previous: Timestamp) -> Bool {
        guard watermark.microseconds < Int64.max / 2 else { return true }
        let lateness = settings.allowedLatenessUS
        let hour = calendar.hour(containing: Timestamp(microseconds: previous.microseconds - lateness))
        return hour.end.microseconds + lateness <= watermark.microseconds
    }

    /// Hands on every hour of every asset that the watermark has passed (its end plus the allowed
    /// lateness) and that has data: from memory, or, before the floor, marked to be figured from
    /// the archive.
    mutating func closePassedHours(into out: inout [AssetHour]) {
        let lateness = settings.allowedLatenessUS
        earliestClose = .max
        for a in table.indices {
            var next = calendar.hour(containing: Timestamp(microseconds: table[a].nextHour))
            let last = table[a].lastTime
            while next.end.microseconds + lateness <= watermark.microseconds && next.start.microseconds <= last {
                // An hour before the floor (old readings of an asset whose hours had not reached
                // it) is figured from the archive, with the marked ones.
                if next.start.microseconds < floor {
                    dirty.insert(DirtyHour(asset: ids[a], hourStart: next.start.microseconds))
                } else {
                    out.append(Self.figures(ids[a], next, table[a], settings))
                }
                next = calendar.next(.hour, after: next)
            }
            table[a].nextHour = next.start.microseconds
            if next.start.microseconds <= last { earliestClose = min(earliestClose, next.end.microseconds + lateness) }
        }
    }

    /// Old readings waiting beyond this many are merged at the next watermark.
    static let coldBatch = 200_000

    /// Hands on every hour that has data, however recent (end of a replay).
    public mutating func finish(into out: inout [AssetHour]) {
        mergeCold()
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

    /// Each asset's latest gas rate reading, for the status page: in m³/h at the reporting basis
    /// (readings are kept in the reporting unit, m³/d).
    public func lastRates() -> [AssetRate] {
        zip(ids, table).compactMap { id, a in a.gasRate.lastSample.map { AssetRate(asset: id, time: $0.time, m3h: $0.value / 24) } }
    }

    func figures(_ id: String, _ span: WindowSpan) -> AssetHour {
        Self.figures(id, span, table[index[id]!], settings)
    }

    /// One asset's figures for one hour, from its series: the totalizer where consecutive
    /// totalizer readings cover the time, the rate elsewhere (that part `estimated`).
    static func figures(_ id: String, _ span: WindowSpan, _ a: AssetSeries, _ s: AggregationSettings) -> AssetHour {
        AssetHour(asset: id, hour: span,
                  gas: fluid(total: a.gasTotal, rate: a.gasRate, span, s),
                  water: fluid(total: a.waterTotal, rate: a.waterRate, span, s))
    }

    private static func fluid(total: SeriesHistory, rate: SeriesHistory, _ span: WindowSpan, _ s: AggregationSettings) -> FluidTotals {
        let a = span.start.microseconds, b = span.end.microseconds
        var f = FluidTotals()
        var rateSamples = 0
        // The rate over [g1, g2), a part of the window the totalizer does not cover. Its readings
        // count as samples where they give volume there (or when there is no totalizer at all).
        func rateOver(_ g1: Int64, _ g2: Int64, alone: Bool) {
            guard !rate.isEmpty, g2 > g1 else { return }
            let covered = f.coveredUS
            var samples = 0
            var i = max(rate.lowerBound(g1) - 1, 0)
            while i < rate.count && rate.time(i) < g2 {
                if rate.time(i) >= g1 { samples += 1 }
                if i + 1 < rate.count {
                    IntervalVolume.addRate(t1: rate.time(i), r1: rate.value(i), t2: rate.time(i + 1), r2: rate.value(i + 1),
                                           maxGap: s.maxGapUS, integration: s.integration, window: g1, g2, into: &f)
                }
                i += 1
            }
            if alone || f.coveredUS > covered { rateSamples += samples }
        }
        // The totalizer's intervals in order; the rate fills what they leave uncovered.
        var uncovered = a
        if !total.isEmpty {
            var i = max(total.lowerBound(a) - 1, 0)
            while i < total.count && total.time(i) < b {
                if total.time(i) >= a { f.samples += 1 }
                if i + 1 < total.count {
                    let t1 = total.time(i), t2 = total.time(i + 1)
                    let counted = IntervalVolume.addTotalizer(t1: t1, v1: total.value(i), t2: t2, v2: total.value(i + 1),
                                                              rules: total.counter, window: a, b, into: &f)
                    let lo = max(t1, a), hi = min(t2, b)
                    if counted && hi > lo {
                        rateOver(uncovered, lo, alone: false)
                        uncovered = hi
                    }
                }
                i += 1
            }
        }
        let fromTotalizer = f.hasData
        rateOver(uncovered, b, alone: !fromTotalizer)
        f.samples += rateSamples
        // Rates alone: estimated, even where no interval gave volume. Beside a totalizer: where a
        // rate gave volume (addRate marks that).
        if rateSamples > 0 && !fromTotalizer { f.estimated = true }
        return f
    }
}
