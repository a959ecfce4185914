/// The pipeline's steps wired on one thread: the decode step, the partitions and the roll-up,
/// each item's actions performed at once, depth first, as the synchronous pipeline performs them.
/// What would go to the sink is collected. Tests and the fuzzers drive the real steps with it.
public struct StepDriver {
    public private(set) var decode: DecodeStep
    public private(set) var partitions: [PartitionStep]
    public private(set) var rollup: RollupCoordinator

    /// What reached the sink, by kind.
    public var readings: [Reading] = []
    public var rejects: [Reject] = []
    public var events: [EventRecord] = []
    public var totals: [TotalsRecord] = []
    public var alarms: [AlertRecord] = []
    public var snapshots: [[UInt8]] = []
    public var checkpoints: [PipelineCheckpoint] = []
    public var probes: [Int] = []
    public var answers: [Int: String] = [:]
    /// Sparkplug edge nodes asked for a rebirth, in order.
    public var rebirths: [String] = []

    /// Steps made from `settings`, from a restored (or new) state.
    public init(settings: PipelineSettings, state: PipelineCheckpoint.State? = nil, readingsToSink: Bool = false) {
        let s = state ?? PipelineCheckpoint.State(settings)
        decode = DecodeStep(decoder: s.decoder, settings: settings)
        partitions = s.partitions.enumerated().map { PartitionStep(index: $0.offset, aggregator: $0.element, readingsToSink: readingsToSink) }
        rollup = RollupCoordinator(totals: s.totals, alerts: s.alerts, settings: settings)
    }

    /// Takes a batch of inputs; `handOnAtEnd` hands on what was taken at its end, as the live
    /// pipeline does after each batch (a replay hands on only where the decode step says).
    public mutating func take(_ inputs: [DecodeStep.Input], handOnAtEnd: Bool = false) {
        var actions: [DecodeStep.Action] = []
        for input in inputs {
            decode.handle(input, into: &actions)
            perform(actions)
            actions.removeAll(keepingCapacity: true)
        }
        if handOnAtEnd {
            decode.forward(into: &actions)
            perform(actions)
        }
    }

    /// Readings that skip the decoder: routed to their partitions, then `watermark` to every
    /// partition.
    public mutating func take(readings: [Reading], watermark: Timestamp) {
        var byPartition = [[Reading]](repeating: [], count: partitions.count)
        for r in readings { byPartition[DecodeStep.partition(of: r.asset, count: partitions.count)].append(r) }
        for (i, batch) in byPartition.enumerated() where !batch.isEmpty { toPartition(i, .readings(batch)) }
        for i in partitions.indices { toPartition(i, .watermark(watermark)) }
    }

    /// The end of the input, straight to every partition (for readings that skipped the decoder).
    public mutating func end(_ ending: InputEnding) {
        for i in partitions.indices { toPartition(i, .end(ending)) }
    }

    /// An input for the roll-up from outside the stream.
    public mutating func control(_ c: RollupCoordinator.Control) {
        var actions: [RollupCoordinator.Action] = []
        rollup.handle(.control(c), into: &actions)
        rollup.flush(into: &actions)
        perform(actions)
    }

    private mutating func perform(_ actions: [DecodeStep.Action]) {
        for a in actions {
            switch a {
            case .handedOn: break
            case .rejects(let r): rejects += r
            case .partition(let i, let item): toPartition(i, item)
            case .rollup(let c): control(c)
            case .rebirth(let nodes): rebirths += nodes
            case .events(let e): events += e
            }
        }
    }

    private mutating func toPartition(_ i: Int, _ item: PartitionStep.Input) {
        var actions: [PartitionStep.Action] = []
        partitions[i].handle(item, into: &actions)
        partitions[i].flush(into: &actions)
        for a in actions {
            switch a {
            case .readings(let r): readings += r
            case .events(let e): events += e
            case .rollup(let out):
                var done: [RollupCoordinator.Action] = []
                rollup.handle(.fromPartition(i, out), into: &done)
                rollup.flush(into: &done)
                perform(done)
            }
        }
    }

    private mutating func perform(_ actions: [RollupCoordinator.Action]) {
        for a in actions {
            switch a {
            case .totals(let t): totals += t
            case .alarms(let a): alarms += a
            case .snapshot(let s): snapshots.append(s)
            case .status: break
            case .probe(let id): probes.append(id)
            case .reconfigured: break
            case .checkpoint(let c): checkpoints.append(c)
            case .answer(let ticket, let text): answers[ticket] = text
            }
        }
    }
}
