/// The decode stage's logic, as a value: messages and ticks in, hand-ons out. It decodes each
/// message, routes its readings to the partition of their asset, notes when each asset was heard
/// from (for `no_data`), and says when the batch so far must be handed on: at every boundary of
/// ``BatchCuts`` (so the records do not depend on how the input was batched) and whenever the
/// stage that runs it has taken what it could at once.
public struct DecodeStep: Sendable {
    /// The decoder, with the watermark.
    public private(set) var decoder: TelemetryDecoder
    /// How many partitions the readings are routed to.
    public let partitions: Int
    /// The highest journal sequence taken.
    public private(set) var lastSequence: UInt64 = 0
    private var cuts: BatchCuts
    private var heard: HeardFrom?
    private var pending = HandOn(partitions: 0)
    /// One message's readings (kept, so a message allocates nothing of its own).
    private var scratch: [Reading] = []
    /// The partition of each asset seen, by number (-1: not yet reckoned).
    private var partitionOf: [Int32] = []
    /// The ids of the assets heard from, by number.
    private var names = AssetNames()
    /// A recording's message whose receive time jumped, waiting for the next one; how far ahead.
    private var held: (InboundMessage, Int64)?
    /// Whether one is (read once a message, where the message held is not).
    private var holding = false

    /// What goes on from one stretch of input: rejects to the sink, to each partition its
    /// readings and then the watermark, and to the roll-up when assets were heard from.
    public struct HandOn: Sendable {
        public var rejects: [Reject] = []
        /// Events of the stretch (Sparkplug deaths).
        public var events: [EventRecord] = []
        /// Per partition, in order of arrival.
        public var readings: [[Reading]]
        /// When assets were heard from; nil when no rule watches for silence.
        public var heard: HeardFrom?
        /// The watermark after the stretch.
        public var watermark = Timestamp(microseconds: .min)
        /// Messages taken in the stretch.
        public var messages = 0
        /// Readings in the stretch.
        public var readingCount: Int { readings.reduce(0) { $0 + $1.count } }

        init(partitions: Int) { readings = [[Reading]](repeating: [], count: partitions) }
    }

    /// A step for `partitions` partitions; `silenceAfterUS` is the shortest `after` of the
    /// `no_data` rules (nil: none, and no note is kept of when assets were heard from).
    public init(decoder: TelemetryDecoder, settings: PipelineSettings) {
        self.init(decoder: decoder, partitions: settings.partitions, settings: settings.aggregation, silenceAfterUS: settings.silenceAfterUS)
    }

    public init(decoder: TelemetryDecoder, partitions: Int, settings: AggregationSettings, silenceAfterUS: Int64?) {
        self.decoder = decoder
        self.partitions = max(1, partitions)
        cuts = BatchCuts(settings: settings)
        heard = silenceAfterUS.map { HeardFrom(minGapUS: $0) }
        pending = HandOn(partitions: self.partitions)
    }

    /// The shortest `after` of the silence rules among `rules`, if any.
    public static func silenceAfter(_ rules: [AlertRule]) -> Int64? {
        rules.compactMap { if case .noData(let after) = $0.kind { return after } else { return nil } }.min()
    }

    /// Takes a message; true when what was taken so far must be handed on now.
    ///
    /// A recording's message received implausibly long after the latest time seen
    /// (``TelemetryDecoder/receiveJump(_:)``) waits for the next one: when that follows it (a real
    /// gap, or the recorder's clock moved on) both are taken; when it does not, the waiting line
    /// was damaged and is rejected, so it never moves time. The last message of the input has no
    /// next one: if it jumped, it is rejected (``finish()``).
    public mutating func take(_ m: some TelemetryMessage) -> Bool {
        var cut = false
        // (Tested before it is taken: a message is not copied to find there is none.)
        if holding, let (h, ahead) = held.take() {
            holding = false
            if m.receivedAt.microseconds >= h.receivedAt.microseconds &- decoder.limits.maxReceiveJumpUS {
                cut = process(h)
            } else {
                refuse(h, ahead: ahead)
            }
        }
        if let ahead = decoder.receiveJump(m) {
            held = (m.message, ahead)
            holding = true
            return cut
        }
        return process(m) || cut
    }

    /// The end of the input: a message still waiting for the next one is rejected.
    public mutating func finish() {
        guard let (h, ahead) = held.take() else { return }
        holding = false
        refuse(h, ahead: ahead)
    }

