import CBMCore
import CBMStorage
import Foundation
import Logging
import Synchronization

/// What the sink writes.
public enum OutputBatch: Sendable {
    case readings([Reading])
    case rejects([Reject])
    case totals([TotalsRecord])
    case events([EventRecord])
    case alerts([AlertRecord])
    /// `latest.json`, encoded.
    case snapshot([UInt8])
}

/// Writes the record families as rotating files under the output directory (`totals/`,
/// `events/`, `rejects/`, `readings/` when switched on), in every configured format, and
/// `latest.json`.
///
/// A write that fails (disk full, directory not writable) is retried with backoff until it
/// succeeds: nothing is dropped, the pipeline waits behind the sink, and in the end so does the
/// broker. The failure is logged, and once writing works again an `output_error` event says what
/// happened.
public final class FileSink {
    private var store: OutputStore
    private var writeReadings: Bool
    private var factors: Factors
    private var json: RecordEncoder
    private var csv: CSVRecordEncoder
    private let now: @Sendable () -> Timestamp
    private let logger: Logger
    private var pendingEvents: [EventRecord] = []
    /// After a crash: the lines written after the last checkpoint, per family, not to be written
    /// again when recovery derives them anew (until the next checkpoint).
    private var rewrites: [RecordFamily: [[UInt8]: Int]] = [:]
    /// The index of final figures beside the files, caught up from them after totals are written
    /// (at most once a second, and at every sync and close). Nil until first needed.
    private var index: TotalsIndex?
    private var indexFailed = false
    private var indexPending = false
    private var indexedAt = ContinuousClock.now - .seconds(60)
    private var indexPath: String
    /// How the index is kept up as totals are written (it is caught up whole whenever the files
    /// close, either way).
    public enum IndexUpkeep: Sendable {
        /// On the sink's thread, at most once a second, and at every sync (the daemon).
        case everySecond
        /// On a thread of its own, a few MiB at a time, at every write of totals (a replay: the
        /// index is built beside the pipeline's work, and the close has only what the last totals
        /// added left to read).
        case inBackground
    }
    public var indexUpkeep = IndexUpkeep.everySecond
    private var background: BackgroundCatchUp?

    /// What the sink counts for the metrics, read from other threads.
    public final class Counters: Sendable {
        /// Rejects written, by reason code.
        let rejectsByCode = Mutex<[String: Int]>([:])
        /// Failed output writes (each retried: nothing is dropped).
        let outputErrors = Atomic<Int>(0)
        /// Rejects by receive minute and code, for the last hour.
        let recentRejects = Mutex<[Int64: [String: Int]]>([:])

        func count(_ rejects: [Reject]) {
            guard !rejects.isEmpty else { return }
            rejectsByCode.withLock { for r in rejects { $0[r.reason.code, default: 0] += 1 } }
            recentRejects.withLock { recent in
                for r in rejects { recent[r.time.microseconds / 60_000_000, default: [:]][r.reason.code, default: 0] += 1 }
                let newest = recent.keys.max() ?? 0
                if recent.count > 61 { recent = recent.filter { $0.key > newest - 60 } }
            }
        }

        /// Rejects received in the hour before `now`, by code.
        public func rejects(inHourBefore now: Timestamp) -> [String: Int] {
            let minute = now.microseconds / 60_000_000
            return recentRejects.withLock { recent in
                var out: [String: Int] = [:]
                for (m, codes) in recent where m > minute - 60 && m <= minute { out.merge(codes, uniquingKeysWith: +) }
                return out
            }
        }
    }
    public let counters = Counters()
    private var rewritesSkipped = 0

    public init(configuration: Configuration, now: @escaping @Sendable () -> Timestamp, logger: Logger) {
        self.now = now
        self.logger = logger
        indexPath = Report.indexPath(configuration)
        (store, writeReadings, factors, json, csv) = Self.made(configuration, logger: logger, now: now, pending: &pendingEvents)
    }

    /// New output settings in place (a reload): the files open now are closed, and the next
    /// records go to files made with the new settings.
    public func reconfigure(_ configuration: Configuration) {
        do { try store.close() } catch {
            logger.error("cannot close the output files", metadata: ["error": "\(error)"])
        }
        updateIndex(force: true)
        if Report.indexPath(configuration) != indexPath {
            indexPath = Report.indexPath(configuration)
            (index, indexFailed, background) = (nil, false, nil)
        }
        (store, writeReadings, factors, json, csv) = Self.made(configuration, logger: logger, now: now, pending: &pendingEvents)
    }

