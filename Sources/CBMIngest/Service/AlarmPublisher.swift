import CBMCore
import CBMMQTT
import Dispatch
import Foundation
import Logging
import Synchronization

/// Where alarm changes go once the sink has written them to `alerts/`: the log, the retained
/// MQTT state under `alarm_outputs.mqtt_prefix`, and the hook program. The roll-up has one exit
/// (the sink); this is what follows it.
final class AlarmPublisher: DaemonService {
    private let current: CurrentConfiguration
    private let client: MQTTClient
    private let logger: Logger
    private let hooks = Mutex<[String: AlarmHook]>([:])
    private let encoder: Mutex<RecordEncoder>
    /// Whether the client has been started (before, during recovery, states are not published).
    private let online = Atomic(false)

    init(current: CurrentConfiguration, client: MQTTClient, logger: Logger) {
        self.current = current
        self.client = client
        self.logger = logger
        let a = current.configuration.aggregation
        encoder = Mutex(RecordEncoder(zone: ZoneOffsets(zone: a.timeZone), basis: a.basis))
    }

    func start() { online.store(true, ordering: .relaxed) }

    /// Hooks still running go on (each is killed at its timeout); a stop does not wait for them.
    func stop() { online.store(false, ordering: .relaxed) }

    /// The hook for the configured command (the same one while its settings are).
    private func hook(_ outputs: Configuration.AlarmOutputs) -> AlarmHook? {
        outputs.hookCommand.map { command in
            hooks.withLock { h in
                if let existing = h[command], existing.timeoutUS == outputs.hookTimeoutUS { return existing }
                let made = AlarmHook(command: command, timeoutUS: outputs.hookTimeoutUS, logger: logger)
                h[command] = made
                return made
            }
        }
    }

    /// Announces alarm changes (on the sink's queue, after they are written).
    func publish(_ records: [AlertRecord]) {
        let outputs = current.configuration.alarmOutputs
        let hook = hook(outputs)
        for a in records {
            let json = encoder.withLock { e -> [UInt8] in
                e.encode(a)
                return e.take()
            }
            let announced = a.suppressedUntil == nil
            let metadata: Logger.Metadata = ["alert.rule": "\(a.rule)", "alert.scope": "\(a.scope.rawValue)", "alert.id": "\(a.id)",
                                             "alert.state": "\(a.state.rawValue)", "alert.acknowledged": "\(a.acknowledged)"]
            if announced { logger.notice("\(a.message)", metadata: metadata) } else { logger.info("\(a.message) (suppressed)", metadata: metadata) }
            if let prefix = outputs.mqttPrefix, online.load(ordering: .relaxed) {
                do {
                    try client.publish(topic: "\(prefix)/\(a.path)", payload: Array(json.dropLast()), qos: 1, retain: true)
                } catch {
                    logger.warning("cannot publish the alarm state", metadata: ["error": "\(error)"])
                }
            }
            if announced, let hook { hook.run(json, alarm: a.path) }
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