    private mutating func refuse(_ m: InboundMessage, ahead: Int64) {
        pending.rejects.append(Reject(time: m.receivedAt, topic: m.topic,
                                      reason: .receiveTimeJump(aheadUS: ahead, limitUS: decoder.limits.maxReceiveJumpUS), payload: m.payload))
        pending.messages += 1
    }

    private mutating func process(_ m: some TelemetryMessage) -> Bool {
        // This message's readings are `scratch[base...]`: it is emptied now and then, not once a
        // message (emptying an array is no cheaper than a few appends).
        if scratch.count >= 4096 { scratch.removeAll(keepingCapacity: true) }
        let base = scratch.count
        decoder.decode(m, readings: &scratch, rejects: &pending.rejects)
        for o in decoder.offline.isEmpty ? [] : decoder.takeOffline() {
            heard?.wentOffline(o.asset, at: o.at.microseconds)
            pending.events.append(EventRecord(time: o.at, kind: .sparkplugOffline, id: o.asset,
                                              detail: "offline from \(o.at): \(o.why)"))
        }
        if heard != nil {
            let t = m.receivedAt.microseconds
            var last: AssetID?
            for r in scratch[base...] where r.id != last {
                heard!.heard(names(r.id), at: t)
                last = r.id
            }
        }
        if partitions == 1 {
            for i in base..<scratch.count { pending.readings[0].append(scratch[i]) }
        } else {
            // The readings of one message share their asset (or come in runs of one asset, from
            // an array): each run's partition is looked up once.
            var start = base
            while start < scratch.count {
                let id = scratch[start].id
                var end = start + 1
                while end < scratch.count && scratch[end].id == id { end += 1 }
                let p = partition(of: id)
                for i in start..<end { pending.readings[p].append(scratch[i]) }
                start = end
            }
        }
        if m.sequence > lastSequence { lastSequence = m.sequence }
        pending.messages += 1
        return cuts.crossed(decoder.watermark)
    }

    /// Takes the passing of time (the wall clock, live); true when it must be handed on now.
    /// The silence clock follows it `tickGraceUS` behind: a message stamped just before a tick
    /// may reach the stage just after it, and must not find its asset already called silent.
    public mutating func tick(_ t: Timestamp) -> Bool {
        decoder.observe(t)
        heard?.note(t.microseconds - Self.tickGraceUS)
        return cuts.crossed(decoder.watermark)
    }

    /// How far the silence clock stays behind the wall clock's ticks.
    public static let tickGraceUS: Int64 = 5_000_000

    /// Hands on what was taken since the last hand-on.
    public mutating func handOn() -> HandOn {
        var out = HandOn(partitions: partitions)
        // (Room for as many readings as the last stretch had: they are not grown reading by reading.)
        for p in 0..<partitions { out.readings[p].reserveCapacity(pending.readings[p].count) }
        swap(&out, &pending)
        out.watermark = decoder.watermark
        if let h = heard, !h.isEmpty {
            out.heard = h
            heard!.reset()
        }
        return out
    }

    /// Takes new settings (hand on first: what was taken is decoded under the old ones).
    public mutating func reconfigure(_ s: PipelineSettings) {
        decoder.reconfigure(rules: s.rules, register: s.register, limits: s.limits)
        heard = s.silenceAfterUS.map { HeardFrom(minGapUS: $0) }
    }

    /// The Sparkplug edge nodes to ask for a rebirth since the last call.
    mutating func takeRebirths() -> [String] { decoder.takeRebirths() }

    /// The partition of an asset, reckoned once.
    private mutating func partition(of id: AssetID) -> Int {
        let i = Int(id.number)
        if i < partitionOf.count, partitionOf[i] >= 0 { return Int(partitionOf[i]) }
        if i >= partitionOf.count { partitionOf.append(contentsOf: repeatElement(-1, count: i + 1 - partitionOf.count)) }
        let p = Self.partition(of: names(id), count: partitions)
        partitionOf[i] = Int32(p)
        return p
    }

    /// The partition of an asset: FNV-1a of its id, stable across runs (unlike `hashValue`).
    public static func partition(of asset: String, count: Int) -> Int {
        var id = asset
        return Int(id.withUTF8 { FNV1a.hash(UnsafeRawBufferPointer($0)) } % UInt64(count))
    }
}
