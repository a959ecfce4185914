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

    /// The version, as `--version` and the metrics' build info say it.
    public static let version = "0.1.0"

    let configuration: Configuration
    let logger: Logger
    let now: @Sendable () -> Timestamp
    let scheduler: any Scheduler
    private let outcome = Mutex<Outcome?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    let notifier = SystemdNotifier()
    /// The Sparkplug B host STATE, when a subscription is `sparkplug_b`.
    let sparkplugState: SparkplugState?
    /// What the service status line says.
    let service = Mutex(ServiceState())

    struct ServiceState {
        var connected = false
        var lastError: String?
        var messagesPerSecond = 0.0
    }

    /// `scheduler` runs the timers (the cadence, the journal's group commit, the watchdog).
    public init(configuration: Configuration, logger: Logger, now: @escaping @Sendable () -> Timestamp = LiveIngester.wallClock,
                scheduler: any Scheduler = DispatchScheduler()) {
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.scheduler = scheduler
        sparkplugState = configuration.sparkplugHostID.map {
            SparkplugState(topic: "spBv1.0/STATE/\($0)", timestamp: now().microseconds / 1000)
        }
    }

    /// The system's real-time clock.
    @Sendable public static func wallClock() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    /// The Sparkplug B host application's STATE (Sparkplug 3.0): its topic, and the payload with the
    /// timestamp of this run (the same in the will and in every online message).
    struct SparkplugState {
        let topic: String
        let timestamp: Int64
        func payload(online: Bool) -> [UInt8] { Array("{\"online\":\(online),\"timestamp\":\(timestamp)}".utf8) }
    }

    /// Publishes the host's STATE, retained (online when connected, offline at a clean stop).
    private func publishState(_ client: MQTTClient, online: Bool) {
        guard let state = sparkplugState else { return }
        do {
            _ = try client.publish(topic: state.topic, payload: state.payload(online: online), qos: 1, retain: true)
        } catch {
            logger.warning("cannot publish the Sparkplug host state", metadata: ["sparkplug.state": "\(state.topic)", "error": "\(error)"])
        }
    }

    /// Sends each Sparkplug edge node the decoder asks for a rebirth its NCMD (QoS 0, as
    /// Sparkplug commands go). Not connected (recovery, a reconnect): the node is not asked; its
    /// next gap or unknown alias asks again.
    private func rebirthSender(_ client: MQTTClient) -> @Sendable ([String]) -> Void {
        let logger = logger, now = now
        return { nodes in
            for node in nodes {
                let (topic, payload) = SparkplugCommand.rebirth(node: node, at: now())
                do {
                    _ = try client.publish(topic: topic, payload: payload, qos: 0, retain: false)
                    logger.info("asked a Sparkplug edge node for a rebirth", metadata: ["sparkplug.node": "\(node)"])
                } catch {
                    logger.debug("cannot ask a Sparkplug edge node for a rebirth", metadata: ["sparkplug.node": "\(node)", "error": "\(error)"])
                }
            }
        }
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

    /// Runs until SIGINT/SIGTERM or a fatal refusal, then stops its services in reverse order:
    ///
    ///     recovery → alarm publisher → message intake → MQTT client → cadence → journal
    ///     committer → watchdog → reloader
    ///
    /// A stop closes the intake first, drains the pipeline while the broker connection is up (the
    /// alarm states the drain changes are published and waited for), then disconnects.
    public func run() -> Outcome {
        let signals = installSignalHandlers()
        defer { for s in signals { s.cancel() } }
        let started = ContinuousClock.now
        let current = CurrentConfiguration(configuration)
        let client: MQTTClient
        do {
            client = try makeClient()
        } catch {
            logger.critical("cannot start the MQTT client", metadata: ["error": "\(error)"])
            return .failed(reason: "\(error)")
        }
        let publisher = AlarmPublisher(current: current, client: client, logger: logger)
        // The HTTP server first: a taken port is a startup error, and health says "recovering".
        let http = HTTPState(logger: logger)
        do throws(StatusServer.StartError) {
            try http.start(configuration.http)
        } catch {
            logger.critical("cannot start the HTTP server", metadata: ["error": "\(error)"])
            return .failed(reason: "\(error)")
        }
        let board = StatusBoard()
        board.seed(totalsDirectory: (configuration.output.directory as NSString).appendingPathComponent("totals"), now: now())
        let lastCheckpoint = CheckpointClock(Self.checkpointTime(configuration.journal.directory))
        let recovered: Recovery.Result
        do {
            let sink = FileSink(configuration: configuration, now: now, logger: logger)
            recovered = try Recovery(configuration: configuration, logger: logger, now: now())
                .run(sink: sink, onAlarms: publisher.publish, onRebirth: rebirthSender(client), onStatus: board.update, onTotals: board.record,
                     onCheckpointWritten: lastCheckpoint.written)
        } catch {
            logger.critical("cannot recover", metadata: ["error": "\(error)"])
            http.stop()
            return .failed(reason: "cannot recover: \(error)")
        }
        let pipeline = recovered.pipeline
        let journal = recovered.journal
        logger.info("recovered", metadata: [
            "journal.replayed": "\(recovered.replayed)", "journal.checkpoint": "\(recovered.checkpoint)",
            "journal.next": "\(journal.nextSequence)", "recovery.duration": "\(ContinuousClock.now - started)",
        ])
        let intake = MessageIntake(pipeline: pipeline, journal: journal, current: current, logger: logger, now: now,
                                   abandon: { [client] in client.dropConnection() })
        publisher.start()
        intake.start()
        do {
            try client.start(onMessage: intake.receive, onEvent: { [weak self, weak client] event in
                if case .connected = event, let client { self?.publishState(client, online: true) }
                self?.handle(event)
            })
        } catch {
            logger.critical("cannot start the MQTT client", metadata: ["error": "\(error)"])
            intake.stop()
            pipeline.stop(at: now())
            journal.close()
            pipeline.close()
            http.stop()
            return .failed(reason: "\(error)")
        }
        notifier.send("READY=1\nSTATUS=\(statusLine(pipeline))")
        for w in configuration.warnings { logger.warning("configuration: \(w)") }
        logger.info("running", metadata: [
            "broker.host": "\(configuration.broker.host)", "broker.port": "\(configuration.broker.port)",
            "broker.client_id": "\(configuration.broker.clientID)", "output.directory": "\(configuration.output.directory)",
        ])
        var timers: [any DaemonService] = [
            Cadence(pipeline: pipeline, configuration: configuration, scheduler: scheduler, now: now) { [self] rate in
                service.withLock { $0.messagesPerSecond = rate }
                notifier.send("STATUS=\(statusLine(pipeline))")
            },
        ]
        if configuration.journal.policy == .interval {
            timers.append(JournalCommitter(journal: journal, intervalUS: configuration.journal.fsyncIntervalUS, scheduler: scheduler, logger: logger))
        }
        // The watchdog's probes go through every stage: systemd hears of each that came back,
        // and /healthz says when one does not.
        let systemdWatchdog = SystemdNotifier.watchdogMicroseconds()
        let watchdogInterval = min(systemdWatchdog.map { $0 / 2 } ?? 1_000_000, 1_000_000)
        let watchdog = Watchdog(pipeline: pipeline, intervalUS: watchdogInterval, scheduler: scheduler, now: now) { [notifier] in
            if systemdWatchdog != nil { notifier.send("WATCHDOG=1") }
        }
        timers.append(watchdog)
        timers.append(Reloader(ingester: self, current: current, pipeline: pipeline, intake: intake, client: client) { [http] c in
            http.reconfigure(c.http)
        })
        for t in timers { t.start() }
        let metrics = DaemonMetrics()
        journal.observeFsync { [metrics] d in metrics.observeFsync(d) }
        http.serve(StatusServer.Endpoints(
            metrics: { [self] in
                let c = current.configuration
                let active = board.status?.alarms.active ?? []
                return metrics.scrape(DaemonMetrics.Sources(
                    received: intake.received, statistics: pipeline.statistics, gauges: pipeline.gauges, openWindows: pipeline.openWindows,
                    journalDirectory: c.journal.directory, journalAppended: journal.bytesAppended,
                    lastCheckpoint: lastCheckpoint.last,
                    subscriptions: c.subscriptions.map(\.mqtt.topic),
                    alarms: active.map { ($0.record.rule, $0.record.severity) }, alarmRules: c.alerts.map { ($0.name, $0.severity) },
                    connected: service.withLock { $0.connected }, now: now()))
            },
            unhealthy: { [self] in
                if !service.withLock({ $0.connected }) { return "the broker is not connected" }
                if let age = watchdog.stuck(graceUS: max(5_000_000, 3 * watchdogInterval)) {
                    let queues = pipeline.gauges.queues.filter { $0.depth > 0 }.map { "\($0.stage) \($0.depth)" }.joined(separator: ", ")
                    return "the last watchdog probe has not come through every stage in \(age / 1_000_000) s"
                        + (queues.isEmpty ? "" : " (queued: \(queues))")
                }
                return nil
            },
            view: { [self] in
                let s = service.withLock { $0 }
                return board.view(current.configuration, ready: true, connected: s.connected, messagesPerSecond: s.messagesPerSecond,
                                  rejects: pipeline.sinkCounters.rejects(inHourBefore: now()), now: now())
            },
            command: { [intake] action, body, authenticated in
                await intake.httpCommand(action, body, authenticated: authenticated)
            }))

        finished.wait()
        notifier.send("STOPPING=1")
        for t in timers.reversed() { t.stop() }
        // A stop that takes too long ends anyway: the journal has everything.
        let deadline = scheduler.every(configuration.shutdownTimeoutUS, first: configuration.shutdownTimeoutUS, label: "cbm-ingest.shutdown") {
            [logger] in
            logger.critical("the stop took longer than shutdown_timeout: exiting; the journal holds what was not written")
            exit(2)
        }
        defer { deadline.cancel() }
        let result = outcome.withLock { $0! }
        logger.info("stopping: draining the pipeline", metadata: ["reason": "\(result)"])
        intake.stop()
        pipeline.stop(at: now())
        publishState(client, online: false)
        let unacknowledged = client.waitUntilPublished(timeout: .microseconds(min(5_000_000, configuration.shutdownTimeoutUS / 4)))
        if unacknowledged > 0 {
            logger.warning("the broker has not acknowledged \(unacknowledged) alarm state(s) before the stop: it may show older ones until the next start")
        }
        client.stop()
        journal.close()
        pipeline.close()
        publisher.stop()
        http.stop()
        let s = pipeline.statistics
        logger.info("stopped", metadata: [
            "messages": "\(s.messages)", "readings": "\(s.readings)", "rejects": "\(s.rejects)", "totals": "\(s.totals)",
        ])
        return result
    }

    /// When the last checkpoint was written (at the start: the checkpoint file's time).
    final class CheckpointClock: Sendable {
        private let value: Atomic<Int64>
        init(_ t: Int64?) { value = Atomic(t ?? .min) }
        @Sendable func written(_ t: Timestamp) { value.store(t.microseconds, ordering: .relaxed) }
        var last: Timestamp? {
            let t = value.load(ordering: .relaxed)
            return t == .min ? nil : Timestamp(microseconds: t)
        }
    }

    /// When the checkpoint recovery will start from was written (its file's time).
    static func checkpointTime(_ directory: String) -> Int64? {
        let path = CheckpointStore(directory: directory).path
        guard let d = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
        return Int64(d.timeIntervalSince1970 * 1e6)
    }

    /// The MQTT client, not started: the configured subscriptions and the command topic.
    private func makeClient() throws -> MQTTClient {
        let command = configuration.alarmOutputs.commandTopic.map { [MQTTSubscription(topic: $0, qos: 1)] } ?? []
        var options = configuration.broker
        options.noLocal = true  // our alarm states are not telemetry
        if let state = sparkplugState {
            // Sparkplug 3.0: edge nodes learn from the retained STATE that this host went away.
            options.will = MQTTOptions.Will(topic: state.topic, payload: state.payload(online: false), qos: 1, retain: true)
        }
        return try MQTTClient(options: options, subscriptions: configuration.mqttSubscriptions + command,
                              unsubscriptions: configuration.coveredFilters)
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

    private func handle(_ event: MQTTEvent) {
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
