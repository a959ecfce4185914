import CBMCore
import Dispatch
import Foundation
import Logging
import Synchronization

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
