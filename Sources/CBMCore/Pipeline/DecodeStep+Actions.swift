extension DecodeStep {
    /// What the decode step receives: messages and the passing of time, and control items that
    /// go through every step behind the messages before them.
    public enum Input: Sendable {
        case message(InboundMessage)
        /// A recording's lines, read where they lie (each taken as its message would be).
        case lines(MessageBatch)
        case tick(Timestamp)
        case control(Control)
    }

    public enum Control: Sendable {
        /// A liveness probe that must come out of the sink.
        case probe(Int)
        /// `latest.json` as of this time.
        case snapshot(Timestamp)
        /// A checkpoint barrier.
        case checkpoint
        /// The end of the input.
        case end(InputEnding)
        /// New settings (a reload).
        case reconfigure(PipelineSettings)
    }

    /// What it asks for, in order.
    public enum Action: Sendable {
        /// A hand-on: the watermark after it (the replay's clock follows it), and what it held.
        case handedOn(watermark: Timestamp, messages: Int, readings: Int, rejects: Int)
        /// Rejects to `rejects/`.
        case rejects([Reject])
        /// An item for partition `i`.
        case partition(Int, PartitionStep.Input)
        /// An item for the roll-up, behind no barrier.
        case rollup(RollupCoordinator.Control)
        /// Sparkplug edge nodes (`group/edge_node`) to ask for a rebirth.
        case rebirth([String])
        /// Events to `events/`.
        case events([EventRecord])
    }

    /// Takes one input; appends what it calls for to `actions`.
    public mutating func handle(_ input: Input, into actions: inout [Action]) {
        switch input {
        case .message(let m):
            if take(m) { forward(into: &actions) }
        case .lines(let batch):
            batch.forEach { m in
                if take(m) { forward(into: &actions) }
            }
        case .tick(let t):
            if tick(t) { forward(into: &actions) }
        case .control(.probe(let id)):
            forward(into: &actions)
            toEveryPartition(.probe(id), &actions)
        case .control(.reconfigure(let s)):
            forward(into: &actions)
            reconfigure(s)
            actions.append(.rollup(.reconfigure(s)))
        case .control(.snapshot(let t)):
            forward(into: &actions)
            toEveryPartition(.snapshot(t), &actions)
        case .control(.checkpoint):
            forward(into: &actions)
            var w = BinaryWriter()
            decoder.save(into: &w)
            toEveryPartition(.checkpoint(CheckpointDraft(sequence: lastSequence, decoder: w.bytes)), &actions)
        case .control(.end(let ending)):
            finish()
            forward(into: &actions)
            toEveryPartition(.end(ending), &actions)
        }
    }

    /// Hands on what was taken: rejects, each partition's readings, when assets were heard from,
    /// then the watermark to every partition.
    public mutating func forward(into actions: inout [Action]) {
        let h = handOn()
        actions.append(.handedOn(watermark: h.watermark, messages: h.messages, readings: h.readingCount, rejects: h.rejects.count))
        if !h.rejects.isEmpty { actions.append(.rejects(h.rejects)) }
        if !h.events.isEmpty { actions.append(.events(h.events)) }
        let rebirths = takeRebirths()
        if !rebirths.isEmpty { actions.append(.rebirth(rebirths)) }
        for (i, batch) in h.readings.enumerated() where !batch.isEmpty { actions.append(.partition(i, .readings(batch))) }
        if let heard = h.heard { actions.append(.rollup(.heard(heard))) }
        toEveryPartition(.watermark(h.watermark), &actions)
    }

    private func toEveryPartition(_ item: PartitionStep.Input, _ actions: inout [Action]) {
        for i in 0..<partitions { actions.append(.partition(i, item)) }
    }
}
