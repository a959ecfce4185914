/// The roll-up half of aggregation, run once after the partitions: takes every asset's hourly
/// figures, closes hours, gas days and gas months as the watermark passes them, and makes the
/// `totals` records of every scope: well → block → field → all for production, delivery meter →
/// sector → all for utilisation, flares → all for losses.
///
/// Days are sums of their hours and months sums of their days, each added in time order; roll-ups
/// are sums of their members in id order. So every figure is a function of the hourly figures,
/// whichever partition or batch they came from.
public struct TotalsAggregator: Sendable {
    public let settings: AggregationSettings
    public private(set) var factors: Factors
    /// How far back figures are kept in memory (the hot span); older ones are in the archive.
    public let horizonUS: Int64
    /// Where the figures and revision numbers of older windows are.
    public let archive: HistoryArchive
    private(set) var hierarchy: AssetHierarchy
    private var register: AssetRegister { hierarchy.register }
    var calendar: WindowCalendar

    /// One asset's figures over a window.
    struct Figures: Equatable, Sendable {
        var gas = FluidTotals()
        var water = FluidTotals()
        mutating func add(_ o: Figures) {
            gas.add(o.gas)
            water.add(o.water)
        }
    }

    var hours: [Int64: [String: Figures]] = [:]
    var days: [Int64: [String: Figures]] = [:]
    var next: [WindowKind: WindowSpan] = [:]
    var revisions: [TotalsRecord.Key: Int] = [:]
    var dirty = Set<Dirty>()
    var lastFlush = Int64.min
    var lastPrune = Int64.min
    var dataEnd = Int64.min
    /// The latest watermark advanced to (not saved: the next advance sets it again).
    var lastWatermark = Int64.min
    var unregistered = Set<String>()
    /// Hours, and the revision numbers of hours and days, before this have been moved to the
    /// archive; days before `evictedDaysBefore` (those of months before the month that holds it).
    var evictedHoursBefore = Int64.min
    var evictedDaysBefore = Int64.min
    /// Windows that start before this need roll-up rows from the archive (`Int64.min`: none do).
    public var archivedBefore: Int64 { max(evictedHoursBefore, evictedDaysBefore) }
    /// Gas days whose figures were read back from the archive for a correction.
    var loadedDays = Set<Int64>()
    /// Archive rows read back and not changed since (not written again).
    var clean = Set<RollupKey>()
    /// The sum of the open month's closed days, in time order (for the running month figures of
    /// `latest`, without reading every day back each time): `month` and `through` say which.
    var monthSoFar: (month: Int64, through: Int64, figures: [String: Figures])?
    /// The sum of a gas day's hours that have left memory (those before `through`), in time order:
    /// the day's figures go on from it without reading those hours back.
    var daySoFar: (day: Int64, end: Int64, through: Int64, figures: [String: Figures])?
    /// Windows that start before this are not written (their figures cannot be rebuilt whole:
    /// a recovery that could not reach the full history). `Int64.min`: every window is.
    public var incompleteBefore = Int64.min
    /// The records of the last closed hour and gas day (with their corrections), for `latest.json`.
    public private(set) var lastClosed: [WindowKind: [TotalsRecord]] = [:]

    struct Dirty: Hashable {
        var window: WindowKind
        var start: Int64
        var asset: String
    }

    public init(settings: AggregationSettings, factors: Factors, register: AssetRegister, horizonUS: Int64,
                archive: HistoryArchive = .inMemory()) {
        self.init(settings: settings, factors: factors, hierarchy: AssetHierarchy(register), horizonUS: horizonUS, archive: archive)
    }

    public init(settings: AggregationSettings, factors: Factors, hierarchy: AssetHierarchy, horizonUS: Int64,
                archive: HistoryArchive = .inMemory()) {
        self.settings = settings
        self.archive = archive
        self.factors = factors
        self.hierarchy = hierarchy
        self.horizonUS = max(horizonUS, settings.allowedLatenessUS + 3_600_000_000)
        calendar = WindowCalendar(zone: settings.timeZone, dayStartMinutes: settings.dayStartMinutes)
    }

    /// Takes a new register and factor set (a reload), keeping every figure.
    public mutating func reconfigure(hierarchy: AssetHierarchy, factors: Factors) {
        self.hierarchy = hierarchy
        self.factors = factors
    }