    /// What a configuration makes of the sink, at the start and at a reload alike.
    private static func made(_ configuration: Configuration, logger: Logger, now: () -> Timestamp, pending: inout [EventRecord])
        -> (OutputStore, Bool, Factors, RecordEncoder, CSVRecordEncoder)
    {
        let (store, repaired) = open(configuration, logger: logger)
        let t = now()
        for case .repaired(let file, let cut) in repaired {
            logger.warning("repaired an output file left open by a crash", metadata: ["output.file": "\(file)", "output.cut_bytes": "\(cut)"])
            pending.append(EventRecord(time: t, kind: .fileRepaired, id: (file as NSString).lastPathComponent,
                detail: cut > 0 ? "left open by a crash; a partial last line of \(cut) bytes was cut away and the file closed"
                    : "left open by a crash; it ended on a whole line and was closed"))
        }
        let a = configuration.aggregation
        let zone = ZoneOffsets(zone: a.timeZone)
        return (store, configuration.output.readings, configuration.factors, RecordEncoder(zone: zone, basis: a.basis),
                CSVRecordEncoder(zone: zone, basis: a.basis, factors: configuration.factors, style: configuration.output.csv))
    }

    private static func open(_ configuration: Configuration, logger: Logger) -> (OutputStore, [RotatingFile.Event]) {
        let o = configuration.output
        var settings = OutputStore.Settings(directory: o.directory)
        settings.formats = o.formats
        settings.rotation.maxBytes = o.maxBytes
        settings.rotation.intervalUS = o.intervalUS
        settings.rotation.zone = configuration.aggregation.timeZone
        settings.rotation.dayStartUS = Int64(configuration.aggregation.dayStartMinutes) * 60_000_000
        settings.retention = o.retention
        settings.compress = o.compress
        settings.csv = o.csv
        let repaired = Mutex<[RotatingFile.Event]>([])
        let store = OutputStore(settings: settings, onEvent: { e in repaired.withLock { $0.append(e) } },
                                onError: { logger.error("output housekeeping failed", metadata: ["error": "\($0)"]) })
        // Repair what a crash left open before anything new is written.
        do {
            try store.openAll([.totals, .events, .rejects] + (o.readings ? [.readings] : [])
                + (configuration.alerts.isEmpty ? [] : [.alerts]))
        } catch {
            logger.error("cannot open the output directory yet; it will be retried", metadata: ["error": "\(error)"])
        }
        return (store, repaired.withLock { $0 })
    }

    /// The highest revisions of the totals records written since a time (see
    /// ``OutputStore/writtenRevisions(since:)``).
    public func writtenRevisions(since: Date?) -> [TotalsRecord.Key: Int] { store.writtenRevisions(since: since) }

    /// The output folder of a family.
    public func folder(_ family: RecordFamily) -> String { store.folder(family) }

    /// Writes what happened to the files themselves (repairs, retried failures) as events.
    private func writePendingEvents() {
        if !pendingEvents.isEmpty {
            let events = pendingEvents
            pendingEvents.removeAll()
            write(.events(events))
        }
    }

    /// Time passes: idle files rotate.
    public func tick(_ t: Timestamp) {
        writePendingEvents()
        retry("rotation") { () throws(StorageError) in try store.tick(t) }
        updateIndex(force: false)
    }

