import Foundation

/// Evaluates the alert rules: on closed windows (low output, low utilisation) and on silence (no
/// data), with the alarm-management practice of ISA-18.2 / EEMUA 191: separate set and clear
/// thresholds (a deadband), on- and off-delays counted in windows, evaluation only of windows with
/// enough coverage (so a backfill neither fires nor hides an alarm), a chatter guard, shelving
/// with an expiry, suppression during maintenance, and acknowledgement.
///
/// A pure value: totals records, when assets were heard from, watermark advances and commands in;
/// alert records out. What it raises does not depend on how its input was batched: window rules
/// judge each window once, in window order; silence is judged from each asset's sequence of
/// receive times (active at `last + after` when nothing came by then, cleared at the next
/// receive time); shelving that expires is settled before the next change of its alarm. So a
/// replay raises the alarms the live run raised.
public struct AlertEngine: Sendable {
    public private(set) var rules: [AlertRule]
    private(set) var hierarchy: AssetHierarchy
    var register: AssetRegister { hierarchy.register }
    var alarms: [Key: Alarm] = [:]
    /// When each asset was last heard from (receive time).
    var lastSeen: [String: Int64] = [:]
    /// Where monitoring of silence began (the first time heard).
    var started = Int64.min
    /// The time through which windows have closed (shelving and maintenance expire by it).
    var watermark = Int64.min
    /// The silence clock: the latest receive time (the wall clock, live).
    var clock = Int64.min
    /// No silence can become due before this (a lower bound; the sweep is skipped below it).
    var nextDue = Int64.min
    /// No shelving expires before this (a lower bound).
    var nextExpiry = Int64.min
    var maintenance: [Maintenance] = []
    /// The zone the messages give local times in.
    public var zone = ZoneOffsets(zone: TimeZone(identifier: "UTC")!)

    struct Key: Hashable, Comparable {
        var rule: String
        var scope: TotalsRecord.Scope
        var id: String
        static func < (a: Key, b: Key) -> Bool { (a.rule, a.scope.rawValue, a.id) < (b.rule, b.scope.rawValue, b.id) }
    }

    struct Alarm: Sendable {
        var active = false
        var bad = 0
        var good = 0
        var acknowledged = false
        var shelvedUntil: Int64?
        var lastWindow = Int64.min
        var history: [Double] = []
        var transitions: [Int64] = []
        var last: AlertRecord?
    }

    /// A declared maintenance period: alarms of the selected assets are suppressed.
    public struct Maintenance: Sendable, Equatable {
        public var selection: AlertRule.Selection
        public var from: Timestamp
        public var until: Timestamp
        public var reason: String
        public init(selection: AlertRule.Selection, from: Timestamp, until: Timestamp, reason: String) {
            self.selection = selection
            self.from = from
            self.until = until
            self.reason = reason
        }
    }

    /// An operator's command (from the MQTT command topic).
    public enum Command: Sendable, Equatable {
        case acknowledge(rule: String, scope: TotalsRecord.Scope, id: String, by: String)
        case shelve(rule: String, scope: TotalsRecord.Scope, id: String, until: Timestamp, by: String)
        case unshelve(rule: String, scope: TotalsRecord.Scope, id: String, by: String)
        case maintenance(Maintenance)
    }

    public init(rules: [AlertRule], register: AssetRegister, maintenance: [Maintenance] = []) {
        self.init(rules: rules, hierarchy: AssetHierarchy(register), maintenance: maintenance)
    }

    public init(rules: [AlertRule], hierarchy: AssetHierarchy, maintenance: [Maintenance] = []) {
        self.rules = rules
        self.hierarchy = hierarchy
        self.maintenance = maintenance
    }

    /// Takes new rules, register and declared maintenance (a reload): the states of alarms whose
    /// rule is still there are kept.
    public mutating func reconfigure(rules: [AlertRule], hierarchy: AssetHierarchy, maintenance: [Maintenance]) {
        self.rules = rules
        self.hierarchy = hierarchy
        let names = Set(rules.map(\.name))
        alarms = alarms.filter { names.contains($0.key.rule) }
        nextDue = .min
        self.maintenance = maintenance + self.maintenance.filter { m in !maintenance.contains(m) }
    }

    /// The latest record of every alarm that has one (for the retained MQTT states).
    public var states: [AlertRecord] { alarms.keys.sorted().compactMap { alarms[$0]?.last } }

    // MARK: windows

