/// The roll-up, as a state machine: it takes what every partition hands on, in lockstep, and
/// what comes from outside the stream (silence notes, operators' commands, a reload), and says
/// what to write. It owns the rules that make the pipeline's output independent of timing:
///
/// - **Lockstep**: the partitions' items are taken one hand-on of the decode step at a time; a
///   partition that is ahead (it has handed on more watermarks than the slowest) waits, so the
///   live pipeline writes what a replay writes.
/// - **Lowest watermark**: windows close at the lowest watermark all partitions have reached, so
///   no partition's hour is missing from a roll-up.
/// - **Barriers**: a probe, a snapshot, a checkpoint or the end of the input counts once every
///   partition has passed it; behind a checkpoint, a partition's later items wait until all have
///   passed it, so the state saved is exactly that before it.
public struct RollupCoordinator: Sendable {
    public private(set) var totals: TotalsAggregator
    public private(set) var alerts: AlertEngine
    private let partitions: Int
    private let latenessUS: Int64
    private var factors: Factors
    private var encoder: RecordEncoder
    private var watermarks: [Timestamp]
    private var closedAt = Timestamp(microseconds: .min)
    private var ended = 0
    private var openHours: [AssetHour] = []
    private var rates: [AssetRate] = []
    private var openReports = 0
    /// The current checkpoint barrier: the partitions' states, as they pass it.
    private var barrier: [Int: [UInt8]] = [:]
    /// Per partition: the hand-ons taken, and the items waiting for the others.
    private var handOns: [Int]
    private var waiting: [[PartitionOutput]]
    private var probes: [Int: Int] = [:]
    /// Records and alarms gathered, not yet handed on.
    private var records: [TotalsRecord] = []
    private var alarms: [AlertRecord] = []

    /// What a partition hands on.
    public enum PartitionOutput: Sendable {
        case hours([AssetHour])
        case watermark(Timestamp)
        case openHours([AssetHour], rates: [AssetRate], generatedAt: Timestamp)
        case probe(Int)
        case checkpoint(CheckpointDraft, state: [UInt8])
        case ended(InputEnding)
    }

    /// What comes from outside the partitions: taken at once, behind no barrier.
    public enum Control: Sendable {
        /// When assets were heard from (for `no_data`).
        case heard(HeardFrom)
        /// An operator's alarm command; its answer comes back under the same ticket.
        case command(AlertEngine.Command, at: Timestamp, ticket: Int)
        /// New register, factors, alert rules and maintenance.
        case reconfigure(PipelineSettings)
    }

    public enum Input: Sendable {
        case fromPartition(Int, PartitionOutput)
        case control(Control)
    }

    /// What the roll-up asks for, in order.
    public enum Action: Sendable {
        case totals([TotalsRecord])
        case alarms([AlertRecord])
        /// `latest.json`, encoded.
        case snapshot([UInt8])
        /// The same moment for the status page and API, with the alarms and the wells' latest.
        case status(FieldStatus)
        /// A probe has passed every partition and the roll-up.
        case probe(Int)
        /// A reload has been taken here (what follows is under the new settings).
        case reconfigured
        /// Every step's state at a checkpoint barrier.
        case checkpoint(PipelineCheckpoint)
        /// The answer to a command: "ok", or why not.
        case answer(ticket: Int, String)
    }

    public init(totals: TotalsAggregator, alerts: AlertEngine, settings: PipelineSettings) {
        self.totals = totals
        self.alerts = alerts
        partitions = settings.partitions
        latenessUS = settings.aggregation.allowedLatenessUS
        factors = settings.factors
        encoder = RecordEncoder(zone: ZoneOffsets(zone: settings.aggregation.timeZone), basis: settings.aggregation.basis)
        watermarks = [Timestamp](repeating: Timestamp(microseconds: .min), count: settings.partitions)
        handOns = [Int](repeating: 0, count: settings.partitions)
        waiting = [[PartitionOutput]](repeating: [], count: settings.partitions)
    }

    /// Hours with data not yet closed.
    public var openHourCount: Int { totals.openHourCount }

