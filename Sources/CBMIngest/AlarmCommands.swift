import CBMCore
import Crypto
import Foundation

/// Operators' commands on the command topic, as JSON:
///
///     {"action": "ack", "rule": "well-low-output", "scope": "well", "id": "W01", "by": "duty engineer"}
///     {"action": "shelve", "rule": "…", "scope": "…", "id": "…", "for": "2h", "by": "…"}   (or "until": RFC 3339)
///     {"action": "unshelve", "rule": "…", "scope": "…", "id": "…", "by": "…"}
///     {"action": "maintenance", "ids": ["W01"], "for": "8h", "reason": "workover"}            (or "match": "B3-*")
enum AlarmCommandParser {
    static func parse(_ payload: [UInt8], now: Timestamp) -> Result<AlertEngine.Command, AlertEngine.CommandError> {
        guard case .success(let v) = JSONParser.parse(payload), case .object = v else {
            return .failure(.init(message: "a command is a JSON object"))
        }
        func text(_ k: String) -> String? { if case .string(let s)? = v[k] { return s } else { return nil } }
        let by = text("by") ?? "an operator"
        func until() -> Result<Timestamp, AlertEngine.CommandError> {
            if let u = text("until") {
                guard case .success(let t) = RFC3339.parse(u) else { return .failure(.init(message: "\"until\" is not an RFC 3339 time")) }
                return .success(t)
            }
            if let f = text("for"), let d = Quantities.duration(f) {
                let (t, overflow) = now.microseconds.addingReportingOverflow(d)
                guard !overflow, Timestamp(microseconds: t) < TelemetryDecoder.endOfTime else {
                    return .failure(.init(message: "\"for\" \(f) runs past any date"))
                }
                return .success(Timestamp(microseconds: t))
            }
            return .failure(.init(message: "give \"for\" (a duration) or \"until\" (a time)"))
        }
        func target() -> Result<(String, TotalsRecord.Scope, String), AlertEngine.CommandError> {
            guard let rule = text("rule"), let s = text("scope"), let scope = TotalsRecord.Scope(rawValue: s), let id = text("id") else {
                return .failure(.init(message: "name the alarm: \"rule\", \"scope\" and \"id\""))
            }
            return .success((rule, scope, id))
        }
        switch text("action") {
        case "ack"?, "acknowledge"?:
            return target().map { .acknowledge(rule: $0.0, scope: $0.1, id: $0.2, by: by) }
        case "shelve"?:
            return target().flatMap { t in until().map { .shelve(rule: t.0, scope: t.1, id: t.2, until: $0, by: by) } }
        case "unshelve"?:
            return target().map { .unshelve(rule: $0.0, scope: $0.1, id: $0.2, by: by) }
        case "maintenance"?:
            var selection = AlertRule.Selection.all
            if case .array(let ids)? = v["ids"] {
                selection = .ids(ids.compactMap { if case .string(let s) = $0 { return s } else { return nil } })
            } else if let m = text("match") {
                selection = .match(m)
            } else {
                return .failure(.init(message: "name the assets: \"ids\" or \"match\""))
            }
            return until().map { .maintenance(.init(selection: selection, from: now, until: $0, reason: text("reason") ?? "")) }
        default:
            return .failure(.init(message: "unknown action (use ack, shelve, unshelve or maintenance)"))
        }
    }
}

/// Who may command the alarms, and how far.
///
/// Anyone who can publish to the command topic can send a command, and MQTT 5 user properties
/// are whatever the sender writes: they name nobody. So a command that suppresses alarms
/// (shelve, maintenance) must be **signed**: an HMAC-SHA256, with a key of one of the
/// `alarm_outputs.command_users`, of the command's exact text, which carries its own time:
///
///     {"signed": "{\"action\":\"shelve\",…,\"ts\":1796140800}", "by": "duty-1", "sig": "<64 hex digits>"}
///
/// (`cbm-ingest command` writes them). The daemon alone can check it, whatever the broker; the
/// time (within five minutes) and a memory of the signatures it has taken stop a recorded
/// command from being played again. An unsigned command may acknowledge or unshelve (it hides
/// nothing) and only when no users are configured. Shelving and maintenance are bounded by
/// `max_shelve` and `max_maintenance`. Every command, taken or refused, is written as an event
/// saying who and what.
struct AlarmCommandGate {
    let users: [String: [UInt8]]
    let maxShelveUS: Int64
    let maxMaintenanceUS: Int64
    /// How far a signed command's own time may be from the daemon's.
    static let freshnessUS: Int64 = 300_000_000
    /// Signatures taken, and when (forgotten once too old to be fresh).
    private var seen: [String: Int64] = [:]

    init(_ outputs: Configuration.AlarmOutputs) {
        users = outputs.commandUsers
        maxShelveUS = outputs.maxShelveUS
        maxMaintenanceUS = outputs.maxMaintenanceUS
    }

    /// What to do with a command.
    enum Verdict {
        case apply(AlertEngine.Command, who: String)
        case refuse(why: String, who: String)
    }

