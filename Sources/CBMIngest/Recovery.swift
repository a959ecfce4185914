import CBMCore
import CBMStorage
import Foundation
import Logging
import Synchronization

/// Recovery at the start of the daemon: it loads the newest checkpoint that is whole and fits the
/// journal, restores the steps' states and revision numbers, builds the pipeline, replays the
/// journal after the checkpoint through it, reports every damage it found as an event, and opens
/// the journal for appending.
///
/// A checkpoint is used only if its checksum (header included) matches, its sequence is not
/// beyond the journal, and its state restores; otherwise the one before it is tried, then the
/// journal from its beginning. When the journal's beginning was pruned, that rebuild cannot
/// reach the full history: windows that start before its first message (plus `max_future`) are
/// left as they were written, never overwritten with partial figures. Damaged journal bytes are
/// kept in `quarantine/`.
struct Recovery {
    let configuration: Configuration
    let logger: Logger
    let now: Timestamp

    /// What recovery found and built.
    struct Result {
        var pipeline: Pipeline
        var journal: Journal
        /// The journal sequence of the checkpoint used (0: none).
        var checkpoint: UInt64
        /// Messages replayed from the journal.
        var replayed: Int
    }

    func run(sink: sending FileSink, onAlarms: @escaping @Sendable ([AlertRecord]) -> Void,
             onRebirth: @escaping @Sendable ([String]) -> Void = { _ in },
             onStatus: @escaping @Sendable (FieldStatus) -> Void = { _ in },
             onTotals: (@Sendable ([TotalsRecord]) -> Void)? = nil,
             onCheckpointWritten: @escaping @Sendable (Timestamp) -> Void = { _ in }) throws -> Result {
        let j = configuration.journal
        var events: [EventRecord] = []
        // How far the journal reached, read (a pass over its newest segment) only when a
        // checkpoint must be checked against it: the replay finds it otherwise.
        var checked: UInt64?
        func known() -> UInt64 {
            if let k = checked { return k }
            let k = Journal.highestSequence(in: j.directory)
            checked = k
            return k
        }
        let (backend, archive) = try openArchive(events: &events)
        let (state, after) = restore(sink: sink, known: known, archive: archive, backend: backend, events: &events)
        let floor = checked ?? Journal.sequenceBeforeNewest(in: j.directory)
        let pipeline = Pipeline(configuration: configuration, sink: sink, state: state, onAlarms: onAlarms,
                                onCheckpoint: Self.checkpointWriter(j, archive: archive, logger: logger, written: onCheckpointWritten),
                                onRebirth: onRebirth, onStatus: onStatus, onTotals: onTotals)
        do {
            return try replay(into: pipeline, after: after, known: floor, events: events)
        } catch {
            pipeline.close()
            throw error
        }
    }

