extension AlertEngine {
    // MARK: silence

    /// Takes when assets were heard from (receive times: the wall clock live, the recording's
    /// time in a replay, so a backfill of old readings is not silence). Every gap in an asset's
    /// receive times longer than a rule's `after` is a silence: active at the start of the gap
    /// plus `after`, cleared at its end; an asset still silent when the clock passes its
    /// `last + after` is active from then. Monitoring begins at the first time heard.
    public mutating func heard(_ h: HeardFrom, into out: inout [AlertRecord]) {
        guard !h.isEmpty else { return }
        if started == .min { started = h.start }
        var made: [AlertRecord] = []
        let silence = silenceRules
        if !silence.isEmpty {
            for (asset, x) in h.assets {
                let scope = hierarchy.scope(of: asset)
                for (rule, after) in silence where rule.scope == scope && rule.selection.selects(asset) {
                    let key = Key(rule: rule.name, scope: scope, id: asset)
                    let known = alarms[key]
                    let before = lastSeen[asset]
                    if known?.active != true && x.gaps.isEmpty && x.first - (before ?? started) <= after { continue }
                    var a = known ?? Alarm()
                    for (i, gap) in ([HeardFrom.Gap(from: before ?? started, to: x.first)] + x.gaps).enumerated() {
                        if !a.active && gap.to - gap.from > after {
                            raise(rule, after, key, &a, at: gap.from + after, neverHeard: i == 0 && before == nil, into: &made)
                        }
                        if a.active { clear(rule, key, &a, at: gap.to, into: &made) }
                    }
                    alarms[key] = a
                }
            }
        }
        // Deaths: silent at once, until heard again.
        for asset in h.offline.keys.sorted() where !silence.isEmpty {
            let o = h.offline[asset]!
            let scope = hierarchy.scope(of: asset)
            for (rule, after) in silence where rule.scope == scope && rule.selection.selects(asset) {
                let key = Key(rule: rule.name, scope: scope, id: asset)
                var a = alarms[key] ?? Alarm()
                if !a.active { raise(rule, after, key, &a, at: o.at, neverHeard: false, offline: true, into: &made) }
                if let back = o.back, a.active { clear(rule, key, &a, at: back, into: &made) }
                alarms[key] = a
            }
        }
        var minAfter = Int64.max
        for (_, after) in silence { minAfter = min(minAfter, after) }
        for (asset, x) in h.assets where x.last > lastSeen[asset] ?? .min {
            lastSeen[asset] = x.last
            if minAfter != .max { nextDue = min(nextDue, x.last + minAfter) }
        }
        if h.clock > clock { clock = h.clock }
        sweepSilence(into: &made)
        out += made.sorted(by: Self.order)
    }

    /// The `no_data` rules and their `after`.
    var silenceRules: [(AlertRule, Int64)] {
        rules.compactMap { r in if case .noData(let after) = r.kind { return (r, after) } else { return nil } }
    }

    /// Records made together, in a fixed order (time, then alarm, cleared before active).
    static func order(_ a: AlertRecord, _ b: AlertRecord) -> Bool {
        (a.time, a.rule, a.scope.rawValue, a.id, a.state.rawValue) < (b.time, b.rule, b.scope.rawValue, b.id, b.state.rawValue)
    }

    /// Assets still silent when the clock has passed their `last + after` become active then.
    mutating func sweepSilence(into out: inout [AlertRecord]) {
        guard started != .min, clock > nextDue else { return }
        var next = Int64.max
        for (rule, after) in silenceRules {
            var candidates: [String] = []
            if rule.scope == .unregistered {
                candidates = lastSeen.keys.filter { register[$0] == nil }.sorted()
            } else {
                for a in register.assets where hierarchy.scope(of: a.id) == rule.scope { candidates.append(a.id) }
            }
            for asset in candidates where rule.selection.selects(asset) {
                let due = (lastSeen[asset] ?? started) + after
                let key = Key(rule: rule.name, scope: rule.scope, id: asset)
                if alarms[key]?.active == true { continue }
                guard clock > due else {
                    next = min(next, due)
                    continue
                }
                guard (alarms[key]?.last?.time.microseconds ?? .min) < due else { continue }
                var a = alarms[key] ?? Alarm()
                raise(rule, after, key, &a, at: due, neverHeard: lastSeen[asset] == nil, into: &out)
                alarms[key] = a
            }
        }
        nextDue = next
    }

    private mutating func raise(_ rule: AlertRule, _ after: Int64, _ key: Key, _ a: inout Alarm, at due: Int64, neverHeard: Bool,
                                offline: Bool = false, into out: inout [AlertRecord]) {
        settle(key, &a, before: due, into: &out)
        a.active = true
        a.acknowledged = false
        let record = AlertRecord(time: Timestamp(microseconds: due), rule: rule.name, scope: key.scope, id: key.id, state: .active,
                                 severity: rule.severity, value: nil, threshold: Double(after) / 1e6, window: nil,
                                 message: silenceMessage(key.scope, key.id, due: due, afterUS: after, neverHeard: neverHeard, offline: offline),
                                 acknowledged: false, suppressedUntil: suppression(key, at: due, shelved: a.shelvedUntil))
        a.last = record
        out.append(record)
    }

    private mutating func clear(_ rule: AlertRule, _ key: Key, _ a: inout Alarm, at t: Int64, into out: inout [AlertRecord]) {
        settle(key, &a, before: t, into: &out)
        a.active = false
        a.acknowledged = false
        let record = AlertRecord(time: Timestamp(microseconds: t), rule: rule.name, scope: key.scope, id: key.id, state: .cleared,
                                 severity: rule.severity, value: nil, threshold: nil, window: nil,
                                 message: reportsAgainMessage(key.scope, key.id, at: t),
                                 acknowledged: false, suppressedUntil: suppression(key, at: t, shelved: a.shelvedUntil))
        a.last = record
        out.append(record)
    }

    // MARK: shelving, maintenance

    /// Before a change of an alarm at `t`: a shelving that expired by then ends first, and an
    /// alarm still active when it expired is announced again, at the expiry.
    mutating func settle(_ key: Key, _ a: inout Alarm, before t: Int64, into out: inout [AlertRecord]) {
        guard let until = a.shelvedUntil, until <= t else { return }
        a.shelvedUntil = nil
        guard a.active, var last = a.last, suppression(key, at: until, shelved: nil) == nil else { return }
        last.time = Timestamp(microseconds: until)
        last.suppressedUntil = nil
        last.message = "\(key.rule): shelving of \(key.scope.rawValue) \(key.id) expired; still active"
        a.last = last
        out.append(last)
    }

    /// Advances the time through which windows have closed: shelving that expired by then ends
    /// (an alarm still active is announced again), and old declared maintenance is forgotten.
    public mutating func advance(to w: Timestamp, into out: inout [AlertRecord]) {
        guard w.microseconds > watermark else { return }
        watermark = w.microseconds
        if watermark >= nextExpiry {
            var next = Int64.max
            var made: [AlertRecord] = []
            for key in alarms.keys.sorted() {
                guard var a = alarms[key], let until = a.shelvedUntil else { continue }
                guard until <= watermark else {
                    next = min(next, until)
                    continue
                }
                settle(key, &a, before: until, into: &made)
                alarms[key] = a
            }
            nextExpiry = next
            out += made
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
}
