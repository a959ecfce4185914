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
        let time = Timestamp(microseconds: try r.time())
        let rule = try r.string()
        guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
        let id = try r.string()
        guard let state = State(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
        return AlertRecord(time: time, rule: rule, scope: scope, id: id, state: state, severity: try r.string(),
                           value: try r.optionalDouble(), threshold: try r.optionalDouble(), window: WindowKind(rawValue: try r.string()),
                           message: try r.string(), acknowledged: try r.bool(),
                           suppressedUntil: try r.optionalTime().map { Timestamp(microseconds: $0) })
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
        // Version 2.
        w.int(clock)
    }

    /// All or nothing: a state that fails to read leaves this one as it was.
    public mutating func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        var restored = self
        try restored.restoreInPlace(from: &r)
        self = restored
    }

    private mutating func restoreInPlace(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        started = try r.time(never: true)
        watermark = try r.time(never: true)
        lastSeen = [:]
        for _ in 0..<(try r.count()) { lastSeen[try r.string()] = try r.time(never: true) }
        alarms = [:]
        for _ in 0..<(try r.count()) {
            let rule = try r.string()
            guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let key = Key(rule: rule, scope: scope, id: try r.string())
            var a = Alarm()
            a.active = try r.bool()
            a.bad = Int(try r.amount())
            a.good = Int(try r.amount())
            a.acknowledged = try r.bool()
            a.shelvedUntil = try r.optionalTime()
            a.lastWindow = try r.time(never: true)
            a.history = try r.doubles()
            a.transitions = try r.times(ascending: false)
            if try r.bool() { a.last = try AlertRecord.restore(from: &r) }
            alarms[key] = a
        }
        maintenance = []
        for _ in 0..<(try r.count()) {
            let kind = try r.string()
            let text = try r.string()
            let selection: AlertRule.Selection = kind == "ids" ? .ids(text.split(separator: "\u{1}").map(String.init))
                : kind == "match" ? .match(text) : .all
            maintenance.append(Maintenance(selection: selection, from: Timestamp(microseconds: try r.time()),
                                           until: Timestamp(microseconds: try r.time()), reason: try r.string()))
        }
        // Version 1 judged silence by the watermark: its last value is the nearest clock.
        clock = r.version >= 2 ? try r.time(never: true) : watermark
        nextDue = .min
        nextExpiry = .min
    }
}
