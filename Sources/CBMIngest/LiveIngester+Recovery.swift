import CBMCore
import CBMStorage
import Foundation
import Logging

extension LiveIngester {
    /// What recovery found and built.
    struct Recovery {
        var pipeline: Pipeline
        var journal: Journal
        var checkpoint: UInt64
        var replayed: Int
    }

    /// Loads the newest checkpoint that is whole and fits the journal, replays the journal after
    /// it through the pipeline, and opens the journal for appending.
    ///
    /// A checkpoint is used only if its checksum (header included) matches, its sequence is not
    /// beyond the journal, and its state restores; otherwise the one before it is tried, then the
    /// journal from its beginning. When the journal's beginning was pruned, that rebuild cannot
    /// reach the full history: windows that start before its first message (plus `max_future`)
    /// are left as they were written, never overwritten with partial figures. Damaged journal
    /// bytes are kept in `quarantine/`; every finding is an event.
    func recover(sink: FileSink, onAlerts: @escaping @Sendable ([AlertRecord]) -> Void = { _ in }) throws -> Recovery {
        let j = configuration.journal
        let store = CheckpointStore(directory: j.directory)
        let now = self.now()
        let logger = self.logger
        var events: [EventRecord] = []
        func damaged(_ file: String, _ why: String) {
            logger.error("a checkpoint cannot be used", metadata: ["checkpoint.file": "\(file)", "error": "\(why)"])
            events.append(EventRecord(time: now, kind: .checkpointDamaged, id: (file as NSString).lastPathComponent,
                                      detail: "\(why): not used; recovery goes back to the checkpoint before it, or to the journal"))
        }
        let known = Journal.highestSequence(in: j.directory)
        var pipeline: Pipeline?
        var after: UInt64 = 0
        for loaded in store.load() {
            switch loaded {
            case .failure(let d):
                damaged(d.file, d.why)
            case .success(let checkpoint):
                guard checkpoint.sequence <= known else {
                    damaged(checkpoint.file, "it says the journal reached sequence \(checkpoint.sequence), the journal ends at \(known)")
                    continue
                }
                // Totals written after the checkpoint, before a crash, will be written again: their
                // revision numbers must go up, so a reader keeping the highest one gets the new ones.
                do {
                    pipeline = try Pipeline(configuration: configuration, sink: sink, restoring: checkpoint.state,
                                            writtenRevisions: sink.writtenRevisions(since: checkpoint.written), onAlerts: onAlerts)
                    after = checkpoint.sequence
                    // What was written after it, before the crash, is not written twice.
                    if !checkpoint.outputs.isEmpty { sink.skipRewrites(after: checkpoint.outputs) }
                } catch {
                    damaged(checkpoint.file, "its state does not restore into this configuration (\(error))")
                }
            }
            if pipeline != nil { break }
        }
        if pipeline == nil {
            var incomplete: Timestamp?
            if let first = Journal.firstSequence(in: j.directory), first > 1 {
                let earliest = Journal.firstRecordTime(in: j.directory) ?? now
                let from = earliest + configuration.limits.maxFutureUS
                incomplete = from
                logger.error("no usable checkpoint, and the journal's beginning was pruned: windows before \(from) are left as written")
                events.append(EventRecord(time: now, kind: .recoveryIncomplete, id: "journal",
                    detail: "no usable checkpoint, and the journal begins at sequence \(first) (older segments were pruned): "
                        + "windows that start before \(from) cannot be rebuilt whole and are left as they were written"))
            }
            pipeline = try Pipeline(configuration: configuration, sink: sink, writtenRevisions: sink.writtenRevisions(since: nil),
                                    incompleteBefore: incomplete, onAlerts: onAlerts)
        }
        let pipelineBuilt = pipeline!
        let policy = j
        sink.onCheckpoint = { sequence, state, outputs in
            do {
                // The journal keeps what the previous checkpoint needs too: it is the fallback.
                let previous = try store.write(sequence: sequence, state: state, outputs: outputs)
                let removed = Journal.prune(directory: policy.directory, checkpoint: min(previous ?? sequence, sequence),
                                            maxAgeUS: policy.retainUS, maxBytes: policy.maxBytes, now: LiveIngester.wallClock())
                logger.debug("checkpoint written", metadata: ["journal.sequence": "\(sequence)", "journal.pruned": "\(removed.count)"])
            } catch {
                logger.error("cannot write the checkpoint", metadata: ["error": "\(error)"])
            }
        }
        var replayed = 0
        var batch: [InboundMessage] = []
        let highest = try Journal.read(directory: j.directory, after: after, repair: true, damage: { d in
            let name: String
            switch d {
            case .skipped(let segment, let offset, let bytes, let sequence):
                name = (segment as NSString).lastPathComponent
                logger.warning("skipped damaged journal bytes", metadata: ["journal.segment": "\(segment)", "journal.offset": "\(offset)"])
                events.append(EventRecord(time: now, kind: .journalRecordSkipped, id: name,
                    detail: "\(bytes) bytes at byte \(offset)\(sequence.map { " (a record claiming sequence \($0))" } ?? "") fail their "
                        + "checksum: skipped, reading went on at the next good record; the bytes are kept in quarantine/\(name).\(offset).bin"))
            case .lengthRepaired(let segment, let offset, let sequence):
                name = (segment as NSString).lastPathComponent
                logger.warning("recovered a journal record with a damaged length", metadata: ["journal.segment": "\(segment)", "journal.offset": "\(offset)"])
                events.append(EventRecord(time: now, kind: .journalRecordRepaired, id: name,
                    detail: "the record at byte \(offset) (sequence \(sequence)) had a damaged length; its checksum matched the bytes up to "
                        + "the next record: recovered whole"))
            case .tornTail(let segment, let offset, let bytes):
                name = (segment as NSString).lastPathComponent
                logger.warning("cut a torn journal tail", metadata: ["journal.segment": "\(segment)", "journal.offset": "\(offset)"])
                events.append(EventRecord(time: now, kind: .journalTailCut, id: name,
                    detail: "\(bytes) bytes of an incomplete record at byte \(offset), with nothing valid after them, cut away "
                        + "(kept in quarantine/\(name).\(offset).bin)"))
            }
        }) { record in
            batch.append(record.message)
            replayed += 1
            if batch.count >= 4096 {
                pipelineBuilt.submit(contentsOf: batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        pipelineBuilt.submit(contentsOf: batch)
        if !events.isEmpty { pipelineBuilt.record(events) }
        let journal = try Journal(directory: j.directory, segmentBytes: j.segmentBytes, policy: j.policy, after: max(highest, after, known))
        return Recovery(pipeline: pipelineBuilt, journal: journal, checkpoint: after, replayed: replayed)
    }
}
