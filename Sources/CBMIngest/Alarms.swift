import CBMCore
import Dispatch
import Foundation
import Logging
import Synchronization

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
            if let f = text("for"), let d = Quantities.duration(f) { return .success(now + d) }
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

/// Runs the configured hook program with each alarm change's JSON on stdin, one at a time on a
/// queue of its own: never blocking the pipeline, killed at its timeout.
final class AlarmHook: Sendable {
    let command: String
    let timeoutUS: Int64
    let logger: Logger
    private let queue = DispatchQueue(label: "cbm-ingest.alarm-hook")
    private let pending = Atomic<Int>(0)

    init(command: String, timeoutUS: Int64, logger: Logger) {
        self.command = command
        self.timeoutUS = timeoutUS
        self.logger = logger
    }

    /// Waits until every run asked for so far has ended.
    func drain() { queue.sync {} }

    func run(_ json: [UInt8], alarm: String) {
        guard pending.add(1, ordering: .relaxed).newValue <= 1000 else {
            pending.subtract(1, ordering: .relaxed)
            logger.error("alarm hook backlog full: this change is in alerts/ and on MQTT, but the hook is skipped",
                         metadata: ["alert.alarm": "\(alarm)"])
            return
        }
        queue.async { [self] in
            defer { pending.subtract(1, ordering: .relaxed) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: command)
            let input = Pipe()
            p.standardInput = input
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            do {
                try p.run()
            } catch {
                logger.error("cannot run the alarm hook", metadata: ["alert.hook": "\(command)", "error": "\(error)"])
                return
            }
            // A hook that does not read its input (or exits first) makes this a broken pipe: an
            // error to log, never the end of the daemon (SIGPIPE is ignored).
            do {
                try input.fileHandleForWriting.write(contentsOf: Data(json))
            } catch {
                logger.warning("the alarm hook did not take the alarm on its input",
                               metadata: ["alert.hook": "\(command)", "alert.alarm": "\(alarm)", "error": "\(error)"])
            }
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(Double(timeoutUS) / 1e6)
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                logger.error("the alarm hook did not finish in time and was killed",
                             metadata: ["alert.hook": "\(command)", "alert.alarm": "\(alarm)"])
            } else if p.terminationStatus != 0 {
                logger.warning("the alarm hook failed", metadata: ["alert.hook": "\(command)", "status": "\(p.terminationStatus)"])
            }
        }
    }
}
