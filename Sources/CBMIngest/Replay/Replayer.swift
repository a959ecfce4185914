import CBMCore
import CBMMQTT
import CBMStorage
import Dispatch
import Foundation
import Logging
import Synchronization

/// `replay`: recordings through the same decode → aggregate → sinks path as the daemon, with no
/// broker; or, with `publish`, re-published to the configured broker.
///
/// Time is event time only: the files are named and `latest.json` is stamped with the
/// recording's own times, and the pipeline runs synchronously in fixed batches (decoding on the
/// caller's thread, the steps after it relayed in order to one other thread), so two replays of
/// the same recording give byte-identical files. At the end of the input every window is closed.
public struct Replayer {
    public let configuration: Configuration
    /// Pace: nil as fast as possible, else the recorded pace × this factor.
    public var speed: Double?
    /// Where progress lines go (stderr), at most once a second.
    public var progress: (String) -> Void = { _ in }
    /// Where to keep the history archive (a new directory); nil: a scratch one, removed at the end.
    public var archiveDirectory: String?
    /// Whether text recordings hold their payloads in hexadecimal (`mosquitto_sub -F '%U %t %x'`).
    public var hexPayloads = false
    let logger: Logger

    public init(configuration: Configuration, speed: Double?, logger: Logger) {
        self.configuration = configuration
        self.speed = speed
        self.logger = logger
    }

    /// What a replay did.
    public struct Summary: Sendable {
        public var messages = 0
        public var readings = 0
        public var rejects = 0
        public var totals = 0
        public var unreadable = 0
        public var seconds = 0.0
        /// Alarms raised (changes to active), by rule: the backtest of the alert rules.
        public var alarms: [String: Int] = [:]
    }

