import CBMCore
import Foundation

extension Validator {
    // MARK: aggregation, limits

    mutating func aggregation(_ raw: RawAggregation?, _ path: ConfigPath) -> AggregationSettings {
        var a = AggregationSettings()
        if let tz = raw?.timezone {
            if let zone = TimeZone(identifier: tz) { a.timeZone = zone } else {
                problem(path / "timezone", "unknown time zone \"\(tz)\" (an IANA name such as Asia/Shanghai)")
            }
        }
        if let ds = raw?.dayStart {
            let parts = ds.split(separator: ":")
            if parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m), parts[1].count == 2 {
                a.dayStartMinutes = h * 60 + m
            } else {
                problem(path / "day_start", "\"\(ds)\" is not a time of day HH:MM (quote it: \"08:00\")")
            }
        }
        if let ws = raw?.windows {
            var kinds: [WindowKind] = []
            for (i, w) in ws.enumerated() {
                guard let k = WindowKind(rawValue: w) else {
                    problem((path / "windows").index(i), "unknown window \"\(w)\" (use hour, day, month)")
                    continue
                }
                if kinds.contains(k) { problem((path / "windows").index(i), "\"\(w)\" is listed twice") }
                kinds.append(k)
            }
            if ws.isEmpty { problem(path / "windows", "empty: keep at least one of hour, day, month") }
            a.windows = WindowKind.allCases.filter(kinds.contains)
        }
        a.basis = basis(raw?.basis, path / "basis", default: a.basis)
        a.allowedLatenessUS = duration(raw?.allowedLateness, path / "allowed_lateness", default: a.allowedLatenessUS)
        a.maxGapUS = duration(raw?.maxGap, path / "max_gap", default: a.maxGapUS)
        a.flushIntervalUS = duration(raw?.flushInterval, path / "flush_interval", default: a.flushIntervalUS)
        // The in-memory span: a tuning knob (older readings are in the history archive). Its old
        // name, `horizon`, was also a limit on what was accepted; it no longer is.
        if raw?.horizon != nil {
            warning(path / "horizon", "no longer limits what is accepted (limits.max_past does): it is read as aggregation.hot_span, "
                + "the span of readings kept in memory")
        }
        let hotKey = raw?.hotSpan != nil || raw?.horizon == nil ? "hot_span" : "horizon"
        a.horizonUS = duration(raw?.hotSpan ?? raw?.horizon, path / hotKey, default: a.horizonUS)
        if a.horizonUS < a.allowedLatenessUS + 3_600_000_000 {
            problem(path / hotKey, "must be at least allowed_lateness plus 1h (corrections of the last closed hour)")
        }
        if let i = raw?.integration {
            if let v = Integration(rawValue: i) { a.integration = v } else {
                problem(path / "integration", "unknown integration \"\(i)\" (use trapezoid or step)")
            }
        }
        return a
    }

    mutating func limits(_ raw: RawLimits?, _ path: ConfigPath) -> DecodeLimits {
        var l = DecodeLimits()
        l.maxPayload = Int(size(raw?.maxPayload, path / "max_payload", default: Int64(l.maxPayload)))
        if l.maxPayload > 268_435_455 { problem(path / "max_payload", "larger than any MQTT packet (256MiB)") }
        l.maxFutureUS = duration(raw?.maxFuture, path / "max_future", default: l.maxFutureUS)
        l.maxPastUS = duration(raw?.maxPast, path / "max_past", default: l.maxPastUS)
        l.maxSeries = integer(raw?.maxSeries, path / "max_series", default: l.maxSeries, range: 1...100_000_000)
        l.maxReceiveJumpUS = duration(raw?.maxReceiveJump, path / "max_receive_jump", default: l.maxReceiveJumpUS)
        if l.maxReceiveJumpUS < 60_000_000 { problem(path / "max_receive_jump", "must be at least 1m") }
        return l
    }

    mutating func plausibility(_ raw: RawPlausibility?, _ path: ConfigPath) -> Plausibility {
        var p = Plausibility()
        for (m, given) in raw?.byMeasurement ?? [] {
            guard let given else { continue }
            let at = path / m.rawValue
            var b = p.bounds[m] ?? Plausibility.Bounds()
            if let t = given.min { b.min = bound(t, at / "min", unit: m.dimension.reportingUnit) }
            if let t = given.max { b.max = bound(t, at / "max", unit: m.dimension.reportingUnit) }
            if let lo = b.min, let hi = b.max, lo > hi { problem(at, "min \(lo) is above max \(hi)") }
            p.bounds[m] = b
        }
        if let t = raw?.wellRateFactor {
            if t == "none" {
                p.wellRateFactor = nil
            } else if let v = DecimalNumber.parse(t), v.isFinite, v > 0 {
                p.wellRateFactor = v
            } else {
                problem(path / "well_rate_factor", "\"\(t)\" is not a positive number (a multiple of expected_gas_m3d), or none")
            }
        }
        p.totalizerSpanUS = duration(raw?.totalizerSpan, path / "totalizer_span", default: p.totalizerSpanUS)
        p.stepBackSpanUS = duration(raw?.stepBackSpan, path / "step_back_span", default: p.stepBackSpanUS)
        return p
    }

    /// A bound: a decimal number in the reporting unit, or `none`.
    mutating func bound(_ text: String, _ path: ConfigPath, unit: String) -> Double? {
        if text == "none" { return nil }
        guard let v = DecimalNumber.parse(text), v.isFinite else {
            problem(path, "\"\(text)\" is not a number (in \(unit), the reporting unit), or none")
            return nil
        }
        return v
    }

    /// A share from 0 to 1: a number, or a percentage (`10%`).
    mutating func share(_ text: String, _ path: ConfigPath) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let v = t.hasSuffix("%") ? DecimalNumber.parse(t.dropLast()).map { $0 / 100 } : DecimalNumber.parse(t)
        guard let v, v >= 0, v <= 1 else {
            problem(path, "\"\(text)\" is not a share from 0 to 1 (or 0% to 100%)")
            return nil
        }
        return v
    }
}
