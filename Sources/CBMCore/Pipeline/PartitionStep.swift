/// The per-asset half of aggregation, as a state machine: the items a partition receives in, the
/// actions they call for out (for the sink, and for the roll-up, in order). One partition's
/// assets are always the same (``DecodeStep/partition(of:count:)``), so its state is theirs alone.
public struct PartitionStep: Sendable {
    public let index: Int
    public private(set) var aggregator: AssetAggregator
    private let readingsToSink: Bool
    private var hours: [AssetHour] = []
    private var events: [EventRecord] = []

    /// What a partition receives from the decode step, in order.
    public enum Input: Sendable {
        case readings([Reading])
        case watermark(Timestamp)
        case snapshot(Timestamp)
        case probe(Int)
        case checkpoint(CheckpointDraft)
        case end(InputEnding)
    }

    /// What it asks for.
    public enum Action: Sendable {
        /// Readings to `readings/` (when the output has them).
        case readings([Reading])
        /// Events (counter resets, rollovers, step backs) to `events/`.
        case events([EventRecord])
        /// On to the roll-up.
        case rollup(RollupCoordinator.PartitionOutput)
    }

    public init(index: Int, aggregator: AssetAggregator, readingsToSink: Bool) {
        self.index = index
        self.aggregator = aggregator
        self.readingsToSink = readingsToSink
    }

    /// Takes one item; appends what it calls for to `actions`.
    public mutating func handle(_ input: Input, into actions: inout [Action]) {
        switch input {
        case .readings(let readings):
            aggregator.add(readings, events: &events)
            if readingsToSink { actions.append(.readings(readings)) }
        case .watermark(let w):
            aggregator.advance(to: w, into: &hours)
            events += aggregator.takeEvents()
            flush(into: &actions)
            actions.append(.rollup(.watermark(w)))
        case .snapshot(let t):
            aggregator.emitChangedHours(into: &hours)
            flush(into: &actions)
            actions.append(.rollup(.openHours(aggregator.openHours(), rates: aggregator.lastRates(), generatedAt: t)))
        case .probe(let id):
            flush(into: &actions)
            actions.append(.rollup(.probe(id)))
        case .checkpoint(let draft):
            flush(into: &actions)
            var w = BinaryWriter()
            aggregator.save(into: &w)
            actions.append(.rollup(.checkpoint(draft, state: w.bytes)))
        case .end(let ending):
            switch ending {
            case .close: aggregator.finish(into: &hours)
            case .flush: aggregator.flushCorrections(into: &hours)
            }
            events += aggregator.takeEvents()
            flush(into: &actions)
            actions.append(.rollup(.ended(ending)))
        }
    }

    /// Hands on the events and closed hours gathered so far (at the end of each batch, and
    /// before every item for the roll-up).
    public mutating func flush(into actions: inout [Action]) {
        if !events.isEmpty {
            actions.append(.events(events))
            events.removeAll()
        }
        if !hours.isEmpty {
            actions.append(.rollup(.hours(hours)))
            hours.removeAll()
        }
    }
}