    /// Replays the journal after the checkpoint's sequence, then opens it for appending.
    private func replay(into pipeline: Pipeline, after: UInt64, known: UInt64, events: [EventRecord]) throws -> Result {
        let j = configuration.journal
        var events = events
        var replayed = 0
        var batch: [InboundMessage] = []
        let highest = try Journal.read(directory: j.directory, after: after, repair: true, damage: { events.append(report($0)) }) { record in
            batch.append(record.message)
            replayed += 1
            if batch.count >= 4096 {
                pipeline.submit(contentsOf: batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        pipeline.submit(contentsOf: batch)
        if !events.isEmpty { pipeline.record(events) }
        let journal = try Journal(directory: j.directory, segmentBytes: j.segmentBytes, policy: j.policy,
                                  after: max(highest, after, known))
        return Result(pipeline: pipeline, journal: journal, checkpoint: after, replayed: replayed)
    }

    /// The state to start from and the journal sequence it reflects: the newest usable
    /// checkpoint's, or a new one (marked incomplete when the journal's beginning is gone).
    /// Revisions go above what was written after it, before a crash, so a reader keeping the
    /// highest gets the new figures; records of other families written then are not written twice.
    /// The history archive under the journal directory. One that cannot be opened (damaged, or
    /// of another format) is set aside as `history.sqlite.damaged-<time>` and a new one begun;
    /// windows older than the in-memory span then cannot be recomputed, which recovery reports.
    /// One that cannot be created at all (a full disk) is kept in memory for this run, with an
    /// error: ingestion goes on.
    private func openArchive(events: inout [EventRecord]) throws -> (any ArchiveBackend, HistoryArchive) {
        let directory = (configuration.journal.directory as NSString).appendingPathComponent("archive")
        try SafeFiles.makeDirectory(directory, mode: 0o700)
        let path = (directory as NSString).appendingPathComponent("history.sqlite")
        let backend: any ArchiveBackend
        do {
            backend = try SQLiteArchive(path: path)
        } catch where FileManager.default.fileExists(atPath: path) {
            let aside = path + ".damaged-\(now.microseconds / 1_000_000)"
            for suffix in ["", "-wal", "-shm"] { _ = rename(path + suffix, aside + suffix) }
            logger.error("the history archive cannot be opened: set aside, a new one begun",
                         metadata: ["archive.file": "\(path)", "error": "\(error)"])
            events.append(EventRecord(time: now, kind: .archiveDamaged, id: "history.sqlite",
                detail: "the history archive cannot be opened (\(error)): kept as \((aside as NSString).lastPathComponent), a new one begun; "
                    + "windows older than the in-memory span cannot be recomputed and are left as written"))
            backend = (try? SQLiteArchive(path: path)) ?? Self.inMemory(path, error, logger: logger, events: &events, now: now)
        } catch {
            backend = Self.inMemory(path, error, logger: logger, events: &events, now: now)
        }
        return (backend, HistoryArchive(backend: backend, maxPastUS: configuration.limits.maxPastUS))
    }

    private static func inMemory(_ path: String, _ error: any Error, logger: Logger, events: inout [EventRecord],
                                  now: Timestamp) -> any ArchiveBackend {
        logger.error("the history archive cannot be created: it is kept in memory for this run",
                     metadata: ["archive.file": "\(path)", "error": "\(error)"])
        events.append(EventRecord(time: now, kind: .archiveDamaged, id: "history.sqlite",
            detail: "the history archive cannot be created (\(error)): kept in memory until the daemon restarts; "
                + "a restart cannot recompute windows older than the in-memory span"))
        return MemoryArchiveBackend()
    }

    private func restore(sink: FileSink, known: () -> UInt64, archive: HistoryArchive, backend: any ArchiveBackend,
                         events: inout [EventRecord]) -> (PipelineCheckpoint.State, UInt64) {
        let j = configuration.journal
        let settings = configuration.pipelineSettings
        func damaged(_ file: String, _ why: String) {
            logger.error("a checkpoint cannot be used", metadata: ["checkpoint.file": "\(file)", "error": "\(why)"])
            events.append(EventRecord(time: now, kind: .checkpointDamaged, id: (file as NSString).lastPathComponent,
                                      detail: "\(why): not used; recovery goes back to the checkpoint before it, or to the journal"))
        }
        // The archive matches the checkpoint it was committed with: the current one, or the one
        // before when the daemon stopped between writing the checkpoint and committing.
        let committed = backend.committedSequence()
        var usable: [(CheckpointStore.Checkpoint, PipelineCheckpoint.State)] = []
        let store = CheckpointStore(directory: j.directory)
        for loaded in store.load() {
            switch loaded {
            case .failure(let d):
                damaged(d.file, d.why)
            case .success(let checkpoint):
                guard checkpoint.sequence <= known() else {
                    damaged(checkpoint.file, "it says the journal reached sequence \(checkpoint.sequence), the journal ends at \(known())")
                    continue
                }
                do throws(PipelineCheckpoint.RestoreError) {
                    usable.append((checkpoint, try PipelineCheckpoint.restore(checkpoint.state, settings: settings, archive: archive)))
                } catch {
                    damaged(checkpoint.file, "its state does not restore into this configuration (\(error))")
                }
            }
        }
        if let (checkpoint, restored) = usable.first(where: { $0.0.sequence == committed }) ?? usable.first {
            if checkpoint.file == store.previousPath, FileManager.default.fileExists(atPath: store.path) {
                // The current one is damaged, or was written but never committed with the archive:
                // the previous one takes its place, so that it stays the fallback until the next commit.
                let damaged = !usable.contains { $0.0.file == store.path }
                do {
                    let kept = try store.dropCurrent(damaged: damaged)
                    logger.info("resumed from the previous checkpoint, now the current one", metadata: [
                        "journal.sequence": "\(checkpoint.sequence)",
                        "checkpoint.dropped": "\(kept.map { "damaged, kept as \($0)" } ?? "not committed with the history archive")"])
                } catch {
                    logger.error("cannot put the previous checkpoint back in place", metadata: ["error": "\(error)"])
                }
            }
            var state = restored
            reconcile(&state, checkpoint: checkpoint.sequence, committed: committed, backend: backend, events: &events)
            state.totals.raiseRevisions(sink.writtenRevisions(since: checkpoint.written))
            if !checkpoint.outputs.isEmpty { sink.skipRewrites(after: checkpoint.outputs) }
            return (state, checkpoint.sequence)
        }
        // The state is rebuilt from the journal: so is the archive.
        do { try backend.reset() } catch { logger.error("cannot reset the history archive", metadata: ["error": "\(error)"]) }
        var state = PipelineCheckpoint.State(settings, archive: archive)
        state.totals.raiseRevisions(sink.writtenRevisions(since: nil))
        if let first = Journal.firstSequence(in: j.directory), first > 1 {
            let from = (Journal.firstRecordTime(in: j.directory) ?? now) + configuration.limits.maxFutureUS
            state.totals.incompleteBefore = max(state.totals.incompleteBefore, from.microseconds)
            logger.error("no usable checkpoint, and the journal's beginning was pruned: windows before \(from) are left as written")
            events.append(EventRecord(time: now, kind: .recoveryIncomplete, id: "journal",
                detail: "no usable checkpoint, and the journal begins at sequence \(first) (older segments were pruned): "
                    + "windows that start before \(from) cannot be rebuilt whole and are left as they were written"))
        }
        return (state, 0)
    }

    /// A restored state and an archive that do not match (a checkpoint damaged, or an archive
    /// set aside): what the archive holds beyond the checkpoint is recomputed; what it lacks is
    /// reported, and the windows that would need it are left as written.
    private func reconcile(_ state: inout PipelineCheckpoint.State, checkpoint: UInt64, committed: UInt64,
                           backend: any ArchiveBackend, events: inout [EventRecord]) {
        if committed > checkpoint {
            let blocks = backend.blocks(committedAfter: checkpoint)
            for i in state.partitions.indices { state.partitions[i].recompute(blocks) }
            logger.warning("the history archive is ahead of the checkpoint used: its newer hours are recomputed",
                           metadata: ["archive.sequence": "\(committed)", "journal.sequence": "\(checkpoint)"])
            events.append(EventRecord(time: now, kind: .archiveAhead, id: "history.sqlite",
                detail: "the archive was committed at sequence \(committed), the checkpoint used is at \(checkpoint): "
                    + "the \(blocks.count) series-hours committed after it are recomputed"))
        } else if committed < checkpoint,
                  let floor = (state.partitions.map(\.archiveFloor) + [state.totals.archivedBefore]).filter({ $0 > Int64.min }).max() {
            state.totals.incompleteBefore = max(state.totals.incompleteBefore, floor)
            logger.error("the history archive is behind the checkpoint: windows before \(Timestamp(microseconds: floor)) are left as written")
            events.append(EventRecord(time: now, kind: .recoveryIncomplete, id: "history.sqlite",
                detail: "the archive was committed at sequence \(committed), the checkpoint used is at \(checkpoint): "
                    + "windows that start before \(Timestamp(microseconds: floor)) cannot be recomputed whole and are left as they were written"))
        }
    }

    /// Writes each checkpoint the pipeline hands on, commits the archive with it, then prunes
    /// the journal behind the one before it (the fallback). The archive is committed after the
    /// checkpoint file is in place: a stop between the two leaves the archive at the previous
    /// checkpoint, which recovery then uses, and the journal after it is still there.
    static func checkpointWriter(_ j: Configuration.JournalSettings, archive: HistoryArchive, logger: Logger,
                                 written: @escaping @Sendable (Timestamp) -> Void = { _ in }) -> @Sendable (PipelineCheckpoint, [UInt8]) -> Void {
        let store = CheckpointStore(directory: j.directory)
        // After a failed commit the current checkpoint matches no archive: the next one replaces it
        // and the last committed one stays the fallback.
        let uncommitted = Mutex(false)
        return { checkpoint, outputs in
            do {
                let sequence = checkpoint.sequence
                let previous = try store.write(sequence: sequence, state: checkpoint.encoded(), outputs: outputs,
                                               keepPrevious: uncommitted.withLock { $0 })
                do {
                    try archive.commit(through: sequence)
                    uncommitted.withLock { $0 = false }
                    written(LiveIngester.wallClock())
                } catch {
                    uncommitted.withLock { $0 = true }
                    logger.error("cannot commit the history archive: the journal is kept", metadata: ["error": "\(error)"])
                    return
                }
                let removed = Journal.prune(directory: j.directory, checkpoint: min(previous ?? sequence, sequence),
                                            maxAgeUS: j.retainUS, maxBytes: j.maxBytes, now: LiveIngester.wallClock())
                logger.debug("checkpoint written", metadata: ["journal.sequence": "\(sequence)", "journal.pruned": "\(removed.count)"])
            } catch {
                logger.error("cannot write the checkpoint", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The event (and log line) for a damage the journal reader found.
    private func report(_ d: Journal.Damage) -> EventRecord {
        let segment: String, offset: Int64, what: String, kind: EventRecord.Kind, detail: String
        switch d {
        case .skipped(let s, let o, let bytes, let sequence):
            (segment, offset, what, kind) = (s, o, "skipped damaged journal bytes", .journalRecordSkipped)
            detail = "\(bytes) bytes at byte \(o)\(sequence.map { " (a record claiming sequence \($0))" } ?? "") fail their "
                + "checksum: skipped, reading went on at the next good record; the bytes are kept in quarantine/\(Self.name(s)).\(o).bin"
        case .lengthRepaired(let s, let o, let sequence):
            (segment, offset, what, kind) = (s, o, "recovered a journal record with a damaged length", .journalRecordRepaired)
            detail = "the record at byte \(o) (sequence \(sequence)) had a damaged length; its checksum matched the bytes up to "
                + "the next record: recovered whole"
        case .tornTail(let s, let o, let bytes):
            (segment, offset, what, kind) = (s, o, "cut a torn journal tail", .journalTailCut)
            detail = "\(bytes) bytes of an incomplete record at byte \(o), with nothing valid after them, cut away "
                + "(kept in quarantine/\(Self.name(s)).\(o).bin)"
        }
        logger.warning("\(what)", metadata: ["journal.segment": "\(segment)", "journal.offset": "\(offset)"])
        return EventRecord(time: now, kind: kind, id: Self.name(segment), detail: detail)
    }

    private static func name(_ path: String) -> String { (path as NSString).lastPathComponent }
}
