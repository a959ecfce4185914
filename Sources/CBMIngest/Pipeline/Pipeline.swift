import CBMCore
import Dispatch
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
public final class Pipeline: Sendable {
    private let intake: Stage<IntakeItem>
    private let partitions: [Stage<PartitionItem>]
    private let rollup: Stage<RollupItem>
    private let sinkStage: Stage<SinkBatch>
    private let counters = Counters()

    /// How the input ends: `close` closes every window that has data (end of a replay);
    /// `flush` only writes the pending corrections of closed windows (a stop: open windows stay
    /// open).
    enum Ending: Sendable {
        case close
        case flush
    }

    enum IntakeItem: Sendable {
        case message(InboundMessage)
        case tick(Timestamp)
        case snapshot(Timestamp)
        case end(Ending)
    }

    enum PartitionItem: Sendable {
        case readings([Reading])
        case watermark(Timestamp)
        case snapshot(Timestamp)
        case end(Ending)
    }

    enum RollupItem: Sendable {
        case hours([AssetHour])
        case watermark(partition: Int, Timestamp)
        case openHours(partition: Int, [AssetHour], generatedAt: Timestamp)
        case ended(partition: Int, Ending)
    }

    /// Counts of what went through, for logs and status.
    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var readings = 0
        public var rejects = 0
        public var totals = 0
    }

    private final class Counters: Sendable {
        let messages = Atomic<Int>(0)
        let readings = Atomic<Int>(0)
        let rejects = Atomic<Int>(0)
        let totals = Atomic<Int>(0)
    }

    /// Builds the pipeline; `sink` is only ever called on the sink stage's queue.
    public init(configuration: Configuration, sink: FileSink) {
        let p = configuration.pipeline
        let counters = self.counters
        let sinkBox = SendableBox(sink)
        let sinkStage = Stage<SinkBatch>(label: "cbm-ingest.sink", capacity: 64, batch: 16) { batches in
            for b in batches { sinkBox.value.write(b) }
        }
        self.sinkStage = sinkStage

        // Roll-up: one, after every partition.
        let count = p.partitions
        let a = configuration.aggregation
        let rollupState = SendableBox(RollupState(
            totals: TotalsAggregator(settings: a, factors: configuration.factors, register: configuration.register, horizonUS: a.horizonUS),
            watermarks: [Timestamp](repeating: Timestamp(microseconds: .min), count: count),
            encoder: RecordEncoder(zone: ZoneOffsets(zone: a.timeZone), basis: a.basis)))
        let factors = configuration.factors
        let rollup = Stage<RollupItem>(label: "cbm-ingest.rollup", capacity: 4 * count + 64, batch: 64) { items in
            var records: [TotalsRecord] = []
            let s = rollupState
            for item in items {
                switch item {
                case .hours(let hours):
                    s.value.totals.receive(hours)
                case .watermark(let partition, let w):
                    s.value.watermarks[partition] = w
                    let low = s.value.watermarks.min()!
                    if low > s.value.closedAt {
                        s.value.closedAt = low
                        s.value.totals.advance(to: low, into: &records)
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
                    if !records.isEmpty {
                        counters.totals.add(records.count, ordering: .relaxed)
                        sinkStage.submit(.totals(records))
                        records.removeAll()
                    }
                    sinkStage.submit(.snapshot(bytes))
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
            if !records.isEmpty {
                counters.totals.add(records.count, ordering: .relaxed)
                sinkStage.submit(.totals(records))
            }
        }
        self.rollup = rollup

        // Partitions: the per-asset half of aggregation.
        let readingsToSink = configuration.output.readings
        partitions = (0..<count).map { i in
            let aggregator = SendableBox(AssetAggregator(settings: a, horizonUS: a.horizonUS))
            let capacity = max(4, p.queueCapacity / max(p.batch, 1))
            return Stage<PartitionItem>(label: "cbm-ingest.partition.\(i)", capacity: capacity, batch: 8) { items in
                var hours: [AssetHour] = []
                var events: [EventRecord] = []
                for item in items {
                    switch item {
                    case .readings(let readings):
                        aggregator.value.add(readings, events: &events)
                        if readingsToSink { sinkStage.submit(.readings(readings)) }
                    case .watermark(let w):
                        aggregator.value.advance(to: w, into: &hours)
                        if !hours.isEmpty { rollup.submit(.hours(hours)); hours.removeAll() }
                        rollup.submit(.watermark(partition: i, w))
                    case .snapshot(let t):
                        rollup.submit(.openHours(partition: i, aggregator.value.openHours(), generatedAt: t))
                    case .end(let ending):
                        if case .close = ending { aggregator.value.finish(into: &hours) }
                        if !hours.isEmpty { rollup.submit(.hours(hours)); hours.removeAll() }
                        rollup.submit(.ended(partition: i, ending))
                    }
                }
                if !events.isEmpty { sinkStage.submit(.events(events)) }
            }
        }

        // Decode: routes readings by asset, and owns the watermark.
        let decoder = SendableBox(TelemetryDecoder(rules: configuration.rules, register: configuration.register,
                                                   limits: configuration.limits))
        let partitions = self.partitions
        intake = Stage<IntakeItem>(label: "cbm-ingest.decode", capacity: p.queueCapacity, batch: p.batch) { items in
            var readings: [Reading] = []
            var rejects: [Reject] = []
            var messages = 0
            var ending: Ending?
            var snapshot: Timestamp?
            readings.reserveCapacity(items.count * 2)
            for item in items {
                switch item {
                case .message(let m):
                    decoder.value.decode(m, readings: &readings, rejects: &rejects)
                    messages += 1
                case .tick(let t):
                    decoder.value.observe(t)
                case .snapshot(let t):
                    snapshot = t
                case .end(let e):
                    ending = e
                }
            }
            counters.messages.add(messages, ordering: .relaxed)
            counters.readings.add(readings.count, ordering: .relaxed)
            counters.rejects.add(rejects.count, ordering: .relaxed)
            if !rejects.isEmpty { sinkStage.submit(.rejects(rejects)) }
            if count == 1 {
                if !readings.isEmpty { partitions[0].submit(.readings(readings)) }
            } else {
                var routed = [[Reading]](repeating: [], count: count)
                for r in readings { routed[Pipeline.partition(of: r.asset, count: count)].append(r) }
                for (i, batch) in routed.enumerated() where !batch.isEmpty { partitions[i].submit(.readings(batch)) }
            }
            let w = decoder.value.watermark
            for part in partitions {
                part.submit(.watermark(w))
                if let ending { part.submit(.end(ending)) }
                if let snapshot { part.submit(.snapshot(snapshot)) }
            }
        }
    }

    private struct RollupState {
        var totals: TotalsAggregator
        var watermarks: [Timestamp]
        var closedAt = Timestamp(microseconds: .min)
        var ended = 0
        var encoder: RecordEncoder
        var openHours: [AssetHour] = []
        var openReports = 0
    }

    /// The partition of an asset: FNV-1a of its id, stable across runs (unlike `hashValue`).
    static func partition(of asset: String, count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in asset.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return Int(h % UInt64(count))
    }

    /// Hands a message to the pipeline; blocks while the intake queue is full.
    public func submit(_ message: InboundMessage) { intake.submit(.message(message)) }

    /// Hands several messages over (replay and tests).
    public func submit(contentsOf messages: [InboundMessage]) { intake.submit(contentsOf: messages.map { .message($0) }) }

    /// Tells the pipeline that a time has passed (the wall clock, in live mode), so that windows
    /// close when the field goes quiet and idle files rotate.
    public func tick(_ now: Timestamp) {
        intake.submit(.tick(now))
        sinkStage.submit(.tick(now))
    }

    /// Asks for `latest.json`: the running totals of the open windows, as of now.
    public func requestSnapshot(_ now: Timestamp) { intake.submit(.snapshot(now)) }

    /// Ends the input: every window that has data is closed and written, then `latest.json`
    /// (replay, tests).
    public func finish(at now: Timestamp) {
        intake.submit(.end(.close))
        intake.submit(.snapshot(now))
        drain()
    }

    /// Stops: everything submitted goes through, corrections of closed windows and `latest.json`
    /// are written; open windows stay open.
    public func stop(at now: Timestamp) {
        intake.submit(.end(.flush))
        intake.submit(.snapshot(now))
        drain()
    }

    /// Waits until everything submitted so far has gone through every stage.
    public func drain() {
        intake.drain()
        for p in partitions { p.drain() }
        rollup.drain()
        sinkStage.drain()
    }

    /// Messages waiting in the intake queue.
    public var intakeDepth: Int { intake.depth }

    /// What went through so far.
    public var statistics: Statistics {
        Statistics(messages: counters.messages.load(ordering: .relaxed),
                   readings: counters.readings.load(ordering: .relaxed),
                   rejects: counters.rejects.load(ordering: .relaxed),
                   totals: counters.totals.load(ordering: .relaxed))
    }
}

/// A value confined to one serial queue by construction (a stage's state, touched only by its
/// handler), carried into a `@Sendable` closure.
final class SendableBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