    /// Catches the index up with the totals files: what was written since is read from them.
    /// An index that fails is logged once and left alone (`report` rebuilds it from the files).
    private func updateIndex(force: Bool) {
        guard indexPending, !indexFailed,
              force || indexUpkeep == .inBackground || ContinuousClock.now - indexedAt >= .seconds(1) else { return }
        do {
            if index == nil {
                // A second at most behind another writer (a report): the pipeline must not wait.
                let opened = try TotalsIndex(path: indexPath, folder: store.folder(.totals), wait: 1)
                Self.reportRebuilt(opened, since: nil, logger: logger)
                index = opened
            }
            if !force, indexUpkeep == .inBackground, let index {
                // What is left when it is forced (the files close) is read then, here.
                if background == nil { background = BackgroundCatchUp(index, logger: logger) }
                background!.kick()
                return
            }
            background?.drain()
            let before = index?.opened
            try index?.catchUp()
            if let index, let before { Self.reportRebuilt(index, since: before, logger: logger) }
        } catch where TotalsIndex.isBusy(error) {
            // Another writer has it (a report catching it up): the next time, then.
            logger.debug("the index of final figures is busy; caught up later", metadata: ["error": "\(error)"])
            indexedAt = ContinuousClock.now
            return
        } catch {
            indexFailed = true
            logger.error("cannot keep the index of final figures: the totals files stay the record; report rebuilds it from them",
                         metadata: ["index.file": "\(indexPath)", "error": "\(error)"])
        }
        indexPending = false
        indexedAt = ContinuousClock.now
    }

    /// Logs an index that could not be used and was rebuilt from the files: when it was opened
    /// (`since` nil), or since `since` (damage SQLite met as it read or wrote).
    static func reportRebuilt(_ index: TotalsIndex, since before: TotalsIndex.Opened?, logger: Logger) {
        guard case .rebuilt(let why) = index.opened, index.opened != before else { return }
        logger.warning("the index of final figures could not be used: set aside, rebuilt from the totals files",
                       metadata: ["index.file": "\(index.path)", "error": "\(why)"])
    }

    /// Makes what was written durable (for a checkpoint); returns how far each family's output is
    /// written (``checkpointMarks()``).
    public func sync() -> [UInt8] {
        writePendingEvents()
        retry("output sync") { () throws(StorageError) in try store.sync() }
        updateIndex(force: indexUpkeep == .everySecond)
        return checkpointMarks()
    }

    /// A checkpoint has been taken: records written before a crash are no longer looked for.
    public func checkpointed() {
        if !rewrites.isEmpty || rewritesSkipped > 0 {
            logger.notice("records written before the crash were not written again", metadata: ["output.skipped": "\(rewritesSkipped)"])
            rewrites.removeAll()
            rewritesSkipped = 0
        }
    }

    /// Writes a batch.
    public func write(_ batch: OutputBatch) {
        writePendingEvents()
        switch batch {
        case .readings(let readings):
            guard writeReadings else { return }
            write(readings, .readings, json: { $0.encode($1) }, csv: { $0.encode($1) })
        case .rejects(let rejects):
            counters.count(rejects)
            let max = json.maxRejectPayload
            write(rejects, .rejects, json: { $0.encode($1) }, csv: { $0.encode($1, maxPayload: max) })
        case .totals(let totals):
            guard !totals.isEmpty else { return }
            for r in totals { json.encode(r, factors: factors) }
            if store.settings.formats.contains(.csv) { for r in totals { csv.encode(r) } }
            indexPending = true
            append(.totals)
            updateIndex(force: false)
        case .alerts(let alerts):
            write(alerts, .alerts, json: { $0.encode($1) }, csv: { $0.encode($1) })
        case .events(let events):
            write(events, .events, json: { $0.encode($1) }, csv: { $0.encode($1) })
        case .snapshot(let bytes):
            retry("latest.json") { () throws(StorageError) in try store.writeSnapshot(bytes) }
        }
    }

    /// Encodes records of a family in the configured formats (leaving out, after a crash, the lines
    /// that were written before it) and appends them. (The JSON line is made in any case: it is
    /// what a line written before a crash is recognised by.)
    private func write<R>(_ records: [R], _ family: RecordFamily, json encodeJSON: (inout RecordEncoder, R) -> Void,
                          csv encodeCSV: (inout CSVRecordEncoder, R) -> Void) {
        guard !records.isEmpty else { return }
        let csvWanted = store.settings.formats.contains(.csv)
        for r in records {
            let start = json.encoder.bytes.count
            encodeJSON(&json, r)
            let written = isRewrite(family, from: start)
            if csvWanted && !written { encodeCSV(&csv, r) }
        }
        append(family)
    }

    /// How far each family's output is written, for a checkpoint.
    public func checkpointMarks() -> [UInt8] { OutputMarks(of: store).encoded() }

