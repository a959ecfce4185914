import CBMCore
import Dispatch
import Foundation
import Synchronization

/// The Dispatch pipeline of DESIGN §2: the core's steps, each on a bounded ``Stage``, and the
/// wiring that performs the actions they return.
///
///     submit ─▶ decode ─▶ partition i ─▶ roll-up ─▶ sink ─▶ files, then alarms and checkpoints
///               DecodeStep  PartitionStep  RollupCoordinator  FileSink
///
/// When a later stage is slow, the earlier ones wait, and in the end `submit` blocks its caller
/// (the MQTT callback), so the broker holds the messages. One asset always goes to the same
/// partition and every stage handles its items in order, so per-asset order is kept. The steps
/// own their rules (hand-ons, lockstep, lowest watermark, barriers); this type only moves items.
///
/// The sink is the one exit: after a batch of alarms is written, `onAlarms` hears it (the log,
/// MQTT, the hook); after a checkpoint's output is synced, `onCheckpoint` gets the state with
/// the output marks.
public final class Pipeline: Sendable {
    let intake: Stage<DecodeStep.Input, DecodeStep>
    let partitions: [Stage<PartitionStep.Input, PartitionStep>]
    let rollup: Stage<RollupCoordinator.Input, RollupCoordinator>
    let sinkStage: Stage<SinkItem, FileSink>
    /// When relayed: what the decode step asks for, performed in order on a thread of its own.
    let relay: Stage<Relayed, Void>?
    let counters = Counters()
    /// How long the decoding stage waits, once a message from the broker finds it idle, for the
    /// ones behind it (a millisecond: at a broker's rates, dozens of messages a wake-up instead
    /// of one; nothing a reader of the totals could see).
    static let gatherSeconds = 0.001
    /// What the sink counts (rejects by code, output errors).
    let sinkCounters: FileSink.Counters
    /// The history archive the aggregators share: what each stage wrote before a checkpoint
    /// barrier is sealed as it passes it, and committed once the checkpoint is written.
    public let archive: HistoryArchive
    private let pending = Pending()

    /// What waits for the roll-up: reloads on their way to the sink, oldest first (the sink takes
    /// each where the roll-up did), and who waits for the answer to each command.
    final class Pending: Sendable {
        let reloads = Mutex<[Configuration]>([])
        let replies = Mutex<(next: Int, waiting: [Int: @Sendable (String) -> Void])>((0, [:]))
    }

    /// What the sink stage takes: output batches for the files, and what it does besides.
    enum SinkItem: Sendable {
        case output(OutputBatch)
        /// Time passes: idle files rotate.
        case tick(Timestamp)
        /// A liveness probe has come through.
        case probe(Int)
        /// New output settings.
        case reconfigure(Configuration)
        /// A checkpoint: the output so far is synced, then the state is handed on.
        case checkpoint(PipelineCheckpoint)
    }

    /// What the relay performs: the decode step's actions, and the caller's own items for the
    /// roll-up (commands) and the sink (events, ticks), each where it came.
    enum Relayed: Sendable {
        case decoded(DecodeStep.Action)
        case rollup(RollupCoordinator.Input)
        case sink(SinkItem)
    }

