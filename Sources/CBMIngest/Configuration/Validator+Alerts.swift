import CBMCore
import Foundation

extension Validator {
    // MARK: alerts

    mutating func fraction(_ text: String?, _ path: ConfigPath) -> Double? {
        guard let text else { return nil }
        guard let v = Double(text), v.isFinite, v >= 0 else {
            problem(path, "\"\(text)\" is not a number ≥ 0")
            return nil
        }
        return v
    }

    mutating func alertRules(_ raw: [RawAlertRule]?, _ path: ConfigPath, windows: [WindowKind]) -> [AlertRule] {
        var out: [AlertRule] = []
        var names = Set<String>()
        for (i, r) in (raw ?? []).enumerated() {
            let p = path.index(i)
            let before = problems.count
            guard let name = r.name, !name.isEmpty, !name.contains("/"), !name.contains("+"), !name.contains("#") else {
                problem(p / "name", "missing, or not usable in an MQTT topic: every rule needs a name without / + #")
                continue
            }
            if !names.insert(name).inserted { problem(p / "name", "\"\(name)\" is used by another rule") }
            let scope = r.scope.flatMap { TotalsRecord.Scope(rawValue: $0) }
            if scope == nil { problem(p / "scope", r.scope == nil ? "missing: well, block, field, meter, sector, flare or all" : "unknown scope \"\(r.scope!)\"") }
            var selection = AlertRule.Selection.all
            if r.ids != nil && r.match != nil {
                problem(p / "match", "give ids or match, not both")
            } else if let ids = r.ids {
                selection = .ids(ids)
            } else if let m = r.match {
                selection = .match(m)
            }
            let window = r.window.flatMap { WindowKind(rawValue: $0) } ?? .hour
            if let w = r.window, WindowKind(rawValue: w) == nil || w == "month" { problem(p / "window", "\"\(w)\" is not hour or day") }
            if !windows.contains(window), r.kind != "no_data" { problem(p / "window", "\(window.rawValue) windows are not kept (aggregation.windows)") }
            let onDelay = integer(r.onDelay, p / "on_delay", default: 1, range: 1...1000)
            let offDelay = integer(r.offDelay, p / "off_delay", default: 1, range: 1...1000)
            let minCoverage = fraction(r.minCoverage, p / "min_coverage") ?? 0.8
            if minCoverage > 1 { problem(p / "min_coverage", "a fraction of the window, 0 to 1") }
            let severity = r.severity ?? "warning"
            var kind: AlertRule.Kind?
            switch r.kind {
            case "low_output"?:
                let given = [r.below, r.belowM3, r.belowBaseline].compactMap { $0 }.count
                if given != 1 { problem(p / "below", "give exactly one of below (a fraction of expected_gas_m3d), below_m3 or below_baseline") }
                if let b = fraction(r.below, p / "below") {
                    if let s = scope, ![.well, .block, .field, .all].contains(s) {
                        problem(p / "below", "a fraction of expected_gas_m3d needs wells: scope well, block, field or all")
                    }
                    kind = .lowOutput(.fractionOfExpected(below: b, clearAbove: fraction(r.clearAbove, p / "clear_above") ?? b))
                } else if let b = fraction(r.belowM3, p / "below_m3") {
                    kind = .lowOutput(.absolute(belowM3: b, clearAboveM3: fraction(r.clearAboveM3, p / "clear_above_m3") ?? b))
                } else if let b = fraction(r.belowBaseline, p / "below_baseline") {
                    let n = integer(r.baseline, p / "baseline", default: 24, range: 2...10_000)
                    kind = .lowOutput(.baseline(below: b, clearAbove: fraction(r.clearAbove, p / "clear_above") ?? b, windows: n))
                }
                if let s = scope, s == .flare || s == .unregistered { problem(p / "scope", "low_output watches production or delivery, not \(s.rawValue)") }
            case "no_data"?:
                if let s = scope, ![.well, .meter, .flare, .unregistered].contains(s) {
                    problem(p / "scope", "no_data watches assets: well, meter or flare")
                }
                if r.after == nil { problem(p / "after", "missing: how long without a reading, e.g. 30m") }
                kind = .noData(afterUS: duration(r.after, p / "after", default: 30 * 60_000_000))
            case "low_utilisation"?:
                if let s = scope, s != .all { problem(p / "scope", "utilisation is reported on all") }
                guard let b = fraction(r.below, p / "below") else {
                    problem(p / "below", "missing: the utilisation rate (utilised / produced) below which it fires, e.g. 0.7")
                    continue
                }
                kind = .lowUtilisation(below: b, clearAbove: fraction(r.clearAbove, p / "clear_above") ?? b)
            case let other?:
                problem(p / "kind", "unknown kind \"\(other)\" (use low_output, no_data or low_utilisation)")
            case nil:
                problem(p / "kind", "missing: low_output, no_data or low_utilisation")
            }
            guard problems.count == before, let kind, let scope else { continue }
            out.append(AlertRule(name: name, kind: kind, severity: severity, scope: scope, selection: selection, window: window,
                                 onDelay: onDelay, offDelay: offDelay, minCoverage: minCoverage))
        }
        return out
    }

