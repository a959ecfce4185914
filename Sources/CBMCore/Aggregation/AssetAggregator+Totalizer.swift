/// How the aggregator judges a totalizer's new reading against its neighbours: quiet (a plain,
/// plausible increase, nearly every reading), or an event to write.
extension AssetAggregator {
    /// Whether both intervals next to a new totalizer reading `i` are plain, plausible increases
    /// (nearly every reading's) under the series' rules: then
    /// ``noteChanges(_:at:asset:events:)`` has nothing to say.
    @inline(__always)
    static func isQuiet(_ h: SeriesHistory, at i: Int, rules: CounterRules) -> Bool {
        @inline(__always) func plain(_ a: Int, _ b: Int) -> Bool {
            isPlainIncrease(from: h.value(a), to: h.value(b), overUS: h.time(b) - h.time(a), rules: rules)
        }
        return (i == 0 || plain(i - 1, i)) && (i + 1 >= h.count || plain(i, i + 1))
    }

    /// Whether a totalizer interval is a plain increase its rules allow (no event to note).
    @inline(__always)
    static func isPlainIncrease(from v1: Double, to v2: Double, overUS span: Int64, rules: CounterRules) -> Bool {
        let d = v2 - v1
        return d >= 0 && d <= rules.maxIncrease(overUS: span)
    }

    /// Writes an event for each interval next to a new totalizer reading that is not a plain
    /// increase: a step back, a reset, a rollover, or a jump that implies an impossible rate.
    static func noteChanges(_ h: SeriesHistory, at i: Int, asset: String, events: inout [EventRecord]) {
        if i > 0 { note(h, from: i - 1, to: i, asset: asset, events: &events) }
        if i + 1 < h.count { note(h, from: i, to: i + 1, asset: asset, events: &events) }
    }

    static func note(_ h: SeriesHistory, from a: Int, to b: Int, asset: String, events: inout [EventRecord]) {
        let v1 = h.value(a), v2 = h.value(b)
        let change = TotalizerChange.classify(from: v1, to: v2, h.counter)
        let t = Timestamp(microseconds: h.time(b))
        let span = h.time(b) - h.time(a)
        func n(_ v: Double) -> String { Quantities.describe(number: v) }
        if !h.counter.isPlausible(change, overUS: span) {
            let bound = change.counted < 0 ? "\(n(h.counter.maxStepBack(overUS: span))) m3 a correction can take back"
                : "\(n(h.counter.maxIncrease(overUS: span))) m3 that \(n(h.counter.maxRateM3d)) m3/d allows"
            events.append(EventRecord(time: t, kind: .totalizerJump, id: asset,
                detail: "totalizer went from \(n(v1)) to \(n(v2)) m3 in \(Quantities.describe(microseconds: span)), "
                    + "\(n(change.counted)) m3, beyond the \(bound): the interval is not counted"))
            return
        }
        switch change {
        case .increase: return
        case .stepBack(let amount):
            events.append(EventRecord(time: t, kind: .totalizerStepBack, id: asset,
                detail: "totalizer stepped back from \(n(v1)) to \(n(v2)) m3: \(n(amount)) m3 counted (a correction)"))
        case .rollover(let counted):
            events.append(EventRecord(time: t, kind: .totalizerRollover, id: asset,
                detail: "totalizer went from \(n(v1)) to \(n(v2)) m3 and rolled over at \(n(h.counter.rollover ?? 0)): "
                    + "\(n(counted)) m3 counted"))
        case .reset:
            events.append(EventRecord(time: t, kind: .totalizerReset, id: asset,
                detail: "totalizer went from \(n(v1)) to \(n(v2)) m3, near zero: taken as a reset, \(n(v2)) m3 counted from zero"))
        }
    }
}
