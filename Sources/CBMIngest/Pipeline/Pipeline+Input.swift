import CBMCore
import Synchronization

extension Pipeline {
    /// Hands a message to the pipeline; blocks while the intake queue is full.
    public func submit(_ message: InboundMessage) { intake.submit(.message(message)) }

    /// Hands several messages over (replay and tests).
    public func submit(contentsOf messages: [InboundMessage]) { intake.submit(contentsOf: messages.map { .message($0) }) }

    /// Hands a recording's lines over, read where they lie (replay).
    public func submit(lines: MessageBatch) { intake.submit(.lines(lines)) }

    /// Tells the pipeline that a time has passed (the wall clock, in live mode), so that windows
    /// close when the field goes quiet and idle files rotate.
    public func tick(_ now: Timestamp) {
        intake.submit(.tick(now))
        toSink(.tick(now))
    }

    /// Asks for `latest.json`: the running totals of the open windows, as of now.
    public func requestSnapshot(_ now: Timestamp) { intake.submit(.control(.snapshot(now))) }

    /// Sends a liveness probe through every stage; ``probeSeen`` says which came out last.
    public func probe(_ id: Int) { intake.submit(.control(.probe(id))) }

    /// The last probe that came out of the sink.
    public var probeSeen: Int { counters.probe.load(ordering: .relaxed) }

    /// What the metrics show of the pipeline.
    public struct Gauges: Sendable {
        public var watermark: Timestamp?
        /// Items waiting in each stage's queue.
        public var queues: [(stage: String, depth: Int)]
        /// Per subscription (configuration order), the latest receive time of a message it took.
        public var lastByRule: [Int64]
        /// Readings by measurement, since the start.
        public var readingsByMeasurement: [(Measurement, Int)]
        public var rejectsByCode: [String: Int]
        public var outputErrors: Int
    }

    public var gauges: Gauges {
        let w = counters.watermark.load(ordering: .relaxed)
        var queues = [("decode", intake.depth)]
        for (i, p) in partitions.enumerated() { queues.append(("partition_\(i)", p.depth)) }
        queues += [("rollup", rollup.depth), ("sink", sinkStage.depth)]
        let measured = counters.readingsByMeasurement.withLock { $0 }
        return Gauges(watermark: w == .min ? nil : Timestamp(microseconds: w), queues: queues,
                      lastByRule: counters.lastByRule.withLock { $0 },
                      readingsByMeasurement: Array(zip(Measurement.allCases, measured)),
                      rejectsByCode: sinkCounters.rejectsByCode.withLock { $0 },
                      outputErrors: sinkCounters.outputErrors.load(ordering: .relaxed))
    }

    /// Hours with data not yet closed.
    public var openWindows: Int { counters.openWindows.load(ordering: .relaxed) }

    /// Writes events (of recovery, say) to `events/`.
    public func record(_ events: [EventRecord]) { toSink(.output(.events(events))) }

    /// An item of the caller's for the sink: behind what the decode step handed on before it.
    private func toSink(_ item: SinkItem) {
        if let relay { relay.submit(.sink(item)) } else { sinkStage.submit(item) }
    }

    /// Asks for a checkpoint of the state after everything submitted so far.
    public func requestCheckpoint() { intake.submit(.control(.checkpoint)) }

    /// Ends the input: every window that has data is closed and written, then `latest.json`
    /// (replay, tests).
    public func finish(at now: Timestamp) {
        intake.submit(.control(.end(.close)))
        intake.submit(.control(.snapshot(now)))
        drain()
    }

    /// Stops: everything submitted goes through, corrections of closed windows, `latest.json`
    /// and a checkpoint are written; open windows stay open (in the checkpoint).
    public func stop(at now: Timestamp) {
        intake.submit(.control(.end(.flush)))
        intake.submit(.control(.snapshot(now)))
        intake.submit(.control(.checkpoint))
        drain()
    }

    /// Waits until everything submitted so far has gone through every stage.
    public func drain() {
        intake.drain()
        relay?.drain()
        for p in partitions { p.drain() }
        rollup.drain()
        sinkStage.drain()
    }

    /// What went through so far.
    public var statistics: Statistics {
        Statistics(messages: counters.messages.load(ordering: .relaxed),
                   readings: counters.readings.load(ordering: .relaxed),
                   rejects: counters.rejects.load(ordering: .relaxed),
                   totals: counters.totals.load(ordering: .relaxed))
    }
}
