/// The readings of one series (asset × measurement), in time order, kept back to the revision
/// horizon: the volumes of any window are computed from it, so the result depends only on the set
/// of readings, never on the order or batches they came in.
struct SeriesHistory: Sendable {
    /// One reading: its event time and value (in the reporting unit).
    struct Sample: Sendable, Equatable {
        var time: Int64
        var value: Double
    }
    /// The readings, by event time ascending, times unique: one buffer, time beside value (a
    /// reading's insert touches one heap object, not two).
    private(set) var samples: [Sample] = []
    /// How a totalizer's changes are read (the latest rules its readings carried).
    var counter = CounterRules()

    var count: Int { samples.count }
    var isEmpty: Bool { samples.isEmpty }
    var last: Int64? { samples.last?.time }
    /// The event times, ascending.
    var times: [Int64] { samples.map(\.time) }
    /// The values, in time order.
    var values: [Double] { samples.map(\.value) }

    init() {}

    /// A history of these readings (times ascending and unique, as many as values), or nil.
    init?(times: [Int64], values: [Double]) {
        guard times.count == values.count else { return nil }
        samples.reserveCapacity(times.count)
        for (t, v) in zip(times, values) {
            if let last = samples.last, t <= last.time { return nil }
            samples.append(Sample(time: t, value: v))
        }
    }

    /// Inserts a reading; returns its index, or nil for a duplicate (same time: counted once,
    /// the first value kept).
    mutating func insert(time: Int64, value: Double) -> Int? {
        if let last = samples.last, time <= last.time {
            let i = lowerBound(time)
            if i < samples.count && samples[i].time == time { return nil }
            samples.insert(Sample(time: time, value: value), at: i)
            return i
        }
        samples.append(Sample(time: time, value: value))
        return samples.count - 1
    }

    /// Index of the first reading at or after `time`.
    func lowerBound(_ time: Int64) -> Int {
        var lo = 0, hi = samples.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if samples[mid].time < time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Drops readings before `cutoff`, keeping the last one before it (the start of the interval
    /// that crosses the cutoff).
    mutating func prune(before cutoff: Int64) {
        let i = lowerBound(cutoff)
        guard i > 1 else { return }
        samples.removeFirst(i - 1)
    }

    /// The time of reading `i`.
    func time(_ i: Int) -> Int64 { samples[i].time }
    /// The value of reading `i`.
    func value(_ i: Int) -> Double { samples[i].value }
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
