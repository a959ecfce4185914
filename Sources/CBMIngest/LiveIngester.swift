import CBMCore
import CBMMQTT
import Dispatch
import Foundation
import Logging
import Synchronization

/// The daemon: the MQTT subscriber feeding the pipeline, until a signal or a fatal refusal.
public final class LiveIngester: Sendable {
    /// Why the daemon stopped, and the exit status that says so.
    public enum Outcome: Sendable, Equatable {
        /// SIGINT or SIGTERM: drained and closed; exit 0.
        case stopped(signal: Int32)
        /// The broker refused us for good (credentials, authorisation); exit 2.
        case refused(reason: String)
        /// Something else made running impossible; exit 2.
        case failed(reason: String)

        /// The process exit status (DESIGN §3.1).
        public var exitStatus: Int32 {
            switch self {
            case .stopped: return 0
            case .refused, .failed: return 2
            }
        }
    }

    private let configuration: Configuration
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    private let outcome = Mutex<Outcome?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    public init(configuration: Configuration, logger: Logger, now: @escaping @Sendable () -> Timestamp = LiveIngester.wallClock) {
        self.configuration = configuration
        self.logger = logger
        self.now = now
    }

    /// The system's real-time clock.
    @Sendable public static func wallClock() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    /// Records the first reason to stop, and wakes `run`.
    public func finish(_ o: Outcome) {
        let first = outcome.withLock { current -> Bool in
            guard current == nil else { return false }
            current = o
            return true
        }
        if first { finished.signal() }
    }

    /// Runs until SIGINT/SIGTERM or a fatal refusal, then stops intake, drains the pipeline and
    /// closes the files.
    public func run() -> Outcome {
        let signals = installSignalHandlers()
        defer { for s in signals { s.cancel() } }

        let sink = FileSink(configuration: configuration, now: now, logger: logger)
        let pipeline = Pipeline(configuration: configuration, sink: sink)
        let logger = self.logger
        let now = self.now
        let client: MQTTClient
        do {
            client = try MQTTClient(
                options: configuration.broker,
                subscriptions: configuration.mqttSubscriptions,
                unsubscriptions: configuration.coveredFilters,
                onMessage: { m in
                    pipeline.submit(InboundMessage(topic: m.topic, payload: m.payload, receivedAt: now(),
                                                   qos: UInt8(m.qos), retained: m.retained))
                },
                onEvent: { [weak self] event in self?.handle(event, logger: logger) })
            try client.start()
        } catch {
            logger.critical("cannot start the MQTT client", metadata: ["error": "\(error)"])
            sink.close()
            return .failed(reason: "\(error)")
        }
        logger.info("running", metadata: [
            "broker.host": "\(configuration.broker.host)", "broker.port": "\(configuration.broker.port)",
            "broker.client_id": "\(configuration.broker.clientID)", "output.directory": "\(configuration.output.directory)",
        ])

        // The wall clock moves the watermark too, so windows close when the field goes quiet.
        let ticker = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cbm-ingest.ticker"))
        ticker.schedule(deadline: .now() + 1, repeating: 1)
        let snapshotEvery = max(1, Int(configuration.output.snapshotIntervalUS / 1_000_000))
        let seconds = Mutex(0)
        ticker.setEventHandler {
            let t = now()
            pipeline.tick(t)
            let n = seconds.withLock { n -> Int in n += 1; return n }
            if n % snapshotEvery == 0 { pipeline.requestSnapshot(t) }
        }
        ticker.resume()

        finished.wait()
        ticker.cancel()
        let result = outcome.withLock { $0! }
        logger.info("stopping: draining the pipeline", metadata: ["reason": "\(result)"])
        client.stop()
        pipeline.stop(at: now())
        sink.close()
        let s = pipeline.statistics
        logger.info("stopped", metadata: [
            "messages": "\(s.messages)", "readings": "\(s.readings)", "rejects": "\(s.rejects)", "totals": "\(s.totals)",
        ])
        return result
    }

    private func handle(_ event: MQTTEvent, logger: Logger) {
        switch event {
        case .connected(let sessionPresent):
            logger.info("connected", metadata: ["mqtt.session_present": "\(sessionPresent)"])
        case .subscribed(let topics):
            logger.info("subscribed", metadata: ["mqtt.topics": "\(topics.joined(separator: " "))"])
        case .subscriptionGranted(let qos):
            if qos.contains(where: { $0 >= 128 }) {
                logger.error("the broker refused a subscription", metadata: ["mqtt.granted_qos": "\(qos)"])
            } else {
                logger.debug("subscription granted", metadata: ["mqtt.granted_qos": "\(qos)"])
            }
        case .disconnected(let code, let reason, let expected):
            if expected {
                logger.info("disconnected", metadata: ["mqtt.code": "\(code)"])
            } else {
                logger.warning("connection lost", metadata: ["mqtt.code": "\(code)", "mqtt.reason": "\(reason)"])
            }
        case .refused(let code, let reason, let fatal):
            if fatal {
                logger.critical("\(reason)", metadata: ["mqtt.code": "\(code)"])
                finish(.refused(reason: reason))
            } else {
                logger.warning("\(reason); retrying", metadata: ["mqtt.code": "\(code)"])
            }
        case .published:
            break
        }
    }

    private func installSignalHandlers() -> [any DispatchSourceSignal] {
        // A file size limit (or a full disk) must fail the write, which is retried, not kill us.
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let queue = DispatchQueue(label: "cbm-ingest.signals")
        return [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.outcome.withLock({ $0 != nil }) {
                    // A second signal: do not wait for the drain.
                    self.logger.warning("second signal: exiting at once")
                    exit(1)
                }
                self.finish(.stopped(signal: sig))
            }
            source.resume()
            return source
        }
    }
}
