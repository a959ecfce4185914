/// The text of an alarm, for the person on shift: what is low, by how much, in which period,
/// against what was expected, and for how long:
/// `W-F2-0121: 3.2 m³ in the hour 04:00–05:00, expected 6.3 m³ (50 % threshold 3.2 m³), 2nd hour running`.
/// Volumes are m³ at the reporting basis; times are local in the aggregation's zone.
extension AlertEngine {
    /// What a window rule's threshold was made from.
    enum Reference {
        /// A fixed volume.
        case absolute
        /// A fraction of what the asset was expected to give in the window (the register's
        /// expected rate, or the median of its recent windows: `median` of them).
        case expected(Double, fraction: Double, median: Int?)
        /// A rate (utilisation), shown as a percentage.
        case rate
    }

    /// The message of a window alarm's change.
    mutating func windowMessage(_ r: TotalsRecord, active: Bool, value: Double, threshold: Double, reference: Reference,
                                running: Int) -> String {
        let shown: (Double) -> String
        if case .rate = reference { shown = { Self.percent($0) } } else { shown = { Self.volume($0) + " m³" } }
        let what = if case .rate = reference { "utilisation rate \(shown(value))" } else { shown(value) }
        var text = "\(Self.subject(r.scope, r.id)): \(what) in \(period(r)), "
        switch (reference, active) {
        case (.expected(let expected, let fraction, let median), true):
            text += "expected \(shown(expected))"
            if let median { text += ", the median of its last \(median) \(Self.unit(r.window))s" }
            text += " (\(Self.percent(fraction)) threshold \(shown(threshold)))"
        case (.expected(let expected, let fraction, _), false):
            text += "back above \(shown(threshold)) (\(Self.percent(fraction)) of the expected \(shown(expected)))"
        case (_, true): text += "below the threshold \(shown(threshold))"
        case (_, false): text += "back above \(shown(threshold))"
        }
        if active { text += ", \(Self.ordinal(running)) \(Self.unit(r.window)) running" }
        return text
    }

    /// The message of a silence alarm: since when nothing came, and what the rule allows.
    mutating func silenceMessage(_ scope: TotalsRecord.Scope, _ id: String, due: Int64, afterUS: Int64, neverHeard: Bool,
                                 offline: Bool) -> String {
        let subject = Self.subject(scope, id)
        if offline { return "\(subject): offline at \(clock(due, from: due)): its Sparkplug edge node or device died" }
        let since = clock(due - afterUS, from: due)
        return "\(subject): silent, " + (neverHeard ? "no data since monitoring began at \(since)" : "no data since \(since)")
            + " (\(Self.duration(afterUS)) allowed)"
    }

    /// The message of a silence alarm's clearing.
    mutating func reportsAgainMessage(_ scope: TotalsRecord.Scope, _ id: String, at t: Int64) -> String {
        "\(Self.subject(scope, id)): reports again at \(clock(t, from: t))"
    }

    /// A well by its id; anything else by its scope and id.
    static func subject(_ scope: TotalsRecord.Scope, _ id: String) -> String {
        switch scope {
        case .well: id
        case .all: "the whole field"
        default: "\(scope.rawValue) \(id)"
        }
    }

    /// `the hour 04:00–05:00`, `the gas day 2026-11-28`, `the month 2026-11` (local).
    mutating func period(_ r: TotalsRecord) -> String {
        let start = local(r.span.start.microseconds)
        switch r.window {
        case .hour: return "the hour \(start.dropFirst(11))–\(local(r.span.end.microseconds).dropFirst(11))"
        case .day: return "the gas day \(start.prefix(10))"
        case .month: return "the month \(start.prefix(7))"
        }
    }

    /// `04:12` when on the local day of `reference`, else `2026-11-27 23:50`.
    mutating func clock(_ t: Int64, from reference: Int64) -> String {
        let text = local(t)
        return text.prefix(10) == local(reference).prefix(10) ? String(text.dropFirst(11)) : text
    }

    /// `2026-11-28 04:00` in the zone.
    private mutating func local(_ t: Int64) -> String {
        let time = Timestamp(microseconds: t)
        let iso = RFC3339.format(time, offsetSeconds: zone.offset(at: time))
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(5))
    }

    /// `45 s`, `30 min`, `1 h 30 min`, `2 d`.
    static func duration(_ us: Int64) -> String {
        let s = us / 1_000_000
        if s < 60 { return "\(s) s" }
        if s % 86_400 == 0 { return "\(s / 86_400) d" }
        let (h, m) = (s / 3600, s % 3600 / 60)
        return h == 0 ? "\(m) min" : m == 0 ? "\(h) h" : "\(h) h \(m) min"
    }

    static func unit(_ w: WindowKind) -> String { w == .hour ? "hour" : w == .day ? "day" : "month" }

    /// `1st`, `2nd`, `3rd`, `4th` … `11th`, `12th`, `13th`, `21st`.
    static func ordinal(_ n: Int) -> String {
        let suffix = (11...13).contains(n % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][n % 10] ?? "th"
        return "\(n)\(suffix)"
    }

    /// A volume as a person reads it: whole above 100, one decimal above 1, else three.
    static func volume(_ v: Double) -> String {
        let digits = abs(v) >= 100 ? 0 : abs(v) >= 1 ? 1 : 3
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return show((v * scale).rounded() / scale)
    }

    /// `50 %`, `62.5 %`.
    static func percent(_ fraction: Double) -> String { show((fraction * 1000).rounded() / 10) + " %" }
}
