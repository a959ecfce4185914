/// A `totals` record (DESIGN §3.5): one window × scope × id.
public struct TotalsRecord: Equatable, Sendable {
    /// What a record totals.
    public enum Scope: String, CaseIterable, Sendable, Comparable {
        case well, block, field, meter, sector, flare, all
        /// An asset missing from the register whose readings were accepted: totalled on its own,
        /// rolled up nowhere (it is not known whether it produces or delivers).
        case unregistered
        public static func < (a: Scope, b: Scope) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public var window: WindowKind
    public var span: WindowSpan
    public var scope: Scope
    public var id: String
    /// Produced gas, m³ at the reporting basis (production scopes and `all`).
    public var gasM3: Double?
    /// Produced water, m³ (production scopes and `all`).
    public var waterM3: Double?
    /// Delivered gas, m³ (`meter`, `sector`, `all`).
    public var utilisedM3: Double?
    /// Flared or vented gas, m³ (`flare`, `all`).
    public var flaredM3: Double?
    /// Utilised / produced (`all`), nil when nothing was produced.
    public var utilisationRate: Double?
    /// Whether the record carries a utilisation rate field (null or not).
    public var hasUtilisationRate = false
    /// Standard coal saved, t (`sector`, `all`).
    public var coalT: Double?
    /// CO₂-equivalent avoided, t (`sector`, `all`).
    public var co2eT: Double?
    /// Seconds with flow (for a roll-up: summed over its members).
    public var flowSeconds: Double
    /// Fraction of the window covered by data, 0–1 (for a roll-up: the mean over its registered
    /// members, silent ones counting 0).
    public var coverage: Double
    /// Readings used.
    public var samples: Int
    /// Whether any volume came from rates.
    public var estimated: Bool
    /// 1 for the first emission, +1 for each correction; 0 for the running figures of an open
    /// window (the `latest` view).
    public var revision: Int

    public init(window: WindowKind, span: WindowSpan, scope: Scope, id: String, gasM3: Double? = nil, waterM3: Double? = nil,
                utilisedM3: Double? = nil, flaredM3: Double? = nil, utilisationRate: Double? = nil,
                hasUtilisationRate: Bool = false, coalT: Double? = nil, co2eT: Double? = nil, flowSeconds: Double,
                coverage: Double, samples: Int, estimated: Bool, revision: Int) {
        self.window = window
        self.span = span
        self.scope = scope
        self.id = id
        self.gasM3 = gasM3
        self.waterM3 = waterM3
        self.utilisedM3 = utilisedM3
        self.flaredM3 = flaredM3
        self.utilisationRate = utilisationRate
        self.hasUtilisationRate = hasUtilisationRate
        self.coalT = coalT
        self.co2eT = co2eT
        self.flowSeconds = flowSeconds
        self.coverage = coverage
        self.samples = samples
        self.estimated = estimated
        self.revision = revision
    }

    /// The key a reader keeps the highest revision of.
    public var key: Key { Key(window: window, start: span.start, scope: scope, id: id) }

    public struct Key: Hashable, Sendable, Comparable {
        public var window: WindowKind
        public var start: Timestamp
        public var scope: Scope
        public var id: String
        public init(window: WindowKind, start: Timestamp, scope: Scope, id: String) {
            self.window = window
            self.start = start
            self.scope = scope
            self.id = id
        }
        public static func < (a: Key, b: Key) -> Bool {
            if a.start != b.start { return a.start < b.start }
            if a.window != b.window { return WindowKind.allCases.firstIndex(of: a.window)! < WindowKind.allCases.firstIndex(of: b.window)! }
            if a.scope != b.scope { return a.scope < b.scope }
            return a.id < b.id
        }
    }
}