    /// Evaluates window rules on totals records as they are written (closings and corrections).
    /// A window is evaluated once, the first time it has enough coverage, and only if it is later
    /// than the last window evaluated for that alarm.
    public mutating func evaluate(_ records: [TotalsRecord], into out: inout [AlertRecord]) {
        for r in records where r.revision > 0 {
            for rule in rules where rule.window == r.window && rule.scope == r.scope && rule.selection.selects(r.id) {
                switch rule.kind {
                case .lowOutput(let t): evaluateOutput(rule, t, r, into: &out)
                case .lowUtilisation(let below, let clear):
                    guard let rate = r.utilisationRate else { continue }
                    judge(rule, r, value: rate, setBelow: below, clearAbove: clear, reference: .rate, into: &out)
                case .noData: continue
                }
            }
        }
    }

    private mutating func evaluateOutput(_ rule: AlertRule, _ t: AlertRule.Threshold, _ r: TotalsRecord, into out: inout [AlertRecord]) {
        guard let value = r.gasM3 ?? r.utilisedM3 ?? r.flaredM3 else { return }
        switch t {
        case .absolute(let below, let clear):
            judge(rule, r, value: value, setBelow: below, clearAbove: clear, reference: .absolute, into: &out)
        case .fractionOfExpected(let below, let clear):
            let expected = hierarchy.expectedGasM3d(r.scope, r.id) * Double(r.span.length) / 86_400_000_000
            guard expected > 0 else { return }
            judge(rule, r, value: value, setBelow: below * expected, clearAbove: clear * expected,
                  reference: .expected(expected, fraction: below, median: nil), into: &out)
        case .baseline(let below, let clear, let windows):
            let key = Key(rule: rule.name, scope: r.scope, id: r.id)
            let history = alarms[key]?.history ?? []
            guard r.coverage >= rule.minCoverage, (alarms[key]?.lastWindow ?? .min) < r.span.start.microseconds else { return }
            if history.count >= max(1, windows / 2) {
                let median = Self.median(history)
                judge(rule, r, value: value, setBelow: below * median, clearAbove: clear * median,
                      reference: .expected(median, fraction: below, median: history.count), into: &out)
            } else {
                alarms[key, default: Alarm()].lastWindow = r.span.start.microseconds
            }
            var h = alarms[key]?.history ?? []
            h.append(value)
            if h.count > windows { h.removeFirst(h.count - windows) }
            alarms[key, default: Alarm()].history = h
        }
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// One evaluation of a window: the deadband, the delays and the chatter guard.
    private mutating func judge(_ rule: AlertRule, _ r: TotalsRecord, value: Double, setBelow: Double, clearAbove: Double,
                                reference: Reference, into out: inout [AlertRecord]) {
        let key = Key(rule: rule.name, scope: r.scope, id: r.id)
        var a = alarms[key] ?? Alarm()
        guard r.coverage >= rule.minCoverage, a.lastWindow < r.span.start.microseconds else { return }
        a.lastWindow = r.span.start.microseconds
        let end = r.span.end.microseconds
        settle(key, &a, before: end, into: &out)
        if value < setBelow {
            a.bad += 1
            a.good = 0
        } else if value >= clearAbove {
            a.good += 1
            a.bad = 0
        }  // inside the deadband: the counts stand
        var change: AlertRecord.State?
        if !a.active && a.bad >= rule.onDelay { change = .active }
        if a.active && a.good >= rule.offDelay { change = .cleared }
        // The chatter guard: at most three changes in twelve windows.
        let horizon = end - 12 * r.span.length
        a.transitions.removeAll { $0 <= horizon }
        if change != nil && a.transitions.count >= 3 { change = nil }
        if let change {
            a.active = change == .active
            a.acknowledged = false
            a.transitions.append(end)
            let threshold = change == .active ? setBelow : clearAbove
            var shownReference = reference
            // A clearing is judged on the clear fraction.
            if change == .cleared, case .expected(let e, _, let m) = reference, e > 0 { shownReference = .expected(e, fraction: clearAbove / e, median: m) }
            let message = windowMessage(r, active: change == .active, value: value, threshold: threshold, reference: shownReference,
                                        running: a.bad)
            let record = AlertRecord(time: Timestamp(microseconds: end), rule: rule.name, scope: r.scope, id: r.id, state: change,
                                     severity: rule.severity, value: value, threshold: threshold, window: r.window, message: message,
                                     acknowledged: false, suppressedUntil: suppression(key, at: end, shelved: a.shelvedUntil))
            a.last = record
            out.append(record)
        }
        alarms[key] = a
    }

    static func show(_ v: Double) -> String {
        let r = (v * 1000).rounded() / 1000
        return r == r.rounded() ? String(Int64(r)) : String(r)
    }
}
