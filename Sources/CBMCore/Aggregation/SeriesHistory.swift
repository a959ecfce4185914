/// The readings of one series (asset × measurement), in time order, kept back to the revision
/// horizon: the volumes of any window are computed from it, so the result depends only on the set
/// of readings, never on the order or batches they came in.
///
/// A value with copy-on-write storage of its own: the count, the latest reading and where the
/// buffer's readings start are kept here, beside the asset's other series, and the readings in one
/// buffer, time beside value. So a reading that comes in time order (nearly all of them) is
/// compared with the latest one and written at the end without reading the buffer, or waiting
/// for its object to be read first: with a field's series taken in turn, neither is often in the
/// cache when the series' next reading comes.
// (Sendable as its buffer is: `base` is `storage`'s own, and what is shared is never changed.)
struct SeriesHistory: @unchecked Sendable {
    /// One reading: its event time and value (in the reporting unit).
    struct Sample: Sendable, Equatable {
        var time: Int64
        var value: Double
    }
    /// The buffer (nil while empty); shared by copies until one of them changes.
    private var storage: SampleStorage?
    /// Its readings (`storage.base`, kept here).
    private var base: UnsafeMutablePointer<Sample>?
    /// The latest reading (meaningless while empty).
    private(set) var lastTime = Int64.min
    private(set) var lastValue = 0.0
    /// How many readings there are (four bytes: see ``counterNumber``).
    private var stored: Int32 = 0
    var count: Int {
        @inline(__always) get { Int(stored) }
        @inline(__always) set { stored = Int32(newValue) }
    }
    /// How a totalizer's changes are read (the latest rules its readings carried), by number
    /// (``CounterRules/Number/none``: the default rules). A series is kept small (an asset's four
    /// fill three cache lines, not six): ``counter`` looks the rules up by this number.
    private(set) var counterNumber = CounterRules.Number.none

    /// How a totalizer's changes are read.
    var counter: CounterRules {
        get { CounterRules.rules(counterNumber) ?? CounterRules() }
        set { counterNumber = CounterRules.number(of: newValue) }
    }

    /// Takes the rules a reading carries, if any.
    @inline(__always)
    mutating func take(_ rules: CounterRules.Number) {
        if rules != .none { counterNumber = rules }
    }

    var isEmpty: Bool { count == 0 }
    var last: Int64? { count > 0 ? lastTime : nil }
    /// The latest reading.
    var lastSample: Sample? { count > 0 ? Sample(time: lastTime, value: lastValue) : nil }
    /// The readings, in time order (a copy).
    var samples: [Sample] { base.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [] }
    /// The event times, ascending.
    var times: [Int64] { samples.map(\.time) }
    /// The values, in time order.
    var values: [Double] { samples.map(\.value) }

    init() {}

    /// A history of these readings (times ascending and unique, as many as values), or nil.
    init?(times: [Int64], values: [Double]) {
        guard times.count == values.count else { return nil }
        reserve(times.count)
        for (t, v) in zip(times, values) {
            if count > 0, t <= lastTime { return nil }
            _ = insert(time: t, value: v)
        }
    }

    /// Inserts a reading; returns its index, or nil for a duplicate (same time: counted once,
    /// the first value kept).
    @inline(__always)
    mutating func insert(time: Int64, value: Double) -> Int? {
        if count > 0 && time <= lastTime { return insertBefore(time: time, value: value) }
        reserve(count + 1)
        base![count] = Sample(time: time, value: value)
        lastTime = time
        lastValue = value
        count += 1
        return count - 1
    }

    /// A reading earlier than the latest one: placed between its neighbours.
    private mutating func insertBefore(time: Int64, value: Double) -> Int? {
        let i = lowerBound(time)
        if self.time(i) == time { return nil }
        reserve(count + 1)
        let p = base!
        (p + i + 1).update(from: p + i, count: count - i)
        p[i] = Sample(time: time, value: value)
        count += 1
        return i
    }

    /// Makes the buffer this value's own, with room for `n` readings.
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if let s = storage, n <= s.capacity, isKnownUniquelyReferenced(&storage) { return }
        grow(n)
    }

    private mutating func grow(_ n: Int) {
        let fresh = SampleStorage(capacity: Swift.max(n, count * 2, 16))
        if let b = base { fresh.base.initialize(from: b, count: count) }
        storage = fresh
        base = fresh.base
    }

    /// Index of the first reading at or after `time`.
    func lowerBound(_ time: Int64) -> Int {
        guard let p = base else { return 0 }
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if p[mid].time < time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Drops readings before `cutoff`, keeping the last one before it (the start of the interval
    /// that crosses the cutoff).
    mutating func prune(before cutoff: Int64) {
        let i = lowerBound(cutoff)
        guard i > 1 else { return }
        let kept = count - (i - 1)
        if isKnownUniquelyReferenced(&storage) {
            let p = base!
            p.update(from: p + (i - 1), count: kept)
        } else {
            let fresh = SampleStorage(capacity: Swift.max(kept * 2, 16))
            fresh.base.initialize(from: base! + (i - 1), count: kept)
            storage = fresh
            base = fresh.base
        }
        count = kept
    }

    /// The readings `range` (all in the storage hour `hour`) as a ``ReadingBlock`` encodes them:
    /// the same bytes, made straight from the buffer.
    func encodedBlock(_ range: Range<Int>, hour: Int64) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "reading range out of range")
        let p = base!
        return [UInt8](unsafeUninitializedCapacity: 10 + range.count * 18) { out, written in
            var o = 0
            @inline(__always) func varint(_ v: UInt64) {
                var x = v
                while x >= 0x80 {
                    out[o] = UInt8(truncatingIfNeeded: x) | 0x80
                    o += 1
                    x >>= 7
                }
                out[o] = UInt8(x)
                o += 1
            }
            varint(UInt64(range.count))
            var last = hour
            for i in range {
                let s = p[i]
                varint(UInt64(bitPattern: s.time &- last))
                last = s.time
                UnsafeMutableRawPointer(out.baseAddress! + o).storeBytes(of: s.value.bitPattern.littleEndian, as: UInt64.self)
                o += 8
            }
            written = o
        }
    }

    /// The time of reading `i`.
    func time(_ i: Int) -> Int64 {
        precondition(i >= 0 && i < count, "reading index out of range")
        return base![i].time
    }
    /// The value of reading `i`.
    func value(_ i: Int) -> Double {
        precondition(i >= 0 && i < count, "reading index out of range")
        return base![i].value
    }
}

/// A series' buffer of readings: plain values, so growing it moves bytes and freeing it frees
/// memory, nothing more. Changed only through a ``SeriesHistory`` that holds the sole reference.
final class SampleStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<SeriesHistory.Sample>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }
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