    mutating func judge(_ payload: [UInt8], now: Timestamp) -> Verdict {
        guard case .success(let v) = JSONParser.parse(payload), case .object = v else {
            return .refuse(why: "a command is a JSON object", who: "someone")
        }
        if case .string(let signed)? = v["signed"] {
            return judgeSigned(signed, v, now: now)
        }
        let who = (v["by"].flatMap { if case .string(let s) = $0 { return s } else { return nil } } ?? "someone") + " (unsigned)"
        let command: AlertEngine.Command
        switch AlarmCommandParser.parse(payload, now: now) {
        case .success(let c): command = c
        case .failure(let e): return .refuse(why: e.message, who: who)
        }
        guard users.isEmpty else {
            return .refuse(why: "unsigned: alarm_outputs.command_users is set, so every command must be signed (cbm-ingest command)",
                           who: who)
        }
        switch command {
        case .acknowledge, .unshelve:
            return bounded(command, who: who, now: now)
        case .shelve, .maintenance:
            return .refuse(why: "an unsigned command may acknowledge or unshelve, not suppress alarms: set alarm_outputs.command_users "
                + "and sign it (cbm-ingest command)", who: who)
        }
    }

    /// A command from the HTTP API (`authenticated`: it carried the server's bearer token, which
    /// stands for a signature): acknowledge, shelve or unshelve, bounded as on the command topic.
    /// Without the token (loopback, no `http.token_file`) it is judged as an unsigned command.
    mutating func judgeHTTP(_ payload: [UInt8], authenticated: Bool, now: Timestamp) -> Verdict {
        let by = (try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])?["by"] as? String ?? "someone"
        guard authenticated else { return judge(payload, now: now) }
        let who = "\(by) (HTTP, with the token)"
        switch AlarmCommandParser.parse(payload, now: now) {
        case .success(let c):
            if case .maintenance = c { return .refuse(why: "maintenance is declared on the command topic, not over HTTP", who: who) }
            return bounded(Self.by(who, c), who: who, now: now)
        case .failure(let e):
            return .refuse(why: e.message, who: who)
        }
    }

    private mutating func judgeSigned(_ signed: String, _ v: JSONValue, now: Timestamp) -> Verdict {
        guard case .string(let by)? = v["by"], case .string(let sig)? = v["sig"] else {
            return .refuse(why: "a signed command names its user (\"by\") and carries \"sig\"", who: "someone")
        }
        guard let key = users[by] else { return .refuse(why: "\(by) is not in alarm_outputs.command_users", who: by) }
        guard let code = Self.hex(sig), HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Array(signed.utf8),
                                                                                using: SymmetricKey(data: key)) else {
            return .refuse(why: "the signature does not match \(by)'s key", who: by)
        }
        let inner = Array(signed.utf8)
        guard case .success(let c) = JSONParser.parse(inner), let ts = Self.time(c["ts"]) else {
            return .refuse(why: "a signed command carries its time (\"ts\")", who: by)
        }
        guard abs(ts - now) <= Self.freshnessUS else {
            return .refuse(why: "its time is \(Quantities.describe(microseconds: abs(ts - now))) from ours: too old to take (or a clock is wrong)",
                           who: by)
        }
        seen = seen.filter { now.microseconds - $0.value <= 2 * Self.freshnessUS }
        guard seen[sig.lowercased()] == nil else { return .refuse(why: "this signed command was taken already (played again?)", who: by) }
        switch AlarmCommandParser.parse(inner, now: now) {
        case .success(let command):
            let verdict = bounded(Self.by(by, command), who: "\(by) (signed)", now: now)
            if case .apply = verdict { seen[sig.lowercased()] = now.microseconds }
            return verdict
        case .failure(let e):
            return .refuse(why: e.message, who: by)
        }
    }

    /// Shelving and maintenance no longer than the configuration allows.
    private func bounded(_ command: AlertEngine.Command, who: String, now: Timestamp) -> Verdict {
        switch command {
        case .shelve(_, _, _, let until, _) where until - now > maxShelveUS:
            return .refuse(why: "shelving for \(Quantities.describe(microseconds: until - now)) is longer than "
                + "alarm_outputs.max_shelve (\(Quantities.describe(microseconds: maxShelveUS)))", who: who)
        case .maintenance(let m) where m.until - now > maxMaintenanceUS:
            return .refuse(why: "maintenance for \(Quantities.describe(microseconds: m.until - now)) is longer than "
                + "alarm_outputs.max_maintenance (\(Quantities.describe(microseconds: maxMaintenanceUS)))", who: who)
        default:
            return .apply(command, who: who)
        }
    }

    /// The command as done by the verified user.
    private static func by(_ user: String, _ c: AlertEngine.Command) -> AlertEngine.Command {
        switch c {
        case .acknowledge(let r, let s, let i, _): return .acknowledge(rule: r, scope: s, id: i, by: user)
        case .shelve(let r, let s, let i, let u, _): return .shelve(rule: r, scope: s, id: i, until: u, by: user)
        case .unshelve(let r, let s, let i, _): return .unshelve(rule: r, scope: s, id: i, by: user)
        case .maintenance(var m):
            m.reason = m.reason.isEmpty ? "by \(user)" : "\(m.reason) (by \(user))"
            return .maintenance(m)
        }
    }

    static func time(_ v: JSONValue?) -> Timestamp? {
        switch v {
        case .number(let n)?: return Timestamp(epochSeconds: n)
        case .string(let s)?: return try? RFC3339.parse(s).get()
        default: return nil
        }
    }

    static func hex(_ s: String) -> [UInt8]? {
        let b = Array(s.utf8)
        guard b.count % 2 == 0, !b.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 2)
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < b.count {
            guard let hi = digit(b[i]), let lo = digit(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// A command signed by `user` with `key`, as `cbm-ingest command` sends it (its time added).
    static func sign(_ command: String, user: String, key: [UInt8], now: Timestamp) -> [UInt8]? {
        guard case .success(var v) = JSONParser.parse(Array(command.utf8)), case .object(var members) = v else { return nil }
        if v["ts"] == nil {
            members.append(.init(key: "ts", value: .number(Double(now.microseconds / 1_000_000))))
            v = .object(members)
        }
        let inner = v.jsonText
        let mac = HMAC<SHA256>.authenticationCode(for: Array(inner.utf8), using: SymmetricKey(data: key))
        let sig = mac.map { String(format: "%02x", $0) }.joined()
        return Array(JSONValue.object([.init(key: "signed", value: .string(inner)), .init(key: "by", value: .string(user)),
                                       .init(key: "sig", value: .string(sig))]).jsonText.utf8)
    }
}

extension AlertEngine.Command {
    /// What the command does, for its event.
    var summary: String {
        switch self {
        case .acknowledge(let r, let s, let i, _): return "ack \(s.rawValue)/\(i)/\(r)"
        case .shelve(let r, let s, let i, let u, _): return "shelve \(s.rawValue)/\(i)/\(r) until \(u)"
        case .unshelve(let r, let s, let i, _): return "unshelve \(s.rawValue)/\(i)/\(r)"
        case .maintenance(let m):
            let which: String
            switch m.selection {
            case .all: which = "every asset"
            case .ids(let ids): which = ids.joined(separator: ", ")
            case .match(let p): which = "\"\(p)\""
            }
            return "maintenance of \(which) until \(m.until)"
        }
    }
}

extension MessageIntake {
    /// An alarm command from the HTTP API (`action` from its path): judged like one from the
    /// command topic, applied or refused, with the same event; the HTTP status and why not.
    func httpCommand(_ action: String, _ body: [UInt8], authenticated: Bool) async -> (Int, String) {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return (400, "the body is a JSON object: {\"rule\": …, \"scope\": …, \"id\": …}")
        }
        object["action"] = action
        guard let payload = try? JSONSerialization.data(withJSONObject: object) else { return (400, "the body cannot be read") }
        let t = now()
        let verdict = gate.withLock { $0.judgeHTTP(Array(payload), authenticated: authenticated, now: t) }
        let pipeline = self.pipeline, logger = self.logger
        switch verdict {
        case .apply(let command, let who):
            let result: String = await withCheckedContinuation { done in
                pipeline.command(command, at: t) { done.resume(returning: $0) }
            }
            logger.info("alarm command \(result == "ok" ? "applied" : "refused: \(result)")",
                        metadata: ["alert.command": "\(command.summary)", "alert.by": "\(who)"])
            pipeline.record([EventRecord(time: t, kind: .alarmCommand, id: who,
                                         detail: "\(command.summary): " + (result == "ok" ? "applied" : "refused: \(result)"))])
            return result == "ok" ? (200, "ok") : (409, result)
        case .refuse(let why, let who):
            logger.warning("alarm command refused: \(why)", metadata: ["alert.by": "\(who)"])
            pipeline.record([EventRecord(time: t, kind: .alarmCommand, id: who, detail: "refused: \(why); the command: \(action) over HTTP")])
            return (403, why)
        }
    }

    /// An operator's command from the command topic: judged (signature, freshness, bounds),
    /// applied or refused; either way an event says who and what.
    func command(_ payload: [UInt8]) {
        let t = now()
        let logger = self.logger
        let pipeline = self.pipeline
        let verdict = gate.withLock { $0.judge(payload, now: t) }
        switch verdict {
        case .apply(let command, let who):
            pipeline.command(command, at: t) { result in
                if result == "ok" {
                    logger.info("alarm command applied", metadata: ["alert.command": "\(command.summary)", "alert.by": "\(who)"])
                } else {
                    logger.warning("alarm command refused: \(result)", metadata: ["alert.command": "\(command.summary)", "alert.by": "\(who)"])
                }
                pipeline.record([EventRecord(time: t, kind: .alarmCommand, id: who,
                                             detail: "\(command.summary): " + (result == "ok" ? "applied" : "refused: \(result)"))])
            }
        case .refuse(let why, let who):
            logger.warning("alarm command refused: \(why)", metadata: ["alert.by": "\(who)"])
            let text = String(decoding: payload.prefix(300), as: UTF8.self)
            pipeline.record([EventRecord(time: t, kind: .alarmCommand, id: who, detail: "refused: \(why); the command: \(text)")])
        }
    }
}