    /// Hours with data not yet closed (for the service status).
    public var openHourCount: Int {
        guard let next = next[.hour], dataEnd > next.start.microseconds else { return 0 }
        return Int((dataEnd - next.start.microseconds + 3_599_999_999) / 3_600_000_000)
    }

    // MARK: input

    /// Takes hourly figures from a partition: new hours, or corrections of hours already closed.
    public mutating func receive(_ figures: [AssetHour]) {
        for h in figures { receive(h) }
    }

    public mutating func receive(_ h: AssetHour) {
        let start = h.hour.start.microseconds
        load(around: h.hour.start)
        if hours[start] == nil {
            // A new hour has as many assets as the hours before it, near enough: room for them at once.
            var figures: [String: Figures] = [:]
            figures.reserveCapacity(hours.values.first?.count ?? 0)
            hours[start] = figures
        }
        hours[start]![h.asset] = Figures(gas: h.gas, water: h.water)
        clean.remove(RollupKey(table: .hours, start: start))
        if let d = daySoFar, start >= d.day, start < d.through { daySoFar = nil }
        if register[h.asset] == nil { unregistered.insert(h.asset) }
        if h.hour.end.microseconds > dataEnd { dataEnd = h.hour.end.microseconds }
        guard let nextHour = next[.hour], start < nextHour.start.microseconds else { return }
        // A correction of a closed hour: its day and month change too.
        dirty.insert(Dirty(window: .hour, start: start, asset: h.asset))
        let day = calendar.day(containing: h.hour.start)
        if let nextDay = next[.day], day.start < nextDay.start {
            days[day.start.microseconds, default: [:]][h.asset] = sumOfHours(asset: h.asset, in: day)
            clean.remove(RollupKey(table: .days, start: day.start.microseconds))
            dirty.insert(Dirty(window: .day, start: day.start.microseconds, asset: h.asset))
            let month = calendar.month(containing: h.hour.start)
            if monthSoFar?.month == month.start.microseconds { monthSoFar = nil }
            if let nextMonth = next[.month], month.start < nextMonth.start {
                dirty.insert(Dirty(window: .month, start: month.start.microseconds, asset: h.asset))
            }
        }
    }

    // MARK: closing

    /// Closes every window whose end plus the allowed lateness the watermark has passed, and (when
    /// the watermark passes a multiple of the flush interval) re-emits the corrected windows with
    /// their revision + 1.
    public mutating func advance(to watermark: Timestamp, into out: inout [TotalsRecord]) {
        guard watermark.microseconds > Int64.min / 2 else { return }
        if watermark.microseconds > lastWatermark { lastWatermark = watermark.microseconds }
        let lateness = settings.allowedLatenessUS
        close(limit: { $0.end.microseconds + lateness <= watermark.microseconds }, into: &out)
        // Corrections go out when the watermark passes a multiple of the flush interval: at most
        // once an interval, and at points that do not depend on how the input was batched.
        let every = max(settings.flushIntervalUS, 1)
        var flushed = false
        if lastFlush == .min || BatchCuts.floorDiv(watermark.microseconds, every) > BatchCuts.floorDiv(lastFlush, every) {
            flush(into: &out)
            lastFlush = watermark.microseconds
            flushed = true
        }
        // Figures read back from the archive for corrections go back once those are out.
        if lastPrune == .min || watermark.microseconds - lastPrune >= 3_600_000_000 || (flushed && !loadedDays.isEmpty) {
            prune(cutoff: watermark.microseconds - horizonUS)
            lastPrune = watermark.microseconds
        }
    }

    /// Raises revision numbers to at least those already written (found in the output after a
    /// crash), so that what is written again after recovery supersedes what was written before it.
    public mutating func raiseRevisions(_ written: [TotalsRecord.Key: Int]) {
        for (key, revision) in written where revisions[key, default: 0] < revision { revisions[key] = revision }
    }

    /// Emits the pending corrections of closed windows now (at a stop), and closes the windows
    /// the watermark has passed whose first figures came since (old readings merged at the stop).
    public mutating func flushCorrections(into out: inout [TotalsRecord]) {
        if lastWatermark > Int64.min / 2 {
            let lateness = settings.allowedLatenessUS, w = lastWatermark
            close(limit: { $0.end.microseconds + lateness <= w }, into: &out)
        }
        flush(into: &out)
    }

