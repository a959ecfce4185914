import CBMCore
import CBMStorage
import Logging
import Synchronization

/// The daemon's cadence, once a second: the wall clock's tick (windows close when the field
/// goes quiet, idle files rotate), `latest.json` at the snapshot interval, a checkpoint at the
/// checkpoint interval, and the status line.
final class Cadence: DaemonService {
    private let pipeline: Pipeline
    private let scheduler: any Scheduler
    private let now: @Sendable () -> Timestamp
    private let snapshotEvery: Int
    private let checkpointEvery: Int
    private let onSecond: @Sendable (_ messagesPerSecond: Double) -> Void
    private let seconds = Mutex((count: 0, messages: 0))
    private let job = Mutex<(any ScheduledJob)?>(nil)

    init(pipeline: Pipeline, configuration: Configuration, scheduler: any Scheduler, now: @escaping @Sendable () -> Timestamp,
         onSecond: @escaping @Sendable (Double) -> Void) {
        self.pipeline = pipeline
        self.scheduler = scheduler
        self.now = now
        snapshotEvery = max(1, Int(configuration.output.snapshotIntervalUS / 1_000_000))
        checkpointEvery = max(1, Int(configuration.journal.checkpointIntervalUS / 1_000_000))
        self.onSecond = onSecond
        seconds.withLock { $0.messages = pipeline.statistics.messages }
    }

    func start() {
        job.withLock { $0 = scheduler.every(1_000_000, first: 1_000_000, label: "cbm-ingest.cadence") { [self] in second() } }
    }

    /// One second has passed.
    func second() {
        let t = now()
        pipeline.tick(t)
        let count = pipeline.statistics.messages
        let (n, before) = seconds.withLock { s -> (Int, Int) in
            defer { s = (s.count + 1, count) }
            return (s.count + 1, s.messages)
        }
        onSecond(Double(count - before))
        if n % snapshotEvery == 0 { pipeline.requestSnapshot(t) }
        if n % checkpointEvery == 0 { pipeline.requestCheckpoint() }
    }

    func stop() { job.withLock { $0?.cancel(); $0 = nil } }
}

/// The group commit of the journal (`fsync: interval`).
final class JournalCommitter: DaemonService {
    private let journal: Journal
    private let intervalUS: Int64
    private let scheduler: any Scheduler
    private let logger: Logger
    private let job = Mutex<(any ScheduledJob)?>(nil)

    init(journal: Journal, intervalUS: Int64, scheduler: any Scheduler, logger: Logger) {
        self.journal = journal
        self.intervalUS = intervalUS
        self.scheduler = scheduler
        self.logger = logger
    }

    func start() {
        job.withLock {
            $0 = scheduler.every(intervalUS, first: intervalUS, label: "cbm-ingest.journal-sync") { [journal, logger] in
                do { try journal.sync() } catch { logger.error("cannot sync the journal", metadata: ["error": "\(error)"]) }
            }
        }
    }

    func stop() { job.withLock { $0?.cancel(); $0 = nil } }
}

/// The systemd watchdog: pinged only while a probe makes it through every stage. Each time it
/// fires, it checks that the last probe came out of the sink, pings, and sends the next; a stuck
/// stage stops the pings, and systemd restarts the daemon.
final class Watchdog: DaemonService {
    private let pipeline: Pipeline
    private let intervalUS: Int64
    private let scheduler: any Scheduler
    private let ping: @Sendable () -> Void
    private let now: @Sendable () -> Timestamp
    /// The last probe sent, and when.
    private let probe = Mutex((id: 0, sentAt: Int64.min))
    private let job = Mutex<(any ScheduledJob)?>(nil)

    init(pipeline: Pipeline, intervalUS: Int64, scheduler: any Scheduler, now: @escaping @Sendable () -> Timestamp = LiveIngester.wallClock,
         ping: @escaping @Sendable () -> Void) {
        self.pipeline = pipeline
        self.intervalUS = intervalUS
        self.scheduler = scheduler
        self.now = now
        self.ping = ping
    }

    func start() {
        job.withLock { $0 = scheduler.every(intervalUS, first: 0, label: "cbm-ingest.watchdog") { [self] in check() } }
    }

    /// One check: a ping and the next probe, or nothing while the last probe is stuck.
    func check() {
        let t = now().microseconds
        let next = probe.withLock { p -> Int? in
            guard pipeline.probeSeen == p.id else { return nil }
            p = (p.id + 1, t)
            return p.id
        }
        guard let next else { return }  // a stage is stuck
        ping()
        pipeline.probe(next)
    }

    /// How long the probe in flight has been on its way, when that is longer than `graceUS` (a
    /// stage is stuck); nil while probes come through.
    func stuck(graceUS: Int64) -> Int64? {
        let p = probe.withLock { $0 }
        guard pipeline.probeSeen != p.id, p.sentAt > Int64.min else { return nil }
        let age = now().microseconds - p.sentAt
        return age > graceUS ? age : nil
    }

    func stop() { job.withLock { $0?.cancel(); $0 = nil } }
}
