import CBMCore
import Dispatch
import Foundation
import Synchronization

/// The Dispatch pipeline of DESIGN §2:
///
///     submit ─▶ intake (bounded) ─▶ decode ─▶ partitions by asset ─▶ roll-up ─▶ sink
///               (messages, ticks)   (watermark)  (hourly figures)    (totals)
///
/// Each arrow is a bounded ``Stage``: when a later stage is slow, the earlier ones wait, and in
/// the end `submit` blocks its caller (the MQTT callback), so the broker holds the messages.
/// One asset always goes to the same partition and every stage handles its items in order, so
/// per-asset order is kept. The decode stage owns the watermark and sends it after each batch to
/// every partition; the roll-up closes windows at the lowest watermark all partitions have
/// reached, so no partition's hour is missing from a roll-up.
///
/// A checkpoint is a barrier that flows through the stages behind the messages before it: each
/// stage adds its state, and the sink, once the output files are synced, hands the whole to
/// `onCheckpoint` with the last journal sequence it reflects.
public final class Pipeline: Sendable {
    let intake: Stage<IntakeItem>
    let partitions: [Stage<PartitionItem>]
    let rollup: Stage<RollupItem>
    let sinkStage: Stage<SinkBatch>
    let counters = Counters()

    /// How the input ends: `close` closes every window that has data (end of a replay);
    /// `flush` only writes the pending corrections of closed windows (a stop: open windows stay
    /// open).
    enum Ending: Sendable {
        case close
        case flush
    }

    enum IntakeItem: Sendable {
        case message(InboundMessage)
        /// A liveness probe that must come out of the sink (the watchdog's proof of progress).
        case probe(Int)
        case reconfigure(Configuration)
        case tick(Timestamp)
        case snapshot(Timestamp)
        case checkpoint
        case end(Ending)
    }

    enum PartitionItem: Sendable {
        case readings([Reading])
        case probe(Int)
        case watermark(Timestamp)
        case snapshot(Timestamp)
        case checkpoint(CheckpointAssembly)
        case end(Ending)
    }

    enum RollupItem: Sendable {
        case hours(partition: Int, [AssetHour])
        /// When assets were heard from (for `no_data`; not behind any barrier: partition -1).
        case heard(HeardFrom)
        /// An operator's alarm command (not behind any barrier: partition -1).
        case command(AlertEngine.Command, Timestamp, reply: @Sendable (String) -> Void)
        case probe(partition: Int, Int)
        case reconfigure(Configuration)
        case watermark(partition: Int, Timestamp)
        case openHours(partition: Int, [AssetHour], generatedAt: Timestamp)
        case checkpoint(partition: Int, CheckpointAssembly)
        case ended(partition: Int, Ending)

        var partition: Int {
            switch self {
            case .hours(let p, _), .watermark(let p, _), .openHours(let p, _, _), .checkpoint(let p, _), .ended(let p, _): return p
            case .probe(let p, _): return p
            case .command, .reconfigure, .heard: return -1
            }
        }
    }

