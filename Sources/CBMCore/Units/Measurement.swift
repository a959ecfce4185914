/// What a reading measures. The names are the contract of DESIGN §3.2.
public enum Measurement: String, CaseIterable, Hashable, Sendable, Codable {
    /// Instantaneous gas flow rate.
    case gasRate = "gas_rate"
    /// Gas totalizer: cumulative volume; may roll over or be reset.
    case gasTotal = "gas_total"
    /// Instantaneous water flow rate (CBM wells are dewatered).
    case waterRate = "water_rate"
    /// Water totalizer.
    case waterTotal = "water_total"
    /// Casing pressure.
    case casingPressure = "casing_pressure"
    /// Tubing pressure.
    case tubingPressure = "tubing_pressure"
    /// Temperature.
    case temperature
    /// Mole fraction of methane in the gas.
    case methaneFraction = "methane_fraction"

    /// The physical dimension of the measurement, which decides the units it accepts.
    public var dimension: Dimension {
        switch self {
        case .gasRate: return .gasVolumeRate
        case .gasTotal: return .gasVolume
        case .waterRate: return .liquidVolumeRate
        case .waterTotal: return .liquidVolume
        case .casingPressure, .tubingPressure: return .pressure
        case .temperature: return .temperature
        case .methaneFraction: return .fraction
        }
    }

    /// Its place in ``allCases`` (for counts kept in an array).
    public var ordinal: Int {
        switch self {
        case .gasRate: return 0
        case .gasTotal: return 1
        case .waterRate: return 2
        case .waterTotal: return 3
        case .casingPressure: return 4
        case .tubingPressure: return 5
        case .temperature: return 6
        case .methaneFraction: return 7
        }
    }

    /// A bit of its own, for sets of measurements.
    public var bit: UInt16 {
        switch self {
        case .gasRate: return 1
        case .gasTotal: return 2
        case .waterRate: return 4
        case .waterTotal: return 8
        case .casingPressure: return 16
        case .tubingPressure: return 32
        case .temperature: return 64
        case .methaneFraction: return 128
        }
    }

    /// Whether the measurement is a cumulative counter.
    public var isTotalizer: Bool { self == .gasTotal || self == .waterTotal }

    /// The physical dimensions readings come in.
    public enum Dimension: String, Sendable {
        case gasVolume = "gas volume"
        case gasVolumeRate = "gas volume per time"
        case liquidVolume = "liquid volume"
        case liquidVolumeRate = "liquid volume per time"
        case pressure
        case temperature
        case fraction

        /// The unit readings of this dimension are reported in.
        public var reportingUnit: String {
            switch self {
            case .gasVolume, .liquidVolume: return "m3"
            case .gasVolumeRate, .liquidVolumeRate: return "m3/d"
            case .pressure: return "kPa"
            case .temperature: return "degC"
            case .fraction: return "fraction"
            }
        }

        /// Whether volumes of this dimension are tied to reference conditions.
        public var isGas: Bool { self == .gasVolume || self == .gasVolumeRate }

        /// Units to suggest in an error message.
        public var examples: String {
            switch self {
            case .gasVolume: return "m3, 1e4m3, Nm3, scf, Mscf"
            case .gasVolumeRate: return "m3/h, m3/d, 1e4m3/d, Nm3/h, scf/d, Mscf/d"
            case .liquidVolume: return "m3, L, bbl"
            case .liquidVolumeRate: return "m3/h, m3/d, L/s, bbl/d"
            case .pressure: return "kPa, MPa, bar, psi"
            case .temperature: return "degC, K, degF"
            case .fraction: return "fraction, %"
            }
        }
    }
}
