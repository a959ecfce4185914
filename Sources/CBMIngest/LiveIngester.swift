import CBMCore
import CBMMQTT
import CBMStorage
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

    let configuration: Configuration
    let logger: Logger
    let now: @Sendable () -> Timestamp
    private let outcome = Mutex<Outcome?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let notifier = SystemdNotifier()
    /// What the service status line says, and what a reload changes.
    let service = Mutex(ServiceState())

    struct ServiceState {
        var connected = false
        var lastError: String?
        var current: Configuration?
        var messagesPerSecond = 0.0
    }

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

    /// Who may command the alarms (rebuilt on a reload).
    let commandGate = Mutex<AlarmCommandGate?>(nil)
    /// Whether what arrives still goes into the pipeline. A stop closes it before it drains the
    /// pipeline, while the broker connection stays up for the alarm states the drain publishes;
    /// telemetry that arrives meanwhile is journaled (so acknowledged safely) and taken at the
    /// next start.
    private let intakeOpen = Mutex(true)

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

        let logger = self.logger
        let now = self.now
        let started = ContinuousClock.now
        let sink = FileSink(configuration: configuration, now: now, logger: logger)
        // Alarm changes: the log, the retained MQTT state, the hook.
        let clientBox = Mutex<MQTTClient?>(nil)
        service.withLock { $0.current = configuration }
        let hooks = Mutex<[String: AlarmHook]>([:])
        let alarmEncoder = Mutex(RecordEncoder(zone: ZoneOffsets(zone: configuration.aggregation.timeZone), basis: configuration.aggregation.basis))
        let onAlerts: @Sendable ([AlertRecord]) -> Void = { [self] records in
            guard let outputs = self.service.withLock({ $0.current?.alarmOutputs }) else { return }
            let hook = outputs.hookCommand.map { command in
                hooks.withLock { h in
                    if let existing = h[command], existing.timeoutUS == outputs.hookTimeoutUS { return existing }
                    let made = AlarmHook(command: command, timeoutUS: outputs.hookTimeoutUS, logger: logger)
                    h[command] = made
                    return made
                }
            }
            for a in records {
                let json = alarmEncoder.withLock { e -> [UInt8] in
                    e.encode(a)
                    return e.take()
                }
                let announced = a.suppressedUntil == nil
                let metadata: Logger.Metadata = ["alert.rule": "\(a.rule)", "alert.scope": "\(a.scope.rawValue)", "alert.id": "\(a.id)",
                                                 "alert.state": "\(a.state.rawValue)", "alert.acknowledged": "\(a.acknowledged)"]
                if announced { logger.notice("\(a.message)", metadata: metadata) } else { logger.info("\(a.message) (suppressed)", metadata: metadata) }
                if let prefix = outputs.mqttPrefix, let client = clientBox.withLock({ $0 }) {
                    do {
                        try client.publish(topic: "\(prefix)/\(a.path)", payload: Array(json.dropLast()), qos: 1, retain: true)
                    } catch {
                        logger.warning("cannot publish the alarm state", metadata: ["error": "\(error)"])
                    }
                }
                if announced, let hook { hook.run(json, alarm: a.path) }
            }
        }
        let recovered: Recovery
        do {
            recovered = try recover(sink: sink, onAlerts: onAlerts)
        } catch {
            logger.critical("cannot recover", metadata: ["error": "\(error)"])
            sink.close()
            return .failed(reason: "cannot recover: \(error)")
        }
        let pipeline = recovered.pipeline
        let journal = recovered.journal
        logger.info("recovered", metadata: [
            "journal.replayed": "\(recovered.replayed)", "journal.checkpoint": "\(recovered.checkpoint)",
            "journal.next": "\(journal.nextSequence)", "recovery.duration": "\(ContinuousClock.now - started)",
        ])
        let client: MQTTClient
        do {
            let commandTopic = configuration.alarmOutputs.commandTopic
            let subscriptions = configuration.mqttSubscriptions
                + (commandTopic.map { [MQTTSubscription(topic: $0, qos: 1)] } ?? [])
            var brokerOptions = configuration.broker
            brokerOptions.noLocal = true  // our alarm states are not telemetry
            client = try MQTTClient(
                options: brokerOptions,
                subscriptions: subscriptions,
                unsubscriptions: configuration.coveredFilters,
                onMessage: { [self] m in
                    // Our own alarm states (MQTT 3.1.1 has no "no local"): not telemetry.
                    if let prefix = service.withLock({ $0.current?.alarmOutputs.mqttPrefix }), m.topic.hasPrefix(prefix + "/"),
                       m.topic != commandTopic {
                        return
                    }
                    if let commandTopic, m.topic == commandTopic {
                        let taken = intakeOpen.withLock { open in
                            if open { handleCommand(m.payload, pipeline: pipeline) }
                            return open
                        }
                        if !taken { logger.warning("alarm command not taken: the daemon is stopping; send it again once it runs") }
                        return
                    }
                    // Journal first: libmosquitto writes the PUBACK only after this returns.
                    var message = InboundMessage(topic: m.topic, payload: m.payload, receivedAt: now(),
                                                 qos: UInt8(m.qos), retained: m.retained, ownClock: true)
                    message.sequence = LiveIngester.append(message, to: journal, logger: logger)
                    intakeOpen.withLock { open in if open { pipeline.submit(message) } }
                },
                onEvent: { [weak self] event in self?.handle(event, logger: logger) })
            clientBox.withLock { $0 = client }
            try client.start()
        } catch {
            logger.critical("cannot start the MQTT client", metadata: ["error": "\(error)"])
            pipeline.stop(at: now())
            journal.close()
            sink.close()
            return .failed(reason: "\(error)")
        }
        notifier.send("READY=1\nSTATUS=\(statusLine(pipeline))")
        logger.info("running", metadata: [
            "broker.host": "\(configuration.broker.host)", "broker.port": "\(configuration.broker.port)",
            "broker.client_id": "\(configuration.broker.clientID)", "output.directory": "\(configuration.output.directory)",
        ])

        // The wall clock moves the watermark too, so windows close when the field goes quiet.
        let ticker = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cbm-ingest.ticker"))
        ticker.schedule(deadline: .now() + 1, repeating: 1)
        let snapshotEvery = max(1, Int(configuration.output.snapshotIntervalUS / 1_000_000))
        let seconds = Mutex(0)
        let checkpointEvery = max(1, Int(configuration.journal.checkpointIntervalUS / 1_000_000))
        let lastCount = Mutex(pipeline.statistics.messages)
        ticker.setEventHandler { [self] in
            let t = now()
            pipeline.tick(t)
            let count = pipeline.statistics.messages
            let rate = Double(count - lastCount.withLock { old in defer { old = count }; return old })
            service.withLock { $0.messagesPerSecond = rate }
            notifier.send("STATUS=\(statusLine(pipeline))")
            let n = seconds.withLock { n -> Int in n += 1; return n }
            if n % snapshotEvery == 0 { pipeline.requestSnapshot(t) }
            if n % checkpointEvery == 0 { pipeline.requestCheckpoint() }
        }
        ticker.resume()
        // The group commit of the journal.
        // (A dispatch source released without ever being resumed traps: make them only when used.)
        var committer: (any DispatchSourceTimer)?
        if configuration.journal.policy == .interval {
            let committer_ = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cbm-ingest.journal-sync"))
            committer = committer_
            let interval = DispatchTimeInterval.microseconds(Int(configuration.journal.fsyncIntervalUS))
            committer_.schedule(deadline: .now() + interval, repeating: interval)
            committer_.setEventHandler {
                do { try journal.sync() } catch { logger.error("cannot sync the journal", metadata: ["error": "\(error)"]) }
            }
            committer_.resume()
        }

        // The watchdog: pinged only while a probe makes it through every stage.
        var watchdog: (any DispatchSourceTimer)?
        if let usec = SystemdNotifier.watchdogMicroseconds() {
            let watchdog_ = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cbm-ingest.watchdog"))
            watchdog = watchdog_
            let interval = DispatchTimeInterval.microseconds(Int(usec / 2))
            let probe = Mutex(0)
            watchdog_.schedule(deadline: .now(), repeating: interval)
            watchdog_.setEventHandler { [notifier] in
                let next = probe.withLock { p -> Int? in
                    guard pipeline.probeSeen == p else { return nil }
                    p += 1
                    return p
                }
                guard let next else { return }  // a stage is stuck: no ping, and systemd restarts us
                notifier.send("WATCHDOG=1")
                pipeline.probe(next)
            }
            watchdog_.resume()
        }
        // SIGHUP: reload the configuration in place.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "cbm-ingest.reload"))
        hangup.setEventHandler { [self] in reload(pipeline: pipeline, client: client) }
        hangup.resume()

        finished.wait()
        notifier.send("STOPPING=1")
        hangup.cancel()
        watchdog?.cancel()
        ticker.cancel()
        committer?.cancel()
        // A stop that takes too long ends anyway: the journal has everything.
        let deadline = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cbm-ingest.shutdown"))
        deadline.schedule(deadline: .now() + .microseconds(Int(configuration.shutdownTimeoutUS)))
        deadline.setEventHandler { [logger] in
            logger.critical("the stop took longer than shutdown_timeout: exiting; the journal holds what was not written")
            exit(2)
        }
        deadline.resume()
        defer { deadline.cancel() }
        let result = outcome.withLock { $0! }
        logger.info("stopping: draining the pipeline", metadata: ["reason": "\(result)"])
        // Intake first, the broker last: the alarm states the drain changes are published while
        // the connection is up, and waited for (a while) before it goes.
        intakeOpen.withLock { $0 = false }
        pipeline.stop(at: now())
        let unacknowledged = client.waitUntilPublished(timeout: .microseconds(min(5_000_000, configuration.shutdownTimeoutUS / 4)))
        if unacknowledged > 0 {
            logger.warning("the broker has not acknowledged \(unacknowledged) alarm state(s) before the stop: it may show older ones until the next start")
        }
        client.stop()
        journal.close()
        sink.close()
        let s = pipeline.statistics
        logger.info("stopped", metadata: [
            "messages": "\(s.messages)", "readings": "\(s.readings)", "rejects": "\(s.rejects)", "totals": "\(s.totals)",
        ])
        return result
    }

    /// Appends a message to the journal, retrying until it is there: the broker may not be
    /// acknowledged for a message that is not (a full disk holds the broker back instead).
    static func append(_ m: InboundMessage, to journal: Journal, logger: Logger) -> UInt64 {
        var delay = 0.05
        while true {
            do {
                return try journal.append(m)
            } catch {
                logger.error("cannot append to the journal; retrying before the broker is acknowledged", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }

    /// The service status line: connection, rate, open windows, last error.
    func statusLine(_ pipeline: Pipeline) -> String {
        let s = service.withLock { $0 }
        return (s.connected ? "connected" : "not connected")
            + String(format: ", %.0f messages/s", s.messagesPerSecond)
            + ", \(pipeline.openWindows) open hours"
            + ", \(pipeline.statistics.messages) messages since start"
            + (s.lastError.map { ", last error: \($0)" } ?? "")
    }

    /// Reloads the configuration file in place: subscriptions, assets, alert rules and output
    /// settings change without losing state; a broken file is refused and the running one kept.
    /// Sections that cannot change while running (broker, aggregation, journal, pipeline) keep
    /// their running values, with a warning.
    func reload(pipeline: Pipeline, client: MQTTClient) {
        notifier.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())")
        defer { notifier.send("READY=1\nSTATUS=\(statusLine(pipeline))") }
        guard let old = service.withLock({ $0.current }) else { return }
        switch ConfigurationLoader.load(file: old.file) {
        case .failure(let e):
            logger.error("reload refused: the configuration has \(e.problems.count) problem(s); the running one is kept")
            for p in e.problems { logger.error("\(p)") }
            service.withLock { $0.lastError = "reload refused (\(e.problems.count) problems)" }
        case .success(var new):
            var kept: [String] = []
            if new.broker != old.broker { new.broker = old.broker; kept.append("broker") }
            if new.aggregation != old.aggregation { new.aggregation = old.aggregation; kept.append("aggregation") }
            if new.pipeline != old.pipeline { new.pipeline = old.pipeline; kept.append("pipeline") }
            if new.journal.directory != old.journal.directory || new.journal.policy != old.journal.policy {
                new.journal = old.journal
                kept.append("journal")
            }
            if !kept.isEmpty {
                logger.warning("reload: these sections change only with a restart; their running values are kept: \(kept.joined(separator: ", "))")
            }
            pipeline.reconfigure(new)
            commandGate.withLock { $0 = AlarmCommandGate(new.alarmOutputs) }
            let command = new.alarmOutputs.commandTopic.map { [MQTTSubscription(topic: $0, qos: 1)] } ?? []
            client.update(subscriptions: new.mqttSubscriptions + command, unsubscriptions: new.coveredFilters)
            service.withLock { $0.current = new }
            logger.notice("configuration reloaded", metadata: [
                "config.subscriptions": "\(new.subscriptions.count)", "config.assets": "\(new.register.count)",
                "config.alerts": "\(new.alerts.count)",
            ])
        }
    }

    private func handle(_ event: MQTTEvent, logger: Logger) {
        switch event {
        case .connected(let sessionPresent):
            service.withLock { $0.connected = true }
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
            service.withLock {
                $0.connected = false
                if !expected { $0.lastError = reason }
            }
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
                service.withLock { $0.lastError = reason }
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
