/// The readings of one series (asset × measurement), in time order, kept back to the revision
/// horizon: the volumes of any window are computed from it, so the result depends only on the set
/// of readings, never on the order or batches they came in.
struct SeriesHistory: Sendable {
    /// Event times, ascending, unique.
    var times: [Int64] = []
    /// Values, in the reporting unit.
    var values: [Double] = []
    /// How a totalizer's changes are read (the latest rules its readings carried).
    var counter = CounterRules()

    var count: Int { times.count }
    var isEmpty: Bool { times.isEmpty }
    var last: Int64? { times.last }

    /// Inserts a reading; returns its index, or nil for a duplicate (same time: counted once,
    /// the first value kept).
    mutating func insert(time: Int64, value: Double) -> Int? {
        if let last = times.last, time <= last {
            let i = lowerBound(time)
            if i < times.count && times[i] == time { return nil }
            times.insert(time, at: i)
            values.insert(value, at: i)
            return i
        }
        times.append(time)
        values.append(value)
        return times.count - 1
    }

    /// Index of the first reading at or after `time`.
    func lowerBound(_ time: Int64) -> Int {
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Drops readings before `cutoff`, keeping the last one before it (the start of the interval
    /// that crosses the cutoff).
    mutating func prune(before cutoff: Int64) {
        let i = lowerBound(cutoff)
        guard i > 1 else { return }
        times.removeFirst(i - 1)
        values.removeFirst(i - 1)
    }

    /// The time of reading `i`.
    func time(_ i: Int) -> Int64 { times[i] }
    /// The value of reading `i`.
    func value(_ i: Int) -> Double { values[i] }
}

/// How an interval between two consecutive readings turns into volume.
enum IntervalVolume {
    /// Adds the part of the totalizer interval (t1, v1)–(t2, v2) that falls in `[a, b)`, split in
    /// proportion to time: a totalizer is exact across a gap, but says nothing of when within it
    /// the gas flowed. A step back counts as the negative volume it is. Returns false, adding
    /// nothing, when the interval implies an impossible rate (it is missing data, not volume).
    @inline(__always)
    @discardableResult
    static func addTotalizer(t1: Int64, v1: Double, t2: Int64, v2: Double, rules: CounterRules,
                             window a: Int64, _ b: Int64, into f: inout FluidTotals) -> Bool {
        let change = TotalizerChange.classify(from: v1, to: v2, rules)
        guard rules.isPlausible(change, overUS: t2 - t1) else { return false }
        let lo = max(t1, a), hi = min(t2, b)
        guard hi > lo else { return true }
        let delta = change.counted
        let part = hi - lo
        f.volume += part == t2 - t1 ? delta : delta * (Double(part) / Double(t2 - t1))
        f.coveredUS += part
        if delta > 0 { f.flowUS += part }
        return true
    }

    /// Adds the part of the rate interval (t1, r1)–(t2, r2) that falls in `[a, b)`. Rates are per
    /// day; an interval longer than `maxGap` is missing data and adds nothing. Trapezoid
    /// integrates the straight line between the two rates (exactly, also for a part of the
    /// interval); step holds the first rate until the next reading.
    @inline(__always)
    static func addRate(t1: Int64, r1: Double, t2: Int64, r2: Double, maxGap: Int64, integration: Integration,
                        window a: Int64, _ b: Int64, into f: inout FluidTotals) {
        let lo = max(t1, a), hi = min(t2, b)
        guard hi > lo, t2 - t1 <= maxGap else { return }
        let part = Double(hi - lo)
        let perUS = 1.0 / 86_400_000_000.0
        let volume: Double
        let flowing: Bool
        switch integration {
        case .step:
            volume = r1 * part * perUS
            flowing = r1 > 0
        case .trapezoid:
            let span = Double(t2 - t1)
            let ra = r1 + (r2 - r1) * (Double(lo - t1) / span)
            let rb = r1 + (r2 - r1) * (Double(hi - t1) / span)
            volume = (ra + rb) / 2 * part * perUS
            flowing = r1 > 0 || r2 > 0
        }
        f.volume += volume
        f.coveredUS += hi - lo
        if flowing { f.flowUS += hi - lo }
        f.estimated = true
    }
}