    /// Replays recordings into the output directory.
    public func run(_ files: [String]) throws -> Summary {
        #if os(Linux)
        // Readings are made on the decoding thread and freed on the aggregating one: with an
        // allocator arena per thread, what one frees the other does not reuse, and the peak grows
        // by half. Two arenas keep it near the single-threaded figure.
        _ = glibcMallopt(glibcArenaMax, 2)
        #endif
        let clock = Atomic<Int64>(0)
        let sink = FileSink(configuration: configuration, now: { Timestamp(microseconds: clock.load(ordering: .relaxed)) }, logger: logger)
        sink.indexUpkeep = .inBackground
        let raised = Mutex<[String: Int]>([:])
        // Old readings go through the same history archive as the daemon's: one of its own, in a
        // scratch directory removed at the end (a replay needs no crash consistency).
        let scratch = archiveDirectory
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("cbm-ingest-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try SafeFiles.makeDirectory(scratch, mode: 0o700)
        defer { if archiveDirectory == nil { try? FileManager.default.removeItem(atPath: scratch) } }
        let path = (scratch as NSString).appendingPathComponent("history.sqlite")
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StorageError(operation: "create the history archive (it exists already)", path: path, errno: EEXIST)
        }
        let backend = try SQLiteArchive(path: path, durable: false)
        let archive = HistoryArchive(backend: backend, maxPastUS: configuration.limits.maxPastUS, autocommit: 50_000)
        // A kept archive is written whole; a scratch one is removed unread: what is still in memory
        // at the end is never written (it was a fifth of a replay's time). (A replay's archive has
        // a rollback journal, which each commit empties: no log to fold in.)
        defer { if archiveDirectory != nil { archive.commitAll() } }
        // The replay's clock (file names, latest.json) is the watermark: what rejected lines say of
        // the time never moves it.
        // Decoding on this thread, the steps after it on another, in the same order: the second core
        // does the aggregation and output.
        let pipeline = Pipeline(configuration: configuration, sink: sink, synchronous: true, relayed: true,
                                state: PipelineCheckpoint.State(configuration.pipelineSettings, archive: archive), onAlarms: { records in
            raised.withLock { counts in
                for r in records where r.state == .active && !r.message.contains("expired") && !r.acknowledged { counts[r.rule, default: 0] += 1 }
            }
        }, onWatermark: { w in
            if w.microseconds > clock.load(ordering: .relaxed) { clock.store(w.microseconds, ordering: .relaxed) }
        })
        var summary = Summary()
        // Lines longer than any payload this configuration takes (escaped, as %j writes them) are
        // damage: reported and skipped, never held whole.
        let maxLine = max(16 << 20, 8 * configuration.limits.maxPayload + 65_536)
        let started = ContinuousClock.now
        var pacer = Pacer(speed: speed)
        var lastProgress = ContinuousClock.now
        for (n, file) in files.enumerated() {
            var announced = false
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            func announce(_ format: Recording.Format) {
                guard !announced else { return }
                announced = true
                logger.info("replaying", metadata: ["replay.file": "\(file)", "replay.format": "\(format.rawValue)"])
            }
            func before(_ times: [Timestamp]) {
                pacer.wait(for: times[0])
                // Until a watermark exists, the earliest receive time stands for the clock.
                if clock.load(ordering: .relaxed) == 0, let earliest = times.map(\.microseconds).min(), earliest > 0 {
                    clock.store(earliest, ordering: .relaxed)
                }
            }
            func progressLine(_ n: Int) {
                if ContinuousClock.now - lastProgress > .seconds(1) {
                    lastProgress = ContinuousClock.now
                    let elapsed = Self.seconds(ContinuousClock.now - started)
                    progress("replay: \(summary.messages) messages, \(Int(Double(summary.messages) / max(elapsed, 1e-9))) messages/s, file \(n + 1) of \(files.count)"
                             + (size > 0 ? " (\(size / 1_048_576) MiB)" : ""))
                }
            }
            func take(lines: MessageBatch) {
                announce(.mosquittoText)
                if clock.load(ordering: .relaxed) == 0 { before(lines.lines.map(\.receivedAt)) }
                pipeline.submit(lines: lines)
                summary.messages += lines.count
                progressLine(n)
            }
            func take(_ format: Recording.Format, _ slice: [InboundMessage]) {
                announce(format)
                before(slice.map(\.receivedAt))
                pipeline.submit(contentsOf: slice)
                summary.messages += slice.count
                progressLine(n)
            }
            func unreadable(_ p: Recording.Problem) {
                summary.unreadable += 1
                logger.warning("unreadable recording line", metadata: ["replay.where": "\(p)"])
            }
            if speed != nil {
                // Paced: a message at a time, each at its time.
                try Recording.stream(file, batch: 1, maxLine: maxLine, hex: hexPayloads, problem: unreadable) { take($0, $1) }
                continue
            }
            // As fast as it goes: the file is read and split into lines on a thread of its own, up to
            // 32 batches ahead, and a text recording's lines are decoded where they were read; that
            // thread also finds their routes and reads their flat payloads (``LinePreparer``).
            let ahead = ReadAhead(file, batch: max(1, configuration.pipeline.batch), maxLine: maxLine, hex: hexPayloads,
                                  preparer: LinePreparer(settings: configuration.pipelineSettings))
            reading: while true {
                switch ahead.next() {
                case .lines(let b): take(lines: b)
                case .messages(let f, let m): take(f, m)
                case .problem(let p): unreadable(p)
                case .end: break reading
                }
            }
            try ahead.finish()
        }
        // The clock is the watermark the steps after decoding have heard: all of it, first.
        pipeline.drain()
        pipeline.finish(at: Timestamp(microseconds: clock.load(ordering: .relaxed)))
        pipeline.close()
        let s = pipeline.statistics
        summary.readings = s.readings
        summary.rejects = s.rejects
        summary.totals = s.totals
        summary.alarms = raised.withLock { $0 }
        for rule in configuration.alerts where summary.alarms[rule.name] == nil { summary.alarms[rule.name] = 0 }
        summary.seconds = Self.seconds(ContinuousClock.now - started)
        return summary
    }

