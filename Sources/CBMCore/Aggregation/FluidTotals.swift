/// The volume of one fluid of one asset over a window, with the quality figures behind it
/// (API MPMS 21.1: quantity and flow time, unrounded).
public struct FluidTotals: Equatable, Sendable {
    /// Volume in m³ (gas at the reporting basis).
    public var volume: Double = 0
    /// Microseconds of the window covered by data.
    public var coveredUS: Int64 = 0
    /// Microseconds with flow.
    public var flowUS: Int64 = 0
    /// Readings used.
    public var samples: Int = 0
    /// Whether any of the volume was integrated from rates.
    public var estimated = false

    public init(volume: Double = 0, coveredUS: Int64 = 0, flowUS: Int64 = 0, samples: Int = 0, estimated: Bool = false) {
        self.volume = volume
        self.coveredUS = coveredUS
        self.flowUS = flowUS
        self.samples = samples
        self.estimated = estimated
    }

    /// Whether any data stands behind the figures.
    public var hasData: Bool { coveredUS > 0 || samples > 0 }

    /// Adds another window's figures (a later hour of the same day, say).
    public mutating func add(_ o: FluidTotals) {
        volume += o.volume
        coveredUS += o.coveredUS
        flowUS += o.flowUS
        samples += o.samples
        estimated = estimated || o.estimated
    }
}

/// One asset's figures for one clock hour: what a partition hands to the roll-up.
/// An asset's latest gas rate reading.
public struct AssetRate: Equatable, Sendable {
    public var asset: String
    /// The reading's event time (µs).
    public var time: Int64
    public var m3h: Double
    public init(asset: String, time: Int64, m3h: Double) {
        self.asset = asset
        self.time = time
        self.m3h = m3h
    }
}

public struct AssetHour: Equatable, Sendable {
    /// The asset.
    public var asset: String
    /// The hour.
    public var hour: WindowSpan
    /// Gas: production (well), utilisation (delivery meter) or loss (flare).
    public var gas: FluidTotals
    /// Water (wells).
    public var water: FluidTotals

    public init(asset: String, hour: WindowSpan, gas: FluidTotals = FluidTotals(), water: FluidTotals = FluidTotals()) {
        self.asset = asset
        self.hour = hour
        self.gas = gas
        self.water = water
    }
}

/// Something that belongs in the event log (`events` records): what the aggregator noticed in
/// the data, and what happened to the output files.
public struct EventRecord: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// A totalizer passed through its configured rollover value to near zero.
        case totalizerRollover = "totalizer_rollover"
        /// A totalizer dropped to near zero: it was reset and counts from zero.
        case totalizerReset = "totalizer_reset"
        /// A totalizer decreased a little (a correction): the negative change is counted.
        case totalizerStepBack = "totalizer_step_back"
        /// A totalizer interval implies an impossible rate: it is not counted.
        case totalizerJump = "totalizer_jump"
        /// An output file left open by a crash was repaired (a partial last line cut) and closed.
        case fileRepaired = "file_repaired"
        /// An open output file was deleted or replaced behind the daemon's back: what it held was
        /// written again to a new file.
        case fileReplaced = "file_replaced"
        /// Output could not be written; it is retried, nothing is dropped.
        case outputError = "output_error"
        /// Output is written again after an error.
        case outputRecovered = "output_recovered"
        /// A journal record whose checksum failed was skipped at recovery.
        case journalRecordSkipped = "journal_record_skipped"
        /// An incomplete record at the end of a journal segment was cut away at recovery.
        case journalTailCut = "journal_tail_cut"
        /// A journal record whose length field was damaged was recovered whole.
        case journalRecordRepaired = "journal_record_repaired"
        /// A checkpoint file could not be used (damaged, or beyond the journal); recovery went
        /// back to the one before it, or to the journal.
        case checkpointDamaged = "checkpoint_damaged"
        /// Recovery could not reach the full history: windows before a time are left as written.
        case recoveryIncomplete = "recovery_incomplete"
        /// The history archive could not be opened: it was set aside and a new one begun.
        case archiveDamaged = "archive_damaged"
        /// The history archive was committed after the checkpoint recovery used: what it holds
        /// beyond that checkpoint is recomputed.
        case archiveAhead = "archive_ahead"
        /// An operator's alarm command, taken or refused: who and what.
        case alarmCommand = "alarm_command"
        /// A Sparkplug B edge node or device died (NDEATH, DDEATH): the asset is offline.
        case sparkplugOffline = "sparkplug_offline"
    }
    /// Event time of the reading that showed it.
    public var time: Timestamp
    public var kind: Kind
    /// The asset.
    public var id: String
    /// What happened, with the figures.
    public var detail: String

    public init(time: Timestamp, kind: Kind, id: String, detail: String) {
        self.time = time
        self.kind = kind
        self.id = id
        self.detail = detail
    }
}