    /// Takes one input; appends what it calls for to `actions`.
    public mutating func handle(_ input: Input, into actions: inout [Action]) {
        switch input {
        case .control(let c):
            apply(c, into: &actions)
        case .fromPartition(let p, let item):
            if barrier[p] != nil || !waiting[p].isEmpty || handOns[p] > handOns.min()! {
                waiting[p].append(item)
                return
            }
            apply(item, from: p, into: &actions)
            var moved = true
            while moved {
                moved = false
                let slowest = handOns.min()!
                for q in 0..<partitions where !waiting[q].isEmpty && handOns[q] == slowest && barrier[q] == nil {
                    apply(waiting[q].removeFirst(), from: q, into: &actions)
                    moved = true
                }
            }
        }
    }

    /// Hands on the records and alarms gathered (at the end of each batch, and before anything
    /// that must follow them).
    public mutating func flush(into actions: inout [Action]) {
        if !records.isEmpty {
            alerts.evaluate(records, into: &alarms)
            actions.append(.totals(records))
            records.removeAll()
        }
        if !alarms.isEmpty {
            actions.append(.alarms(alarms))
            alarms.removeAll()
        }
    }

    private mutating func apply(_ c: Control, into actions: inout [Action]) {
        switch c {
        case .heard(let heard):
            alerts.heard(heard, into: &alarms)
        case .command(let command, let t, let ticket):
            switch alerts.apply(command, at: t) {
            case .success(let record?):
                alarms.append(record)
                actions.append(.answer(ticket: ticket, "ok"))
            case .success(nil): actions.append(.answer(ticket: ticket, "ok"))
            case .failure(let e): actions.append(.answer(ticket: ticket, e.message))
            }
        case .reconfigure(let s):
            totals.reconfigure(hierarchy: s.hierarchy, factors: s.factors)
            alerts.reconfigure(rules: s.alerts, hierarchy: s.hierarchy, maintenance: s.maintenance)
            factors = s.factors
            flush(into: &actions)
            actions.append(.reconfigured)
        }
    }

    private mutating func apply(_ item: PartitionOutput, from partition: Int, into actions: inout [Action]) {
        switch item {
        case .hours(let hours):
            totals.receive(hours)
        case .probe(let id):
            probes[id, default: 0] += 1
            if probes[id] == partitions {
                probes[id] = nil
                flush(into: &actions)
                actions.append(.probe(id))
            }
        case .watermark(let w):
            handOns[partition] += 1
            watermarks[partition] = w
            let low = watermarks.min()!
            if low > closedAt {
                closedAt = low
                totals.advance(to: low, into: &records)
                flush(into: &actions)
                // Windows have closed through the watermark less the lateness.
                alerts.advance(to: low + -latenessUS, into: &alarms)
            }
        case .openHours(let hours, let latestRates, let generatedAt):
            openHours += hours
            rates += latestRates
            openReports += 1
            guard openReports == partitions else { break }
            let latest = totals.latest(openHours: openHours)
            let bytes = encoder.snapshot(
                generatedAt: generatedAt, watermark: watermarks.min()!, open: latest,
                lastHour: totals.lastClosed[.hour] ?? [], lastDay: totals.lastClosed[.day] ?? [], factors: factors)
            let status = FieldStatus(generatedAt: generatedAt, watermark: watermarks.min()!, open: latest,
                                     lastHour: totals.lastClosed[.hour] ?? [], lastDay: totals.lastClosed[.day] ?? [],
                                     rates: rates, alarms: alerts.status(at: generatedAt))
            openHours.removeAll()
            rates.removeAll()
            openReports = 0
            flush(into: &actions)
            actions.append(.snapshot(bytes))
            actions.append(.status(status))
        case .checkpoint(let draft, let state):
            barrier[partition] = state
            guard barrier.count == partitions else { break }
            flush(into: &actions)
            var w = BinaryWriter()
            totals.save(into: &w)
            alerts.save(into: &w)
            actions.append(.checkpoint(PipelineCheckpoint(sequence: draft.sequence, decoder: draft.decoder,
                                                          partitions: (0..<partitions).map { barrier[$0]! }, rollup: w.bytes)))
            barrier.removeAll()  // the waiting items go on
        case .ended(let ending):
            ended += 1
            guard ended == partitions else { break }
            ended = 0
            switch ending {
            case .close: totals.finish(into: &records)
            case .flush: totals.flushCorrections(into: &records)
            }
        }
    }
}