    /// Counts of what went through, for logs and status.
    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var readings = 0
        public var rejects = 0
        public var totals = 0
    }

    final class Counters: Sendable {
        /// The latest watermark handed on (µs; `Int64.min`: none yet).
        let watermark = Atomic<Int64>(.min)
        /// Per subscription, the latest receive time of a message it took.
        let lastByRule = Mutex<[Int64]>([])
        /// Readings by measurement (``Measurement/allCases`` order).
        let readingsByMeasurement = Mutex<[Int]>(Array(repeating: 0, count: Measurement.allCases.count))
        let probe = Atomic<Int>(0)
        let openWindows = Atomic<Int>(0)
        let messages = Atomic<Int>(0)
        let readings = Atomic<Int>(0)
        let rejects = Atomic<Int>(0)
        let totals = Atomic<Int>(0)
    }

    /// Builds the pipeline from `state` (new when nil). The sink is called only on the sink
    /// stage's queue (or, when `synchronous`, on the caller's thread, for a replay whose output must
    /// not depend on timing). `onWatermark` hears the watermark at each hand-on of the decode step,
    /// before what it hands on is written (the replay's clock). `onRebirth` hears the Sparkplug
    /// edge nodes (`group/edge_node`) the decoder asks for a rebirth, as it hands on.
    ///
    /// `relayed` (with `synchronous`): the decode step runs on the caller's thread and the steps
    /// after it on one thread of their own, doing exactly what they do synchronously, in the same
    /// order (the replay, on two cores, writes the same files).
    public init(configuration: Configuration, sink: sending FileSink, synchronous: Bool = false, relayed: Bool = false,
                state: PipelineCheckpoint.State? = nil,
                onAlarms: @escaping @Sendable ([AlertRecord]) -> Void = { _ in },
                onCheckpoint: @escaping @Sendable (PipelineCheckpoint, _ outputMarks: [UInt8]) -> Void = { _, _ in },
                onWatermark: @escaping @Sendable (Timestamp) -> Void = { _ in },
                onRebirth: @escaping @Sendable ([String]) -> Void = { _ in },
                onStatus: @escaping @Sendable (FieldStatus) -> Void = { _ in },
                onTotals: (@Sendable ([TotalsRecord]) -> Void)? = nil) {
        let settings = configuration.pipelineSettings
        let p = configuration.pipeline
        let counters = self.counters
        let state = state ?? PipelineCheckpoint.State(settings)
        let pending = self.pending
        let archive = state.archive
        self.archive = archive

        sinkCounters = sink.counters
        let sinkStage = Stage<SinkItem, FileSink>(label: "cbm-ingest.sink", capacity: 64, batch: 16, synchronous: synchronous,
                                                  state: sink) { sink, items in
            for item in items {
                switch item {
                case .output(let batch):
                    sink.write(batch)
                    if case .alerts(let alarms) = batch { onAlarms(alarms) }
                case .tick(let t): sink.tick(t)
                case .probe(let id): counters.probe.store(id, ordering: .relaxed)
                case .reconfigure(let c): sink.reconfigure(c)
                case .checkpoint(let c):
                    let marks = sink.sync()
                    onCheckpoint(c, marks)
                    sink.checkpointed()
                }
            }
        }
        self.sinkStage = sinkStage

        // A fault to inject for tests of health: while this file exists, the roll-up stage waits.
        let stall = synchronous ? nil : ProcessInfo.processInfo.environment["CBM_INGEST_STALL_ROLLUP_WHILE"]
        let rollup = Stage<RollupCoordinator.Input, RollupCoordinator>(
            label: "cbm-ingest.rollup", capacity: 4 * settings.partitions + 64, batch: 64, synchronous: synchronous,
            state: RollupCoordinator(totals: state.totals, alerts: state.alerts, settings: settings)
        ) { step, items in
            if let stall { while FileManager.default.fileExists(atPath: stall) { usleep(20_000) } }
            var actions: [RollupCoordinator.Action] = []
            for item in items { step.handle(item, into: &actions) }
            step.flush(into: &actions)
            for a in actions {
                switch a {
                case .totals(let t):
                    counters.totals.add(t.count, ordering: .relaxed)
                    onTotals?(t)
                    sinkStage.submit(.output(.totals(t)))
                case .alarms(let a): sinkStage.submit(.output(.alerts(a)))
                case .snapshot(let bytes): sinkStage.submit(.output(.snapshot(bytes)))
                case .status(let s): onStatus(s)
                case .probe(let id): sinkStage.submit(.probe(id))
                case .reconfigured:
                    if let c = pending.reloads.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { sinkStage.submit(.reconfigure(c)) }
                case .checkpoint(let c):
                    archive.seal(writer: HistoryArchive.rollupWriter, sequence: c.sequence)
                    sinkStage.submit(.checkpoint(c))
                case .answer(let ticket, let text):
                    pending.replies.withLock { $0.waiting.removeValue(forKey: ticket) }?(text)
                }
            }
            counters.openWindows.store(step.openHourCount, ordering: .relaxed)
        }
        self.rollup = rollup

        let readingsToSink = configuration.output.readings
        let partitions = state.partitions.enumerated().map { i, aggregator in
            Stage<PartitionStep.Input, PartitionStep>(
                label: "cbm-ingest.partition.\(i)", capacity: max(4, p.queueCapacity / max(p.batch, 1)), batch: 8,
                synchronous: synchronous, state: PartitionStep(index: i, aggregator: aggregator, readingsToSink: readingsToSink)
            ) { step, items in
                var actions: [PartitionStep.Action] = []
                var measured = [Int](repeating: 0, count: Measurement.allCases.count)
                for item in items {
                    if case .readings(let readings) = item { for r in readings { measured[r.measurement.ordinal] += 1 } }
                }
                counters.readingsByMeasurement.withLock { for i in $0.indices { $0[i] += measured[i] } }
                func perform() {
                    for a in actions {
                        switch a {
                        case .readings(let r): sinkStage.submit(.output(.readings(r)))
                        case .events(let e): sinkStage.submit(.output(.events(e)))
                        case .rollup(let out):
                            if case .checkpoint(let draft, _) = out { archive.seal(writer: i, sequence: draft.sequence) }
                            rollup.submit(.fromPartition(i, out))
                        }
                    }
                    actions.removeAll(keepingCapacity: true)
                }
                for item in items {
                    step.handle(item, into: &actions)
                    perform()
                }
                step.flush(into: &actions)
                perform()
            }
        }
        self.partitions = partitions

        @Sendable func performDecoded(_ a: DecodeStep.Action) {
            switch a {
            case .handedOn(let watermark, let messages, let readings, let rejects):
                onWatermark(watermark)
                counters.watermark.store(watermark.microseconds, ordering: .relaxed)
                counters.messages.add(messages, ordering: .relaxed)
                counters.readings.add(readings, ordering: .relaxed)
                counters.rejects.add(rejects, ordering: .relaxed)
            case .rejects(let r): sinkStage.submit(.output(.rejects(r)))
            case .partition(let i, let item): partitions[i].submit(item)
            case .rollup(let c): rollup.submit(.control(c))
            case .rebirth(let nodes): onRebirth(nodes)
            case .events(let e): sinkStage.submit(.output(.events(e)))
            }
        }
        // A hand-on is a few actions a partition, with the readings of what was submitted at once
        // (a replay's batch of lines): some hundreds in flight, so that the decoding thread goes on
        // while the steps after it close an hour (every asset's figures, the roll-up, the records,
        // the move to the archive: a burst on their thread alone, with the other core idle when
        // the relay held only a dozen; 5 % faster at 1 M messages, a tenth at 10 M, for some MB
        // at the peak). Memory holds those, not a queue of the recording.
        let relay = synchronous && relayed
            ? Stage<Relayed, Void>(label: "cbm-ingest.relay", capacity: 128 * settings.partitions + 256, batch: 16, state: ()) { _, items in
                for item in items {
                    switch item {
                    case .decoded(let a): performDecoded(a)
                    case .rollup(let r): rollup.submit(r)
                    case .sink(let s): sinkStage.submit(s)
                    }
                }
            }
            : nil
        self.relay = relay

        intake = Stage<DecodeStep.Input, DecodeStep>(
            label: "cbm-ingest.decode", capacity: p.queueCapacity, batch: p.batch, synchronous: synchronous,
            gather: Self.gatherSeconds,
            state: DecodeStep(decoder: state.decoder, settings: settings)
        ) { step, items in
            var actions: [DecodeStep.Action] = []
            func perform() {
                if let relay {
                    relay.submit(contentsOf: actions.map { .decoded($0) })
                } else {
                    for a in actions { performDecoded(a) }
                }
                actions.removeAll(keepingCapacity: true)
            }
            for item in items {
                step.handle(item, into: &actions)
                perform()
            }
            let last = step.decoder.lastReceivedByRule
            counters.lastByRule.withLock { to in
                if to.count != last.count { to = Array(repeating: .min, count: last.count) }
                for i in last.indices { to[i] = last[i] }
            }
            // Live, what was taken goes on at once. A replay hands on only where the decode step
            // says (and at its control items), so that every record is written at the same point
            // of the stream, with the same clock, into the same file, whatever the batch size.
            if !synchronous {
                step.forward(into: &actions)
                perform()
            }
        }
    }

    /// Takes a new configuration in place (a reload): rules, register, alert rules, output
    /// settings; the state is kept.
    public func reconfigure(_ c: Configuration) {
        pending.reloads.withLock { $0.append(c) }
        intake.submit(.control(.reconfigure(c.pipelineSettings)))
    }

    /// Applies an operator's alarm command; `reply` hears "ok" or why not.
    public func command(_ c: AlertEngine.Command, at t: Timestamp, reply: @escaping @Sendable (String) -> Void) {
        let ticket = pending.replies.withLock { r -> Int in
            r.next += 1
            r.waiting[r.next] = reply
            return r.next
        }
        let item = RollupCoordinator.Input.control(.command(c, at: t, ticket: ticket))
        if let relay { relay.submit(.rollup(item)) } else { rollup.submit(item) }
    }

    /// Closes the output files (after the last ``stop(at:)`` or ``finish(at:)``).
    public func close() {
        drain()
        sinkStage.withState { $0.close() }
    }
}

extension Configuration {
    /// What the pipeline's steps are made from.
    public var pipelineSettings: PipelineSettings {
        PipelineSettings(aggregation: aggregation, partitions: pipeline.partitions, rules: rules, register: register, limits: limits,
                         alerts: alerts, maintenance: maintenance, factors: factors)
    }
}
