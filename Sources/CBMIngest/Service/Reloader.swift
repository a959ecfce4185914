import CBMCore
import CBMMQTT
import Dispatch
import Foundation
import Synchronization

/// SIGHUP: the configuration file is loaded again and taken in place. Subscriptions, assets,
/// alert rules and output settings change without losing state; a broken file is refused and the
/// running one kept. Sections that cannot change while running (broker, aggregation, journal,
/// pipeline) keep their running values, with a warning.
final class Reloader: DaemonService {
    private let ingester: LiveIngester
    private let current: CurrentConfiguration
    private let pipeline: Pipeline
    private let intake: MessageIntake
    private let client: MQTTClient
    private let source = Mutex<(any DispatchSourceSignal)?>(nil)
    /// Hears each configuration taken (the HTTP server's settings).
    private let onReload: @Sendable (Configuration) -> Void

    init(ingester: LiveIngester, current: CurrentConfiguration, pipeline: Pipeline, intake: MessageIntake, client: MQTTClient,
         onReload: @escaping @Sendable (Configuration) -> Void = { _ in }) {
        self.onReload = onReload
        self.ingester = ingester
        self.current = current
        self.pipeline = pipeline
        self.intake = intake
        self.client = client
    }

    func start() {
        signal(SIGHUP, SIG_IGN)
        source.withLock { source in
            let s = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "cbm-ingest.reload"))
            s.setEventHandler { [self] in reload() }
            s.resume()
            source = s
        }
    }

    func stop() { source.withLock { $0?.cancel(); $0 = nil } }

    func reload() {
        let logger = ingester.logger
        let notifier = ingester.notifier
        notifier.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())")
        defer { notifier.send("READY=1\nSTATUS=\(ingester.statusLine(pipeline))") }
        let old = current.configuration
        switch ConfigurationLoader.load(file: old.file) {
        case .failure(let e):
            logger.error("reload refused: the configuration has \(e.problems.count) problem(s); the running one is kept")
            for p in e.problems { logger.error("\(p)") }
            ingester.service.withLock { $0.lastError = "reload refused (\(e.problems.count) problems)" }
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
            intake.reconfigure(new.alarmOutputs)
            let command = new.alarmOutputs.commandTopic.map { [MQTTSubscription(topic: $0, qos: 1)] } ?? []
            client.update(subscriptions: new.mqttSubscriptions + command, unsubscriptions: new.coveredFilters)
            current.replace(new)
            onReload(new)
            logger.notice("configuration reloaded", metadata: [
                "config.subscriptions": "\(new.subscriptions.count)", "config.assets": "\(new.register.count)",
                "config.alerts": "\(new.alerts.count)",
            ])
        }
    }
}
