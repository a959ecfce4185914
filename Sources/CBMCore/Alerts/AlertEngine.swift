/// Evaluates the alert rules: on closed windows (low output, low utilisation) and on silence (no
/// data), with the alarm-management practice of ISA-18.2 / EEMUA 191: separate set and clear
/// thresholds (a deadband), on- and off-delays counted in windows, evaluation only of windows with
/// enough coverage (so a backfill neither fires nor hides an alarm), a chatter guard, shelving
/// with an expiry, suppression during maintenance, and acknowledgement.
///
/// A pure value: totals records, reading times, watermark advances and commands in; alert records
/// out. Times are event times, so a replay raises the alarms the live run raised.
public struct AlertEngine: Sendable {
    public private(set) var rules: [AlertRule]
    private var register: AssetRegister
    private var alarms: [Key: Alarm] = [:]
    private var lastSeen: [String: Int64] = [:]
    private var started = Int64.min
    private var watermark = Int64.min
    private var maintenance: [Maintenance] = []

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
        self.rules = rules
        self.register = register
        self.maintenance = maintenance
    }

    /// Takes new rules, register and declared maintenance (a reload): the states of alarms whose
    /// rule is still there are kept.
    public mutating func reconfigure(rules: [AlertRule], register: AssetRegister, maintenance: [Maintenance]) {
        self.rules = rules
        self.register = register
        let names = Set(rules.map(\.name))
        alarms = alarms.filter { names.contains($0.key.rule) }
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
                    judge(rule, r, value: rate, setBelow: below, clearAbove: clear, what: "utilisation rate", into: &out)
                case .noData: continue
                }
            }
        }
    }

    private mutating func evaluateOutput(_ rule: AlertRule, _ t: AlertRule.Threshold, _ r: TotalsRecord, into out: inout [AlertRecord]) {
        guard let value = r.gasM3 ?? r.utilisedM3 ?? r.flaredM3 else { return }
        switch t {
        case .absolute(let below, let clear):
            judge(rule, r, value: value, setBelow: below, clearAbove: clear, into: &out)
        case .fractionOfExpected(let below, let clear):
            let expected = expectedM3d(r.scope, r.id) * Double(r.span.length) / 86_400_000_000
            guard expected > 0 else { return }
            judge(rule, r, value: value, setBelow: below * expected, clearAbove: clear * expected, into: &out)
        case .baseline(let below, let clear, let windows):
            let key = Key(rule: rule.name, scope: r.scope, id: r.id)
            let history = alarms[key]?.history ?? []
            guard r.coverage >= rule.minCoverage, (alarms[key]?.lastWindow ?? .min) < r.span.start.microseconds else { return }
            if history.count >= max(1, windows / 2) {
                let median = Self.median(history)
                judge(rule, r, value: value, setBelow: below * median, clearAbove: clear * median, into: &out)
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

    /// What the register expects a scope to make per day: a well's figure, or the sum of its wells.
    func expectedM3d(_ scope: TotalsRecord.Scope, _ id: String) -> Double {
        let wells = register.assets.filter { $0.kind == .well }
        switch scope {
        case .well: return register[id]?.expectedGasM3d ?? 0
        case .block: return wells.filter { $0.block == id }.reduce(0) { $0 + ($1.expectedGasM3d ?? 0) }
        case .field: return wells.filter { $0.field == id }.reduce(0) { $0 + ($1.expectedGasM3d ?? 0) }
        case .all: return wells.reduce(0) { $0 + ($1.expectedGasM3d ?? 0) }
        default: return 0
        }
    }

    /// One evaluation of a window: the deadband, the delays and the chatter guard.
    private mutating func judge(_ rule: AlertRule, _ r: TotalsRecord, value: Double, setBelow: Double, clearAbove: Double,
                                what: String = "volume", into out: inout [AlertRecord]) {
        let key = Key(rule: rule.name, scope: r.scope, id: r.id)
        var a = alarms[key] ?? Alarm()
        guard r.coverage >= rule.minCoverage, a.lastWindow < r.span.start.microseconds else { return }
        a.lastWindow = r.span.start.microseconds
        let end = r.span.end.microseconds
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
            let message = change == .active
                ? "\(rule.name): \(r.scope.rawValue) \(r.id) \(what) \(Self.show(value)) below \(Self.show(threshold)) for \(a.bad) \(r.window.rawValue) window(s)"
                : "\(rule.name): \(r.scope.rawValue) \(r.id) \(what) \(Self.show(value)) back above \(Self.show(threshold))"
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

    // MARK: silence

    /// Notes when assets were last heard from (the receive time of their latest message: the
    /// wall clock live, the recording's time in a replay, so a backfill of old readings is not
    /// silence); `earliest` is the earliest among them (monitoring begins with the earliest
    /// message, or the first watermark).
    public mutating func seen(_ times: [String: Int64], earliest: Int64? = nil, into out: inout [AlertRecord]) {
        if let earliest, started == .min || earliest < started { started = earliest }
        for (asset, t) in times where t > (lastSeen[asset] ?? .min) {
            lastSeen[asset] = t
            // Data again: a silence alarm clears at the reading's time.
            for rule in rules {
                guard case .noData = rule.kind, let scope = Self.scope(of: asset, register), scope == rule.scope,
                      rule.selection.selects(asset) else { continue }
                let key = Key(rule: rule.name, scope: scope, id: asset)
                guard var a = alarms[key], a.active else { continue }
                a.active = false
                a.acknowledged = false
                let record = AlertRecord(time: Timestamp(microseconds: t), rule: rule.name, scope: scope, id: asset, state: .cleared,
                                         severity: rule.severity, value: nil, threshold: nil, window: nil,
                                         message: "\(rule.name): \(scope.rawValue) \(asset) reports again",
                                         acknowledged: false, suppressedUntil: suppression(key, at: t, shelved: a.shelvedUntil))
                a.last = record
                alarms[key] = a
                out.append(record)
            }
        }
    }

    /// The scope an asset's own alarms have.
    static func scope(of asset: String, _ register: AssetRegister) -> TotalsRecord.Scope? {
        switch register[asset]?.kind {
        case .well?: return .well
        case .delivery?: return .meter
        case .flare?: return .flare
        case nil: return .unregistered
        }
    }

    /// Advances the watermark: assets silent for longer than a rule's `after` raise `no_data` (at
    /// the moment the silence passed it); shelving and maintenance expire.
    public mutating func advance(to w: Timestamp, into out: inout [AlertRecord]) {
        guard w.microseconds > watermark else { return }
        watermark = w.microseconds
        if started == .min { started = watermark }
        for rule in rules {
            guard case .noData(let after) = rule.kind else { continue }
            var candidates = register.assets.map(\.id)
            candidates += lastSeen.keys.filter { register[$0] == nil }
            for asset in candidates {
                guard let scope = Self.scope(of: asset, register), scope == rule.scope, rule.selection.selects(asset) else { continue }
                let since = lastSeen[asset] ?? started
                let due = since + after
                guard watermark >= due else { continue }
                let key = Key(rule: rule.name, scope: scope, id: asset)
                var a = alarms[key] ?? Alarm()
                guard !a.active, (a.last?.time.microseconds ?? .min) < due else { continue }
                a.active = true
                a.acknowledged = false
                let record = AlertRecord(time: Timestamp(microseconds: due), rule: rule.name, scope: scope, id: asset, state: .active,
                                         severity: rule.severity, value: nil, threshold: Double(after) / 1e6, window: nil,
                                         message: "\(rule.name): \(scope.rawValue) \(asset) silent for \(Quantities.describe(microseconds: after))"
                                            + (lastSeen[asset] == nil ? " (no reading since monitoring began)" : ""),
                                         acknowledged: false, suppressedUntil: suppression(key, at: due, shelved: a.shelvedUntil))
                a.last = record
                alarms[key] = a
                out.append(record)
            }
        }
        // Shelving that expires on an active alarm announces it again.
        for key in alarms.keys.sorted() {
            guard var a = alarms[key], let until = a.shelvedUntil, until <= watermark else { continue }
            a.shelvedUntil = nil
            if a.active, var last = a.last, suppression(key, at: watermark, shelved: nil) == nil {
                last.time = Timestamp(microseconds: until)
                last.suppressedUntil = nil
                last.message = "\(key.rule): shelving of \(key.scope.rawValue) \(key.id) expired; still active"
                a.last = last
                out.append(last)
            }
            alarms[key] = a
        }
        maintenance.removeAll { $0.until.microseconds < watermark - 86_400_000_000 }
    }

    /// Until when an alarm is shelved or its asset in maintenance at a time, if it is.
    func suppression(_ key: Key, at t: Int64, shelved: Int64?) -> Timestamp? {
        var until = shelved.flatMap { $0 > t ? $0 : nil }
        for m in maintenance where m.from.microseconds <= t && t < m.until.microseconds && m.selection.selects(key.id) {
            until = max(until ?? .min, m.until.microseconds)
        }
        return until.map { Timestamp(microseconds: $0) }
    }

    // MARK: commands

    /// Applies an operator's command; returns the changed alarm's new record, or why it failed.
    public mutating func apply(_ command: Command, at t: Timestamp) -> Result<AlertRecord?, CommandError> {
        switch command {
        case .maintenance(let m):
            maintenance.append(m)
            return .success(nil)
        case .acknowledge(let rule, let scope, let id, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard var a = alarms[key], var last = a.last else { return .failure(CommandError(message: "no alarm \(scope.rawValue)/\(id)/\(rule)")) }
            guard a.active else { return .failure(CommandError(message: "\(scope.rawValue)/\(id)/\(rule) is not active")) }
            a.acknowledged = true
            last.acknowledged = true
            last.time = t
            last.message = "\(rule): acknowledged by \(by)"
            a.last = last
            alarms[key] = a
            return .success(last)
        case .shelve(let rule, let scope, let id, let until, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard rules.contains(where: { $0.name == rule }) else { return .failure(CommandError(message: "no rule \(rule)")) }
            var a = alarms[key] ?? Alarm()
            a.shelvedUntil = until.microseconds
            var record = a.last ?? AlertRecord(time: t, rule: rule, scope: scope, id: id, state: .cleared,
                                               severity: rules.first { $0.name == rule }!.severity, value: nil, threshold: nil,
                                               window: nil, message: "", acknowledged: false, suppressedUntil: nil)
            record.time = t
            record.suppressedUntil = until
            record.message = "\(rule): shelved by \(by) until \(until)"
            a.last = record
            alarms[key] = a
            return .success(record)
        case .unshelve(let rule, let scope, let id, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard var a = alarms[key], var last = a.last else { return .failure(CommandError(message: "no alarm \(scope.rawValue)/\(id)/\(rule)")) }
            a.shelvedUntil = nil
            last.time = t
            last.suppressedUntil = nil
            last.message = "\(rule): unshelved by \(by)"
            a.last = last
            alarms[key] = a
            return .success(last)
        }
    }

    /// Why a command was refused.
    public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }
}

// MARK: checkpoint

extension AlertRecord {
    func save(into w: inout BinaryWriter) {
        w.int(time.microseconds)
        w.string(rule)
        w.string(scope.rawValue)
        w.string(id)
        w.string(state.rawValue)
        w.string(severity)
        w.optionalDouble(value)
        w.optionalDouble(threshold)
        w.string(window?.rawValue ?? "")
        w.string(message)
        w.bool(acknowledged)
        w.optionalDouble(suppressedUntil.map { Double($0.microseconds) })
    }

    static func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) -> AlertRecord {
        let time = Timestamp(microseconds: try r.int())
        let rule = try r.string()
        guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
        let id = try r.string()
        guard let state = State(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
        return AlertRecord(time: time, rule: rule, scope: scope, id: id, state: state, severity: try r.string(),
                           value: try r.optionalDouble(), threshold: try r.optionalDouble(), window: WindowKind(rawValue: try r.string()),
                           message: try r.string(), acknowledged: try r.bool(),
                           suppressedUntil: try r.optionalDouble().map { Timestamp(microseconds: Int64($0)) })
    }
}

extension AlertEngine {
    /// The alarms' states (and what they remember), for a checkpoint: alarm states survive restarts.
    public func save(into w: inout BinaryWriter) {
        w.int(started)
        w.int(watermark)
        w.int(lastSeen.count)
        for (asset, t) in lastSeen.sorted(by: { $0.key < $1.key }) {
            w.string(asset)
            w.int(t)
        }
        w.int(alarms.count)
        for key in alarms.keys.sorted() {
            let a = alarms[key]!
            w.string(key.rule)
            w.string(key.scope.rawValue)
            w.string(key.id)
            w.bool(a.active)
            w.int(a.bad)
            w.int(a.good)
            w.bool(a.acknowledged)
            w.optionalDouble(a.shelvedUntil.map(Double.init))
            w.int(a.lastWindow)
            w.doubles(a.history)
            w.ints(a.transitions)
            w.bool(a.last != nil)
            a.last?.save(into: &w)
        }
        w.int(maintenance.count)
        for m in maintenance {
            switch m.selection {
            case .all: w.string("all"); w.string("")
            case .ids(let ids): w.string("ids"); w.string(ids.joined(separator: "\u{1}"))
            case .match(let p): w.string("match"); w.string(p)
            }
            w.int(m.from.microseconds)
            w.int(m.until.microseconds)
            w.string(m.reason)
        }
    }

    public mutating func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        started = try r.int()
        watermark = try r.int()
        lastSeen = [:]
        for _ in 0..<(try r.count()) { lastSeen[try r.string()] = try r.int() }
        alarms = [:]
        for _ in 0..<(try r.count()) {
            let rule = try r.string()
            guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let key = Key(rule: rule, scope: scope, id: try r.string())
            var a = Alarm()
            a.active = try r.bool()
            a.bad = Int(try r.int())
            a.good = Int(try r.int())
            a.acknowledged = try r.bool()
            a.shelvedUntil = try r.optionalDouble().map { Int64($0) }
            a.lastWindow = try r.int()
            a.history = try r.doubles()
            a.transitions = try r.ints()
            if try r.bool() { a.last = try AlertRecord.restore(from: &r) }
            alarms[key] = a
        }
        maintenance = []
        for _ in 0..<(try r.count()) {
            let kind = try r.string()
            let text = try r.string()
            let selection: AlertRule.Selection = kind == "ids" ? .ids(text.split(separator: "\u{1}").map(String.init))
                : kind == "match" ? .match(text) : .all
            maintenance.append(Maintenance(selection: selection, from: Timestamp(microseconds: try r.int()),
                                           until: Timestamp(microseconds: try r.int()), reason: try r.string()))
        }
    }
}