    mutating func maintenance(_ raw: [RawMaintenance]?, _ path: ConfigPath) -> [AlertEngine.Maintenance] {
        var out: [AlertEngine.Maintenance] = []
        for (i, m) in (raw ?? []).enumerated() {
            let p = path.index(i)
            func time(_ text: String?, _ key: String) -> Timestamp? {
                guard let text else {
                    problem(p / key, "missing: an RFC 3339 time with its offset")
                    return nil
                }
                guard case .success(let t) = RFC3339.parse(text) else {
                    problem(p / key, "\"\(text)\" is not an RFC 3339 time with an offset, e.g. 2026-12-01T08:00:00+08:00")
                    return nil
                }
                return t
            }
            let from = time(m.from, "from"), until = time(m.until, "until")
            let selection: AlertRule.Selection = m.ids.map { .ids($0) } ?? m.match.map { .match($0) } ?? .all
            if let from, let until {
                if until <= from { problem(p / "until", "ends before it begins") }
                out.append(.init(selection: selection, from: from, until: until, reason: m.reason ?? ""))
            }
        }
        return out
    }

    mutating func alarmOutputs(_ raw: RawAlarmOutputs?, _ path: ConfigPath) -> Configuration.AlarmOutputs {
        var o = Configuration.AlarmOutputs()
        if let prefix = raw?.mqttPrefix {
            if prefix.contains("+") || prefix.contains("#") || prefix.isEmpty {
                problem(path / "mqtt_prefix", "a topic prefix without wildcards, or none to publish no states")
            }
            o.mqttPrefix = prefix == "none" ? nil : prefix
        }
        if let topic = raw?.commandTopic {
            if topic.contains("+") || topic.contains("#") { problem(path / "command_topic", "one topic, without wildcards") }
            o.commandTopic = topic == "none" ? nil : topic
        }
        if let hook = raw?.hook {
            if let c = hook.command {
                o.hookCommand = resolve(c)
                if !FileManager.default.isExecutableFile(atPath: o.hookCommand!) {
                    problem(path / "hook" / "command", "\(o.hookCommand!) is not an executable program")
                }
            } else {
                problem(path / "hook" / "command", "missing: the program to run with the alert JSON on stdin")
            }
            o.hookTimeoutUS = duration(hook.timeout, path / "hook" / "timeout", default: o.hookTimeoutUS)
        }
        o.maxShelveUS = duration(raw?.maxShelve, path / "max_shelve", default: o.maxShelveUS)
        o.maxMaintenanceUS = duration(raw?.maxMaintenance, path / "max_maintenance", default: o.maxMaintenanceUS)
        if let f = raw?.commandUsers, let full = readableFile(f, path / "command_users"), privateFile(full, path / "command_users") {
            o.commandUsers = commandUsers(full)
        }
        return o
    }

    /// The command users file: `name key` a line, the key at least 32 hex digits; `#` comments.
    mutating func commandUsers(_ file: String) -> [String: [UInt8]] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        var users: [String: [UInt8]] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            func bad(_ why: String) { problems.append(ConfigProblem(file: file, line: n + 1, key: "command_users", message: why)) }
            guard fields.count == 2 else { bad("expected a name and a key (hex) on the line"); continue }
            guard let key = AlarmCommandGate.hex(String(fields[1])), key.count >= 16 else {
                bad("the key of \(first) is not at least 32 hex digits")
                continue
            }
            if users[String(first)] != nil { bad("\(first) is listed twice") }
            users[String(first)] = key
        }
        return users
    }
}