    /// Re-publishes recordings to the configured broker with QoS 1, at the recorded pace × speed
    /// (or as fast as the broker acknowledges), and waits for every acknowledgement.
    public func publish(_ files: [String]) throws -> Summary {
        let client = try PublishingClient.connect(configuration, suffix: "replay")
        defer { client.stop() }
        var summary = Summary()
        let started = ContinuousClock.now
        var pacer = Pacer(speed: speed)
        var lastProgress = ContinuousClock.now
        for file in files {
            try Recording.stream(file, hex: hexPayloads, problem: { _ in summary.unreadable += 1 }) { _, messages in
            for m in messages {
                pacer.wait(for: m.receivedAt)
                // Keep at most a thousand unacknowledged: libmosquitto queues the rest in memory.
                while client.unacknowledged > 1000 { Thread.sleep(forTimeInterval: 0.001) }
                var sent = false
                while !sent {
                    do {
                        try client.publish(topic: m.topic, payload: m.payload, qos: 1, retain: false)
                        sent = true
                    } catch {
                        Thread.sleep(forTimeInterval: 0.05)  // not connected: wait for the reconnect
                    }
                }
                summary.messages += 1
                if ContinuousClock.now - lastProgress > .seconds(1) {
                    lastProgress = ContinuousClock.now
                    progress("publish: \(summary.messages) messages, \(summary.messages - client.unacknowledged) acknowledged")
                }
            }
            }
        }
        let left = client.waitUntilPublished(timeout: .seconds(60))
        guard left == 0 else { throw ReplayError(message: "\(left) messages not acknowledged by the broker") }
        summary.seconds = Self.seconds(ContinuousClock.now - started)
        return summary
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Why a replay failed.
public struct ReplayError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Holds messages back to the recorded pace × speed.
struct Pacer {
    let speed: Double?
    private var origin: (recorded: Timestamp, wall: ContinuousClock.Instant)?

    init(speed: Double?) { self.speed = speed }

    mutating func wait(for t: Timestamp) {
        guard let speed else { return }
        guard let o = origin else {
            origin = (t, ContinuousClock.now)
            return
        }
        let due = o.wall + .microseconds(Int64(Double(t - o.recorded) / speed))
        let now = ContinuousClock.now
        if due > now { Thread.sleep(forTimeInterval: Replayer.seconds(due - now)) }
    }
}

/// A recording read on a thread of its own, at most some dozens of batches ahead of its reader
/// (enough to go on through the other threads' hourly bursts): what
/// ``Recording/stream(_:batch:maxLine:problem:lines:_:)`` gives, in its order.
final class ReadAhead: Sendable {
    enum Item: Sendable {
        case lines(MessageBatch)
        case messages(Recording.Format, [InboundMessage])
        case problem(Recording.Problem)
        case end
    }

    private let items = Mutex<[Item]>([])
    private let ready = DispatchSemaphore(value: 0)
    private let room: DispatchSemaphore
    private let failure = Mutex<(any Error)?>(nil)
    private let done = DispatchSemaphore(value: 0)

    /// What reads the lines' routes and payloads as they are read (kept as long as this: the
    /// lines hold their routes uncounted).
    private let preparer: Mutex<LinePreparer?>

    init(_ path: String, batch: Int, maxLine: Int, hex: Bool, ahead: Int = 32, preparer: LinePreparer? = nil) {
        room = DispatchSemaphore(value: ahead)
        self.preparer = Mutex(preparer)
        let thread = Thread { [self] in
            do {
                try Recording.stream(path, batch: batch, maxLine: maxLine, hex: hex, problem: { self.put(.problem($0)) },
                                     lines: { lines in
                                         var lines = lines
                                         self.preparer.withLock { $0?.prepare(&lines) }
                                         self.put(.lines(lines))
                                     }) { self.put(.messages($0, $1)) }
            } catch {
                failure.withLock { $0 = error }
            }
            put(.end)
            done.signal()
        }
        thread.name = "cbm-ingest.read"
        thread.start()
    }

    private func put(_ item: Item) {
        room.wait()
        items.withLock { $0.append(item) }
        ready.signal()
    }

    /// The next item, waiting for it; `.end` after the last.
    func next() -> Item {
        ready.wait()
        let item = items.withLock { $0.removeFirst() }
        room.signal()
        return item
    }

    /// After `.end`: waits for the thread, and throws what stopped the reading, if anything.
    func finish() throws {
        done.wait()
        if let e = failure.withLock({ $0 }) { throw e }
    }
}

#if os(Linux)
/// glibc's `mallopt` (not in the Glibc module's headers) and its `M_ARENA_MAX`.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
private let glibcArenaMax: Int32 = -8
#endif
