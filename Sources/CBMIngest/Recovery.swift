import CBMCore
import CBMStorage
import Foundation
import Logging

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

    func run(sink: sending FileSink, onAlarms: @escaping @Sendable ([AlertRecord]) -> Void) throws -> Result {
        let j = configuration.journal
        var events: [EventRecord] = []
        let known = Journal.highestSequence(in: j.directory)
        let (state, after) = restore(sink: sink, known: known, events: &events)
        let pipeline = Pipeline(configuration: configuration, sink: sink, state: state, onAlarms: onAlarms,
                                onCheckpoint: Self.checkpointWriter(j, logger: logger))
        do {
            return try replay(into: pipeline, after: after, known: known, events: events)
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
    private func restore(sink: FileSink, known: UInt64, events: inout [EventRecord]) -> (PipelineCheckpoint.State, UInt64) {
        let j = configuration.journal
        let settings = configuration.pipelineSettings
        func damaged(_ file: String, _ why: String) {
            logger.error("a checkpoint cannot be used", metadata: ["checkpoint.file": "\(file)", "error": "\(why)"])
            events.append(EventRecord(time: now, kind: .checkpointDamaged, id: (file as NSString).lastPathComponent,
                                      detail: "\(why): not used; recovery goes back to the checkpoint before it, or to the journal"))
        }
        for loaded in CheckpointStore(directory: j.directory).load() {
            switch loaded {
            case .failure(let d):
                damaged(d.file, d.why)
            case .success(let checkpoint):
                guard checkpoint.sequence <= known else {
                    damaged(checkpoint.file, "it says the journal reached sequence \(checkpoint.sequence), the journal ends at \(known)")
                    continue
                }
                do throws(PipelineCheckpoint.RestoreError) {
                    var state = try PipelineCheckpoint.restore(checkpoint.state, settings: settings)
                    state.totals.raiseRevisions(sink.writtenRevisions(since: checkpoint.written))
                    if !checkpoint.outputs.isEmpty { sink.skipRewrites(after: checkpoint.outputs) }
                    return (state, checkpoint.sequence)
                } catch {
                    damaged(checkpoint.file, "its state does not restore into this configuration (\(error))")
                }
            }
        }
        var state = PipelineCheckpoint.State(settings)
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

    /// Writes each checkpoint the pipeline hands on, then prunes the journal behind the one
    /// before it (the fallback).
    static func checkpointWriter(_ j: Configuration.JournalSettings, logger: Logger) -> @Sendable (PipelineCheckpoint, [UInt8]) -> Void {
        let store = CheckpointStore(directory: j.directory)
        return { checkpoint, outputs in
            do {
                let sequence = checkpoint.sequence
                let previous = try store.write(sequence: sequence, state: checkpoint.encoded(), outputs: outputs)
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