    /// After a crash: what was written to `readings/`, `rejects/`, `events/` and `alerts/` after
    /// the checkpoint's marks is not written again as recovery derives it anew (each record that
    /// comes out as a line already there is skipped, once). Totals go by revision instead.
    public func skipRewrites(after marks: [UInt8]) {
        guard let decoded = OutputMarks.decode(marks) else {
            logger.warning("the checkpoint's output marks cannot be read: records since it may be written twice")
            return
        }
        for family in [RecordFamily.readings, .rejects, .events, .alerts] {
            var seen: [[UInt8]: Int] = [:]
            let mark = decoded.marks[family].map { (name: $0.name, bytes: $0.bytes) }
            for line in store.lines(after: mark, family: family) { seen[line, default: 0] += 1 }
            if !seen.isEmpty { rewrites[family] = seen }
        }
    }

    /// Whether the record just encoded (from `start`) was written before a crash: then it is
    /// taken back out of the encoder.
    private func isRewrite(_ family: RecordFamily, from start: Int) -> Bool {
        guard !rewrites.isEmpty, rewrites[family] != nil else { return false }
        let line = Array(json.encoder.bytes[start...])
        guard let n = rewrites[family]![line] else { return false }
        // In place: a copy of the family's table per record made a long recovery quadratic.
        if n > 1 {
            rewrites[family]![line] = n - 1
        } else {
            rewrites[family]![line] = nil
            if rewrites[family]!.isEmpty { rewrites[family] = nil }
        }
        json.encoder.truncate(to: start)
        rewritesSkipped += 1
        return true
    }

    private func append(_ family: RecordFamily) {
        let jsonBytes = json.take()
        let csvBytes = csv.take()
        // One time for the family's formats: they rotate together, so twins share their names.
        let t = now()
        retry(family.rawValue) { () throws(StorageError) in
            try store.prepare(family, counts: [.jsonl: jsonBytes.count, .csv: csvBytes.count], at: t)
        }
        for format in store.settings.formats {
            let bytes = format == .jsonl ? jsonBytes : csvBytes
            retry(family.rawValue) { () throws(StorageError) in try store.append(bytes, family: family, format: format, at: t) }
        }
        for case .replaced(let file, let newFile, let bytes, let deleted) in store.takeEvents() {
            logger.error("an open output file was \(deleted ? "deleted" : "replaced") behind our back; what it held is written again",
                         metadata: ["output.file": "\(file)", "output.new_file": "\(newFile)"])
            pendingEvents.append(EventRecord(time: t, kind: .fileReplaced, id: (file as NSString).lastPathComponent,
                detail: "\(deleted ? "deleted" : "replaced by another file") while open: its \(bytes) bytes were written again to "
                    + "\((newFile as NSString).lastPathComponent), where writing goes on"))
        }
    }

    /// Runs `body` until it succeeds (``RetryPolicy/storage``); logs the failure at most every
    /// 10 s, and after recovering, records it as an event.
    private func retry(_ what: String, _ body: () throws(StorageError) -> Void) {
        var since: Timestamp?
        var lastLogged: Timestamp?
        var attempts = 0
        var lastError = ""
        RetryPolicy.storage.run(body) { error, attempt in
            counters.outputErrors.add(1, ordering: .relaxed)
            let t = now()
            attempts = attempt
            lastError = "\(error)"
            if since == nil { since = t }
            if lastLogged.map({ t - $0 > 10_000_000 }) ?? true {
                logger.error("cannot write output; retrying, nothing is dropped", metadata: ["output.family": "\(what)", "error": "\(error)"])
                lastLogged = t
            }
        }
        if let since {
            let t = now()
            logger.notice("output written again", metadata: ["output.family": "\(what)", "output.attempts": "\(attempts)"])
            pendingEvents.append(EventRecord(time: t, kind: .outputError, id: what,
                detail: "could not write for \(Quantities.describe(microseconds: t - since)) (\(lastError)); retried \(attempts) times; nothing was dropped"))
        }
    }

    /// Closes every file (writing pending events first) and waits for compression and pruning.
    public func close() {
        writePendingEvents()
        do { try store.close() } catch {
            logger.error("cannot close the output files", metadata: ["error": "\(error)"])
        }
        updateIndex(force: true)
    }
}