    /// Closes every window that has data and emits all pending corrections (end of input).
    public mutating func finish(into out: inout [TotalsRecord]) {
        let end = dataEnd
        close(limit: { $0.start.microseconds < end }, final: true, into: &out)
        flush(into: &out)
    }

    /// Closes windows in order while `limit` allows; a day only once all its hours are closed and
    /// a month once all its days are, unless `final` (no more data will come).
    private mutating func close(limit: (WindowSpan) -> Bool, final: Bool = false, into out: inout [TotalsRecord]) {
        if next[.hour] == nil {
            guard let first = hours.keys.min() else { return }
            let t = Timestamp(microseconds: first)
            next[.hour] = calendar.hour(containing: t)
            next[.day] = calendar.day(containing: t)
            next[.month] = calendar.month(containing: t)
        }
        while let span = next[.hour], limit(span) {
            emit(.hour, span, figures(.hour, span), into: &out)
            next[.hour] = calendar.next(.hour, after: span)
        }
        while let span = next[.day], limit(span), final || span.end <= next[.hour]!.start {
            let figs = figures(.day, span)
            days[span.start.microseconds] = figs
            emit(.day, span, figs, into: &out)
            next[.day] = calendar.next(.day, after: span)
        }
        while let span = next[.month], limit(span), final || span.end <= next[.day]!.start {
            emit(.month, span, figures(.month, span), into: &out)
            next[.month] = calendar.next(.month, after: span)
        }
    }

    /// Emits the records of a window that has data (a window in which no asset has any is not
    /// written: its absence says so, and what is written depends only on the data).
    private mutating func emit(_ kind: WindowKind, _ span: WindowSpan, _ figs: [String: Figures], into out: inout [TotalsRecord]) {
        guard settings.windows.contains(kind), !figs.isEmpty, span.start.microseconds >= incompleteBefore else { return }
        var emitted: [TotalsRecord] = []
        for var r in records(kind, span, figs) {
            r.revision = (revisions[r.key] ?? 0) + 1
            revisions[r.key] = r.revision
            emitted.append(r)
        }
        clean.remove(Self.revisionsKey(kind, span.start.microseconds))
        out += emitted
        if kind != .month { lastClosed[kind] = emitted }
    }

    private mutating func flush(into out: inout [TotalsRecord]) {
        guard !dirty.isEmpty else { return }
        let groups = Dictionary(grouping: dirty, by: { WindowKey(window: $0.window, start: $0.start) })
        dirty.removeAll()
        for key in groups.keys.sorted(by: { ($0.start, $0.window.rawValue) < ($1.start, $1.window.rawValue) }) {
            guard settings.windows.contains(key.window), key.start >= incompleteBefore else { continue }
            let span = calendar.window(key.window, containing: Timestamp(microseconds: key.start))
            if key.window == .month { loadRevisions(.month, key.start) } else { load(around: span.start) }
            var keep = Set<String>()
            for d in groups[key]! { keep.formUnion(hierarchy.affected(by: d.asset)) }
            // A window never written (late data from before the first one closed) is written whole.
            let whole = revisions[TotalsRecord.Key(window: key.window, start: span.start, scope: .all, id: "all")] == nil
            clean.remove(Self.revisionsKey(key.window, key.start))
            for var r in records(key.window, span, figures(key.window, span)) where whole || keep.contains("\(r.scope.rawValue)/\(r.id)") {
                r.revision = (revisions[r.key] ?? 0) + 1
                revisions[r.key] = r.revision
                out.append(r)
                // A correction of the last closed window (all its records share its span) shows there too.
                if lastClosed[key.window]?.first?.span.start == r.span.start,
                   let i = lastClosed[key.window]!.firstIndex(where: { $0.key == r.key }) {
                    lastClosed[key.window]![i] = r
                }
            }
        }
    }

    private struct WindowKey: Hashable {
        var window: WindowKind
        var start: Int64
    }


    // MARK: figures

