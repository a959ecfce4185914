/// What the pipeline's steps are made from: one value at the start and at every reload. The
/// aggregation settings and the partition count are taken only at the start (a reload keeps the
/// running ones).
public struct PipelineSettings: Sendable {
    public var aggregation: AggregationSettings
    public var partitions: Int
    public var rules: [DecodeRule]
    public var register: AssetRegister { didSet { hierarchy = AssetHierarchy(register) } }
    /// The register's structure, built once for both the roll-up and the alerts.
    public private(set) var hierarchy: AssetHierarchy
    public var limits: DecodeLimits
    public var alerts: [AlertRule]
    public var maintenance: [AlertEngine.Maintenance]
    public var factors: Factors

    public init(aggregation: AggregationSettings = AggregationSettings(), partitions: Int = 1, rules: [DecodeRule] = [],
                register: AssetRegister, limits: DecodeLimits = DecodeLimits(), alerts: [AlertRule] = [],
                maintenance: [AlertEngine.Maintenance] = [], factors: Factors = Factors()) {
        self.aggregation = aggregation
        self.partitions = max(1, partitions)
        self.rules = rules
        self.register = register
        hierarchy = AssetHierarchy(register)
        self.limits = limits
        self.alerts = alerts
        self.maintenance = maintenance
        self.factors = factors
    }

    /// The shortest `after` of the silence rules, if any.
    public var silenceAfterUS: Int64? { DecodeStep.silenceAfter(alerts) }
}

/// How the input ends: `close` closes every window that has data (the end of a replay); `flush`
/// only writes the pending corrections of closed windows (a stop: open windows stay open, in the
/// checkpoint).
public enum InputEnding: Sendable {
    case close
    case flush
}

/// A checkpoint on its way through the steps: the journal sequence it reflects and the decode
/// step's state, to which each partition adds its own.
public struct CheckpointDraft: Sendable {
    public var sequence: UInt64
    public var decoder: [UInt8]
}
