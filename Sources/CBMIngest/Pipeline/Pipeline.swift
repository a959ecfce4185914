import CBMCore
import Dispatch
import Synchronization

/// The Dispatch pipeline of DESIGN §2:
///
///     submit ─▶ intake (bounded) ─▶ decode ─▶ partition by asset (serial per partition) ─▶ sink
///
/// Each arrow is a bounded ``Stage``: when a later stage is slow, the earlier ones wait, and in
/// the end `submit` blocks its caller (the MQTT callback), so the broker holds the messages.
/// Per-asset order is preserved: one asset always goes to the same partition, and each stage
/// handles its batches in order.
public final class Pipeline: Sendable {
    private let intake: Stage<InboundMessage>
    private let partitions: [Stage<Reading>]
    private let sinkStage: Stage<SinkBatch>
    private let counters = Counters()

    /// Counts of what went through, for logs and status.
    public struct Statistics: Sendable, Equatable {
        public var messages = 0
        public var readings = 0
        public var rejects = 0
    }

    private final class Counters: Sendable {
        let messages = Atomic<Int>(0)
        let readings = Atomic<Int>(0)
        let rejects = Atomic<Int>(0)
    }

    /// Builds the pipeline; `sink` is only ever called on the sink stage's queue.
    public init(configuration: Configuration, sink: FileSink) {
        let p = configuration.pipeline
        let sinkBox = SendableBox(sink)
        let sinkStage = Stage<SinkBatch>(label: "cbm-ingest.sink", capacity: 64, batch: 16) { batches in
            for b in batches { sinkBox.value.write(b) }
        }
        self.sinkStage = sinkStage
        let partitions = (0..<p.partitions).map { i in
            Stage<Reading>(label: "cbm-ingest.partition.\(i)", capacity: p.queueCapacity, batch: p.batch) { readings in
                // The aggregation stage takes its place here; for now readings go on as decoded.
                sinkStage.submit(.readings(readings))
            }
        }
        self.partitions = partitions
        let counters = self.counters
        let decoder = SendableBox(TelemetryDecoder(rules: configuration.rules, register: configuration.register,
                                                   limits: configuration.limits))
        let count = partitions.count
        intake = Stage<InboundMessage>(label: "cbm-ingest.decode", capacity: p.queueCapacity, batch: p.batch) { messages in
            var readings: [Reading] = []
            var rejects: [Reject] = []
            readings.reserveCapacity(messages.count * 2)
            for m in messages { decoder.value.decode(m, readings: &readings, rejects: &rejects) }
            counters.messages.add(messages.count, ordering: .relaxed)
            counters.readings.add(readings.count, ordering: .relaxed)
            counters.rejects.add(rejects.count, ordering: .relaxed)
            if !rejects.isEmpty { sinkStage.submit(.rejects(rejects)) }
            if count == 1 {
                partitions[0].submit(contentsOf: readings)
                return
            }
            var routed = [[Reading]](repeating: [], count: count)
            for r in readings { routed[Pipeline.partition(of: r.asset, count: count)].append(r) }
            for (i, batch) in routed.enumerated() where !batch.isEmpty { partitions[i].submit(contentsOf: batch) }
        }
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
    public func submit(_ message: InboundMessage) { intake.submit(message) }

    /// Hands several messages over (replay and tests).
    public func submit(contentsOf messages: [InboundMessage]) { intake.submit(contentsOf: messages) }

    /// Waits until everything submitted so far has gone through every stage.
    public func drain() {
        intake.drain()
        for p in partitions { p.drain() }
        sinkStage.drain()
    }

    /// Messages waiting in the intake queue.
    public var intakeDepth: Int { intake.depth }

    /// What went through so far.
    public var statistics: Statistics {
        Statistics(messages: counters.messages.load(ordering: .relaxed),
                   readings: counters.readings.load(ordering: .relaxed),
                   rejects: counters.rejects.load(ordering: .relaxed))
    }
}

/// A value confined to one serial queue by construction (a stage's state, touched only by its
/// handler), carried into a `@Sendable` closure.
final class SendableBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