    /// Every asset's figures over a window: an hour as handed on; a day as the sum of its hours;
    /// a month as the sum of its days (closed days as stored, the open one from its hours), read
    /// one at a time.
    mutating func figures(_ kind: WindowKind, _ span: WindowSpan, open: [Int64: [String: Figures]] = [:]) -> [String: Figures] {
        switch kind {
        case .hour:
            return open[span.start.microseconds] ?? hours[span.start.microseconds] ?? [:]
        case .day:
            var (out, from) = hoursLeftMemory(of: span)
            var h = calendar.hour(containing: Timestamp(microseconds: from))
            while h.start < span.end {
                let s = h.start.microseconds
                for (asset, f) in open[s] ?? hours[s] ?? archivedHour(s) ?? [:] { out[asset, default: Figures()].add(f) }
                h = calendar.next(.hour, after: h)
            }
            return out
        case .month:
            // The running month: its closed days (summed once a day), then the open ones from hours.
            var (out, from) = open.isEmpty ? ([:], span.start.microseconds) : closedDays(of: span)
            var d = calendar.day(containing: Timestamp(microseconds: from))
            while d.start < span.end {
                let dayFigures = open.isEmpty ? closedDay(d) : figures(.day, d, open: open)
                for (asset, f) in dayFigures { out[asset, default: Figures()].add(f) }
                d = calendar.next(.day, after: d)
            }
            return out
        }
    }

    /// The sum of the day's hours that have left memory and were not read back since, in time
    /// order (kept in `daySoFar`), and the time from which the rest of the day is summed.
    private mutating func hoursLeftMemory(of day: WindowSpan) -> ([String: Figures], Int64) {
        let start = day.start.microseconds, end = day.end.microseconds
        guard evictedHoursBefore > start else { return ([:], start) }
        if let d = daySoFar, d.day == start { return (d.figures, d.through) }
        // Hours read back into memory (for a correction) are taken from there.
        let through = min(evictedHoursBefore, end)
        var out: [String: Figures] = [:]
        var h = calendar.hour(containing: day.start)
        while h.start.microseconds < through {
            let s = h.start.microseconds
            for (asset, f) in hours[s] ?? archivedHour(s) ?? [:] { out[asset, default: Figures()].add(f) }
            h = calendar.next(.hour, after: h)
        }
        // Kept for the day being summed as it goes (the open one), not for a corrected old one.
        if next[.day].map({ $0.start.microseconds == start }) ?? false { daySoFar = (start, end, through, out) }
        return (out, through)
    }

    /// The sum of the month's days that have closed, in time order (kept in `monthSoFar`), and the
    /// time from which the rest of the month is summed.
    private mutating func closedDays(of month: WindowSpan) -> ([String: Figures], Int64) {
        let through = min(max(next[.day]?.start.microseconds ?? month.start.microseconds, month.start.microseconds), month.end.microseconds)
        if let m = monthSoFar, m.month == month.start.microseconds, m.through == through { return (m.figures, through) }
        var out: [String: Figures] = [:]
        var d = calendar.day(containing: month.start)
        while d.start.microseconds < through {
            for (asset, f) in closedDay(d) { out[asset, default: Figures()].add(f) }
            d = calendar.next(.day, after: d)
        }
        monthSoFar = (month.start.microseconds, through, out)
        return (out, through)
    }

    private mutating func sumOfHours(asset: String, in day: WindowSpan) -> Figures {
        var total = Figures()
        var h = calendar.hour(containing: day.start)
        while h.start < day.end {
            if let f = hours[h.start.microseconds]?[asset] { total.add(f) }
            h = calendar.next(.hour, after: h)
        }
        return total
    }

    // MARK: latest

    /// The running figures of the open windows (revision 0), given the partitions' open hours:
    /// the current hour, gas day and gas month as they stand.
    public mutating func latest(openHours: [AssetHour]) -> [TotalsRecord] {
        var open: [Int64: [String: Figures]] = [:]
        for (start, assets) in hours { open[start] = assets }
        for h in openHours { open[h.hour.start.microseconds, default: [:]][h.asset] = Figures(gas: h.gas, water: h.water) }
        guard let first = open.keys.min(), let last = open.keys.max() else { return [] }
        var out: [TotalsRecord] = []
        for kind in settings.windows {
            var span = next[kind] ?? calendar.window(kind, containing: Timestamp(microseconds: first))
            while span.start.microseconds <= last {
                if span.start.microseconds >= incompleteBefore { out += records(kind, span, figures(kind, span, open: open)) }
                span = calendar.next(kind, after: span)
            }
        }
        return out
    }
}
