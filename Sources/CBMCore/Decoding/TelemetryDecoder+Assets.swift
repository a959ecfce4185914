extension TelemetryDecoder {
    /// What the decoder keeps of one asset: its series, its bounds, its totalizers' last readings.
    struct AssetState: Sendable {
        /// The asset, by number: what its readings carry.
        var id: AssetID
        /// A bit per measurement with a series.
        var mask: UInt16 = 0
        /// Whether the register has it.
        var known = false
        /// The highest plausible gas rate, m³/d, and the key that sets it.
        var maxGas = Double.infinity
        var maxGasKey = ""
        var gasTotal = CounterState()
        var waterTotal = CounterState()
        /// The rules its totalizers' readings last carried, numbered (looked up once, not once a
        /// reading).
        var gasRules = NumberedRules()
        var waterRules = NumberedRules()

        mutating func bounds(_ asset: Asset?, _ p: Plausibility) {
            known = asset != nil
            (maxGas, maxGasKey) = p.maxGasRate(of: asset)
        }
    }

    /// A totalizer's latest reading in time order, and the reading after it that was rejected.
    struct CounterState: Sendable, Equatable {
        var time = Int64.min
        var value = 0.0
        var rejectedTime = Int64.min
        var rejectedValue = 0.0
    }

    /// The last rules numbered, and their number.
    struct NumberedRules: Sendable {
        private var rules: CounterRules?
        private var number = CounterRules.Number.none

        /// The number of `r`: the one kept when `r` is the same rules.
        mutating func number(of r: CounterRules) -> CounterRules.Number {
            if r != rules {
                rules = r
                number = CounterRules.number(of: r)
            }
            return number
        }
    }

    /// Whether a reading's series is admitted.
    enum Admission {
        case admitted(Int)
        case refused(RejectReason)
    }

    /// Checks the register and the series limits for a new reading; the asset's index when it is
    /// admitted.
    /// `hint`: the route of the topic that named the asset, which may know its index.
    mutating func admit(asset: String, measurement: Measurement, hint: RouteRule? = nil) -> Admission {
        let bit = measurement.bit
        var a = -1
        // The topic's hint first: it is right for nearly every message, and an id equal to it is
        // nearly always the very same string (one comparison of its bits).
        if let h = hint?.assetIndex.load(ordering: .relaxed), h >= 0, h < ids.count, ids[h] == asset {
            a = h
            if cacheIndex != h {
                cacheAsset = asset
                cacheIndex = h
            }
        } else if cacheIndex >= 0 && asset == cacheAsset {
            a = cacheIndex
        } else if let i = index[asset] {
            a = i
            cacheAsset = asset
            cacheIndex = i
            hint?.assetIndex.store(i, ordering: .relaxed)
        }
        if a >= 0 && assets[a].mask & bit != 0 { return .admitted(a) }
        let known = a >= 0 ? assets[a].known : register[asset] != nil
        if !known && !limits.acceptUnknownAssets { return .refused(.unknownAsset(id: asset)) }
        if seriesTotal >= limits.maxSeries { return .refused(.tooManySeries(limit: limits.maxSeries)) }
        if !known {
            if unknownSeries >= limits.maxUnknownSeries { return .refused(.tooManyUnknownSeries(limit: limits.maxUnknownSeries)) }
            unknownSeries += 1
        }
        if a < 0 {
            a = add(asset)
            hint?.assetIndex.store(a, ordering: .relaxed)
        }
        assets[a].mask |= bit
        seriesTotal += 1
        return .admitted(a)
    }

    private mutating func add(_ asset: String) -> Int {
        let a = assets.count
        var state = AssetState(id: AssetID(asset))
        state.bounds(register[asset], limits.plausibility)
        index[asset] = a
        assets.append(state)
        ids.append(asset)
        cacheAsset = asset
        cacheIndex = a
        return a
    }

    /// The number of the rules a totalizer reading of asset `a` carries (none for other measurements).
    mutating func counterNumber(_ rules: CounterRules, measurement m: Measurement, asset a: Int) -> CounterRules.Number {
        switch m {
        case .gasTotal: return assets[a].gasRules.number(of: rules)
        case .waterTotal: return assets[a].waterRules.number(of: rules)
        default: return .none
        }
    }

    /// Checks a converted value against its plausible bounds, and a totalizer's change against
    /// the rate its asset can make; sets the totalizer's bound into its counter rules `rules` (for the
    /// aggregator, which judges readings that arrive out of time order). Nil when plausible.
    mutating func check(_ value: Double, path: @autoclosure () -> String, measurement m: Measurement, asset a: Int, time t: Int64,
                        counter rules: inout CounterRules) -> RejectReason? {
        let b = limits.plausibility[m]
        if let lo = b.min, value < lo {
            return .implausibleValue(path: path(), value: value, unit: m.dimension.reportingUnit, limit: lo, above: false,
                                     key: "plausibility.\(m.rawValue).min")
        }
        switch m {
        case .gasRate:
            if value > assets[a].maxGas {
                return .implausibleValue(path: path(), value: value, unit: m.dimension.reportingUnit, limit: assets[a].maxGas,
                                         above: true, key: assets[a].maxGasKey)
            }
            return nil
        case .gasTotal, .waterTotal:
            if let hi = b.max, value > hi {
                return .implausibleValue(path: path(), value: value, unit: m.dimension.reportingUnit, limit: hi, above: true,
                                         key: "plausibility.\(m.rawValue).max")
            }
            rules.maxRateM3d = m == .gasTotal ? assets[a].maxGas : limits.plausibility.maxRate(.waterTotal, of: nil).limit
            rules.minSpanUS = limits.plausibility.totalizerSpanUS
            rules.stepBackSpanUS = limits.plausibility.stepBackSpanUS
            var c = m == .gasTotal ? assets[a].gasTotal : assets[a].waterTotal
            let reason = Self.judge(&c, value: value, time: t, rules: rules, path: path(),
                                    key: m == .gasTotal ? assets[a].maxGasKey : limits.plausibility.maxRate(.waterTotal, of: nil).key)
            if m == .gasTotal { assets[a].gasTotal = c } else { assets[a].waterTotal = c }
            return reason
        default:
            if let hi = b.max, value > hi {
                return .implausibleValue(path: path(), value: value, unit: m.dimension.reportingUnit, limit: hi, above: true,
                                         key: "plausibility.\(m.rawValue).max")
            }
            return nil
        }
    }

    /// Judges a totalizer reading against the one before it in time: a rise the rate bound does
    /// not allow, or a fall larger than a correction can be (neither a reset nor a rollover), is
    /// rejected, and the counter goes on from the reading before. A reading after a rejected
    /// one that agrees with it is taken (the counter holds its new level: a meter exchanged, or
    /// the reading before was the odd one); the interval across the jump is then not counted.
    /// Readings out of time order are judged when they are totalled.
    static func judge(_ c: inout CounterState, value: Double, time t: Int64, rules: CounterRules, path: @autoclosure () -> String,
                      key: @autoclosure () -> String) -> RejectReason?
    {
        guard t > c.time else { return nil }
        if c.time == .min {
            c = CounterState(time: t, value: value)
            return nil
        }
        let change = TotalizerChange.classify(from: c.value, to: value, rules)
        if rules.isPlausible(change, overUS: t - c.time) {
            c = CounterState(time: t, value: value)
            return nil
        }
        if c.rejectedTime > c.time && c.rejectedTime < t,
           rules.isPlausible(TotalizerChange.classify(from: c.rejectedValue, to: value, rules), overUS: t - c.rejectedTime) {
            c = CounterState(time: t, value: value)
            return nil
        }
        let span = t - c.time
        let reason: RejectReason
        if case .stepBack(let d) = change {
            reason = .implausibleStepBack(path: path(), from: c.value, to: value, spanUS: span, amount: -d,
                                          allowed: rules.maxStepBack(overUS: span), key: key())
        } else {
            reason = .implausibleIncrease(path: path(), from: c.value, to: value, spanUS: span, counted: change.counted,
                                          allowed: rules.maxIncrease(overUS: span), key: key())
        }
        c.rejectedTime = t
        c.rejectedValue = value
        return reason
    }
}
