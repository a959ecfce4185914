import CBMCore
import CBMMQTT
import CBMStorage
import Foundation
import Logging
import Synchronization

/// Where the broker's messages come in (on libmosquitto's loop thread): telemetry is journaled,
/// then submitted to the pipeline; commands go to the alarm command gate; our own alarm states
/// are not telemetry. Its stop closes it: what arrives after is journaled only (so acknowledged
/// safely) and taken at the next start, while the broker connection stays up for the alarm
/// states the drain publishes.
///
/// A journal that cannot take a QoS 1 message (a full disk) is retried on the loop thread for at
/// most half the keep-alive interval, so the connection's keep-alive is never missed. If it still
/// fails, the connection is dropped without acknowledging (`abandon`): the broker keeps the
/// message and every later one in the session, libmosquitto reconnects with its backoff, and
/// the broker delivers them again. The back-pressure stays with the broker and nothing
/// acknowledged is lost. (A QoS 0 message is retried until it is taken: no broker would send it
/// again.)
final class MessageIntake: DaemonService {
    let pipeline: Pipeline
    let journal: Journal
    let logger: Logger
    let now: @Sendable () -> Timestamp
    private let open = Mutex(false)
    /// Telemetry messages received and journaled.
    private let receivedCount = Atomic<Int>(0)
    var received: Int { receivedCount.load(ordering: .relaxed) }
    private let retry: RetryPolicy
    private let abandon: @Sendable () -> Void
    /// Who may command the alarms (rebuilt on a reload).
    let gate: Mutex<AlarmCommandGate>
    /// Where our own alarm states and the command topic are (changed by a reload).
    private let routing: Mutex<(prefix: String?, commandTopic: String?)>

    init(pipeline: Pipeline, journal: Journal, current: CurrentConfiguration, logger: Logger, now: @escaping @Sendable () -> Timestamp,
         abandon: @escaping @Sendable () -> Void) {
        retry = RetryPolicy(maxDelay: 1, budget: max(1, Double(current.configuration.broker.keepAliveSeconds) / 2))
        self.abandon = abandon
        self.pipeline = pipeline
        self.journal = journal
        self.logger = logger
        self.now = now
        let outputs = current.configuration.alarmOutputs
        gate = Mutex(AlarmCommandGate(outputs))
        routing = Mutex((outputs.mqttPrefix, outputs.commandTopic))
    }

    /// New alarm outputs (a reload): the gate is rebuilt from them.
    func reconfigure(_ outputs: Configuration.AlarmOutputs) {
        gate.withLock { $0 = AlarmCommandGate(outputs) }
        routing.withLock { $0 = (outputs.mqttPrefix, outputs.commandTopic) }
    }

    func start() { open.withLock { $0 = true } }
    func stop() { open.withLock { $0 = false } }

    /// A message from the broker (the loop thread: libmosquitto acknowledges it after this returns).
    func receive(_ m: MQTTMessage) {
        let (prefix, commandTopic) = routing.withLock { $0 }
        // Our own alarm states (MQTT 3.1.1 has no "no local"): not telemetry.
        if let prefix, m.topic.hasPrefix(prefix + "/"), m.topic != commandTopic { return }
        if let commandTopic, m.topic == commandTopic {
            let taken = open.withLock { open in
                if open { command(m.payload) }
                return open
            }
            if !taken { logger.warning("alarm command not taken: the daemon is stopping; send it again once it runs") }
            return
        }
        // Journal first: libmosquitto writes the PUBACK only after this returns.
        var message = InboundMessage(topic: m.topic, payload: m.payload, receivedAt: now(),
                                     qos: UInt8(m.qos), retained: m.retained, ownClock: true)
        let journal = self.journal
        let logger = self.logger
        // A QoS 0 message the broker would not send again: retried until the journal takes it.
        let policy = m.qos == 0 ? RetryPolicy(maxDelay: 1) : retry
        let sequence = policy.attempt { () throws(StorageError) in try journal.append(message) } failed: { error, attempt in
            if attempt == 1 {
                logger.error("cannot append to the journal; retrying before the broker is acknowledged", metadata: ["error": "\(error)"])
            }
        }
        guard let sequence else {
            logger.error("the journal cannot take messages: the broker connection is dropped without acknowledging; the broker keeps them and delivers them again after the reconnect",
                         metadata: ["mqtt.topic": "\(m.topic)"])
            abandon()
            return
        }
        message.sequence = sequence
        receivedCount.add(1, ordering: .relaxed)
        open.withLock { open in if open { pipeline.submit(message) } }
    }
}