    /// Counts of what went through, for logs and status.
    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var readings = 0
        public var rejects = 0
        public var totals = 0
    }

    final class Counters: Sendable {
        let probe = Atomic<Int>(0)
        let openWindows = Atomic<Int>(0)
        let messages = Atomic<Int>(0)
        let readings = Atomic<Int>(0)
        let rejects = Atomic<Int>(0)
        let totals = Atomic<Int>(0)
    }

    /// Builds the pipeline; `sink` is only ever called on the sink stage's queue (or, when
    /// `synchronous`, on the caller's thread, for a replay whose output must not depend on
    /// timing). `restoring` is the state of a checkpoint to start from. `onWatermark` hears the
    /// watermark each time the decode stage hands on (before what it hands on is written).
    /// `incompleteBefore`: windows that start before it are not written (a rebuild that cannot
    /// reach the full history).
    public init(configuration: Configuration, sink: FileSink, synchronous: Bool = false, restoring state: [UInt8]? = nil,
                writtenRevisions: [TotalsRecord.Key: Int] = [:], incompleteBefore: Timestamp? = nil,
                onAlerts: @escaping @Sendable ([AlertRecord]) -> Void = { _ in },
                onWatermark: @escaping @Sendable (Timestamp) -> Void = { _ in }) throws {
        let p = configuration.pipeline
        let counters = self.counters
        let count = p.partitions
        let a = configuration.aggregation
        let sinkBox = SendableBox(sink)
        let sinkStage = Stage<SinkBatch>(label: "cbm-ingest.sink", capacity: 64, batch: 16, synchronous: synchronous) { batches in
            for b in batches {
                switch b {
                case .probe(let id): counters.probe.store(id, ordering: .relaxed)
                case .reconfigure(let c): sinkBox.value.reconfigure(c)
                default: sinkBox.value.write(b)
                }
            }
        }
        // A test-only switch: while this file exists, the roll-up stage stalls (so a test can see
        // the watchdog stop).
        let stallFile = ProcessInfo.processInfo.environment["CBM_INGEST_TEST_STALL_FILE"]
        self.sinkStage = sinkStage

        // The states to start from.
        var (decoderState, partitionStates, totalsState, alertState) = try Self.states(configuration, restoring: state)

        // What was written after the checkpoint (before a crash) is superseded, not undercut.
        totalsState.raiseRevisions(writtenRevisions)
        if let t = incompleteBefore { totalsState.incompleteBefore = max(totalsState.incompleteBefore, t.microseconds) }

        // Roll-up: one, after every partition.
        let rollupState = SendableBox(RollupState(
            totals: totalsState,
            alerts: alertState,
            watermarks: [Timestamp](repeating: Timestamp(microseconds: .min), count: count),
            encoder: RecordEncoder(zone: ZoneOffsets(zone: a.timeZone), basis: a.basis),
            handOns: [Int](repeating: 0, count: count), waiting: [[RollupItem]](repeating: [], count: count)))
        let factors = configuration.factors
        let rollup = Stage<RollupItem>(label: "cbm-ingest.rollup", capacity: 4 * count + 64, batch: 64, synchronous: synchronous) { items in
            var records: [TotalsRecord] = []
            var alerts: [AlertRecord] = []
            let s = rollupState
            func send() {
                if !records.isEmpty {
                    counters.totals.add(records.count, ordering: .relaxed)
                    s.value.alerts.evaluate(records, into: &alerts)
                    sinkStage.submit(.totals(records))
                    records.removeAll()
                }
                if !alerts.isEmpty {
                    sinkStage.submit(.alerts(alerts))
                    onAlerts(alerts)
                    alerts.removeAll()
                }
            }
            // The partitions' items are taken in lockstep, one hand-on of the decode stage at a
            // time: a partition that is ahead (it has handed on more watermarks than the slowest)
            // waits, so what the roll-up sees does not depend on how fast each partition runs, and
            // the live pipeline writes what a replay writes. Behind a checkpoint barrier, a
            // partition's later items wait until every partition has passed it, so the state saved
            // is exactly that before it.
            func process(_ item: RollupItem) {
                let p = item.partition
                if p >= 0 && (s.value.barrier.contains(p) || !s.value.waiting[p].isEmpty
                    || s.value.handOns[p] > s.value.handOns.min()!) {
                    s.value.waiting[p].append(item)
                    return
                }
                apply(item)
                var moved = true
                while moved {
                    moved = false
                    let slowest = s.value.handOns.min()!
                    for q in 0..<count where !s.value.waiting[q].isEmpty && s.value.handOns[q] == slowest && !s.value.barrier.contains(q) {
                        apply(s.value.waiting[q].removeFirst())
                        moved = true
                    }
                }
            }
            func apply(_ item: RollupItem) {
                switch item {
                case .hours(_, let hours):
                    s.value.totals.receive(hours)
                case .probe(_, let id):
                    s.value.probes[id, default: 0] += 1
                    if s.value.probes[id] == count {
                        s.value.probes[id] = nil
                        send()
                        sinkStage.submit(.probe(id))
                    }
                case .reconfigure(let c):
                    s.value.totals.reconfigure(register: c.register, factors: c.factors)
                    s.value.alerts.reconfigure(rules: c.alerts, register: c.register, maintenance: c.maintenance)
                    send()
                    sinkStage.submit(.reconfigure(c))
                case .heard(let heard):
                    s.value.alerts.heard(heard, into: &alerts)
                case .command(let command, let t, let reply):
                    switch s.value.alerts.apply(command, at: t) {
                    case .success(let record?):
                        alerts.append(record)
                        reply("ok")
                    case .success(nil): reply("ok")
                    case .failure(let e): reply(e.message)
                    }
                case .watermark(let partition, let w):
                    s.value.handOns[partition] += 1
                    s.value.watermarks[partition] = w
                    let low = s.value.watermarks.min()!
                    if low > s.value.closedAt {
                        s.value.closedAt = low
                        s.value.totals.advance(to: low, into: &records)
                        send()
                        // Windows have closed through the watermark less the lateness.
                        s.value.alerts.advance(to: low + -a.allowedLatenessUS, into: &alerts)
                    }
                case .openHours(_, let hours, let generatedAt):
                    s.value.openHours += hours
                    s.value.openReports += 1
                    guard s.value.openReports == count else { break }
                    let latest = s.value.totals.latest(openHours: s.value.openHours)
                    let bytes = s.value.encoder.snapshot(
                        generatedAt: generatedAt, watermark: s.value.watermarks.min()!, open: latest,
                        lastHour: s.value.totals.lastClosed[.hour] ?? [], lastDay: s.value.totals.lastClosed[.day] ?? [],
                        factors: factors)
                    s.value.openHours.removeAll()
                    s.value.openReports = 0
                    send()
                    sinkStage.submit(.snapshot(bytes))
                case .checkpoint(let partition, let assembly):
                    s.value.barrier.insert(partition)
                    guard s.value.barrier.count == count else { break }
                    send()
                    var w = BinaryWriter()
                    s.value.totals.save(into: &w)
                    s.value.alerts.save(into: &w)
                    sinkStage.submit(.checkpoint(sequence: assembly.sequence, state: assembly.encode(rollup: w.bytes)))
                    s.value.barrier.removeAll()  // the waiting items go on
                case .ended(_, let ending):
                    s.value.ended += 1
                    guard s.value.ended == count else { break }
                    s.value.ended = 0
                    switch ending {
                    case .close: s.value.totals.finish(into: &records)
                    case .flush: s.value.totals.flushCorrections(into: &records)
                    }
                }
            }
            if let stallFile { while access(stallFile, F_OK) == 0 { usleep(50_000) } }
            for item in items { process(item) }
            send()
            counters.openWindows.store(s.value.totals.openHourCount, ordering: .relaxed)
        }
        self.rollup = rollup

        // Partitions: the per-asset half of aggregation.
        let readingsToSink = configuration.output.readings
        partitions = (0..<count).map { i in
            let aggregator = SendableBox(partitionStates[i])
            let capacity = max(4, p.queueCapacity / max(p.batch, 1))
            return Stage<PartitionItem>(label: "cbm-ingest.partition.\(i)", capacity: capacity, batch: 8, synchronous: synchronous) { items in
                var hours: [AssetHour] = []
                var events: [EventRecord] = []
                func send() {
                    if !events.isEmpty { sinkStage.submit(.events(events)); events.removeAll() }
                    if !hours.isEmpty { rollup.submit(.hours(partition: i, hours)); hours.removeAll() }
                }
                for item in items {
                    switch item {
                    case .readings(let readings):
                        aggregator.value.add(readings, events: &events)
                        if readingsToSink { sinkStage.submit(.readings(readings)) }
                    case .watermark(let w):
                        aggregator.value.advance(to: w, into: &hours)
                        send()
                        rollup.submit(.watermark(partition: i, w))
                    case .snapshot(let t):
                        send()
                        rollup.submit(.openHours(partition: i, aggregator.value.openHours(), generatedAt: t))
                    case .probe(let id):
                        send()
                        rollup.submit(.probe(partition: i, id))
                    case .checkpoint(let assembly):
                        send()
                        var w = BinaryWriter()
                        aggregator.value.save(into: &w)
                        assembly.add(w.bytes, partition: i)
                        rollup.submit(.checkpoint(partition: i, assembly))
                    case .end(let ending):
                        if case .close = ending { aggregator.value.finish(into: &hours) }
                        send()
                        rollup.submit(.ended(partition: i, ending))
                    }
                }
                send()
            }
        }

        // Decode: routes readings by asset, owns the watermark, notes when assets were heard
        // from, and hands on at every boundary where a window may close (``DecodeStep``).
        let step = SendableBox(DecodeStep(decoder: decoderState, partitions: count, settings: a,
                                          silenceAfterUS: DecodeStep.silenceAfter(configuration.alerts)))
        let partitions = self.partitions
        let rollupStage = rollup
        intake = Stage<IntakeItem>(label: "cbm-ingest.decode", capacity: p.queueCapacity, batch: p.batch, synchronous: synchronous) { items in
            func forward() {
                let h = step.value.handOn()
                onWatermark(h.watermark)
                counters.messages.add(h.messages, ordering: .relaxed)
                counters.readings.add(h.readingCount, ordering: .relaxed)
                counters.rejects.add(h.rejects.count, ordering: .relaxed)
                if !h.rejects.isEmpty { sinkStage.submit(.rejects(h.rejects)) }
                for (i, batch) in h.readings.enumerated() where !batch.isEmpty { partitions[i].submit(.readings(batch)) }
                if let heard = h.heard { rollupStage.submit(.heard(heard)) }
                for part in partitions { part.submit(.watermark(h.watermark)) }
            }
            for item in items {
                switch item {
                case .message(let m):
                    if step.value.take(m) { forward() }
                case .tick(let t):
                    if step.value.tick(t) { forward() }
                case .probe(let id):
                    forward()
                    for part in partitions { part.submit(.probe(id)) }
                case .reconfigure(let c):
                    forward()
                    step.value.reconfigure(rules: c.rules, register: c.register, limits: c.limits,
                                           silenceAfterUS: DecodeStep.silenceAfter(c.alerts))
                    rollupStage.submit(.reconfigure(c))
                case .snapshot(let t):
                    forward()
                    for part in partitions { part.submit(.snapshot(t)) }
                case .checkpoint:
                    forward()
                    var w = BinaryWriter()
                    step.value.decoder.save(into: &w)
                    let assembly = CheckpointAssembly(sequence: step.value.lastSequence, decoder: w.bytes, partitions: count)
                    for part in partitions { part.submit(.checkpoint(assembly)) }
                case .end(let ending):
                    step.value.finish()
                    forward()
                    for part in partitions { part.submit(.end(ending)) }
                }
            }
            // Live, what was taken goes on at once. A replay hands on only where the decode step
            // says (and at its control items), so that every record is written at the same point
            // of the stream, with the same clock, into the same file, whatever the batch size.
            if !synchronous { forward() }
        }
    }

    private struct RollupState {
        var totals: TotalsAggregator
        var alerts: AlertEngine
        var watermarks: [Timestamp]
        var closedAt = Timestamp(microseconds: .min)
        var ended = 0
        var encoder: RecordEncoder
        var openHours: [AssetHour] = []
        var openReports = 0
        /// Partitions that have passed the current checkpoint barrier.
        var barrier = Set<Int>()
        /// Per partition: the watermarks (hand-ons) taken, and the items waiting for the others.
        var handOns: [Int]
        var waiting: [[RollupItem]]
        var probes: [Int: Int] = [:]
    }
}

/// A value confined to one serial queue by construction (a stage's state, touched only by its
/// handler), carried into a `@Sendable` closure.
final class SendableBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
