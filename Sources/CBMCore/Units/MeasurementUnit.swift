import Foundation

/// A unit readings arrive in, and how to turn it into the reporting unit of its dimension.
///
/// value_reported = value · scale + offset. For gas volumes the scale does not yet include the
/// change of reference conditions: see ``Conversion``.
public struct MeasurementUnit: Hashable, Sendable, CustomStringConvertible {
    /// The unit as written in the configuration.
    public let text: String
    /// The dimension it measures.
    public let dimension: Measurement.Dimension
    /// Multiplier to the reporting unit (m³, m³/d, kPa, °C, fraction).
    public let scale: Double
    /// Added after scaling (temperatures only).
    public let offset: Double
    /// Reference conditions that the unit itself implies (Nm³ → 0 °C, Sm³ → 15 °C, scf → 60 °F),
    /// which override a subscription's `basis`.
    public let impliedBasis: VolumeBasis?

    public var description: String { text }

    /// Why a unit text was refused.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Parses a unit for a dimension, e.g. `m3/h` for a gas rate or `MPa` for a pressure.
    public static func parse(_ text: String, for dimension: Measurement.Dimension) -> Result<MeasurementUnit, Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let refused = Problem(description: "unit \"\(text)\" is not a \(dimension.rawValue) unit (use one of: \(dimension.examples))")
        switch dimension {
        case .gasVolume, .liquidVolume:
            guard let v = volume(trimmed, gas: dimension == .gasVolume) else { return .failure(refused) }
            return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: v.scale, offset: 0, impliedBasis: v.basis))
        case .gasVolumeRate, .liquidVolumeRate:
            guard let slash = trimmed.lastIndex(of: "/"),
                let v = volume(String(trimmed[..<slash]), gas: dimension == .gasVolumeRate),
                let perDay = perDay(String(trimmed[trimmed.index(after: slash)...]))
            else { return .failure(refused) }
            return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: v.scale * perDay, offset: 0, impliedBasis: v.basis))
        case .pressure:
            let table: [String: Double] = ["kpa": 1, "pa": 0.001, "mpa": 1000, "bar": 100, "mbar": 0.1,
                                           "psi": 6.894_757_293_168_361, "kgf/cm2": 98.0665, "atm": 101.325]
            guard let s = table[trimmed.lowercased()] else { return .failure(refused) }
            return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: s, offset: 0, impliedBasis: nil))
        case .temperature:
            switch trimmed.lowercased() {
            case "degc", "c", "°c", "celsius":
                return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: 1, offset: 0, impliedBasis: nil))
            case "k", "kelvin":
                return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: 1, offset: -273.15, impliedBasis: nil))
            case "degf", "f", "°f", "fahrenheit":
                return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: 5.0 / 9.0, offset: -32.0 * 5.0 / 9.0, impliedBasis: nil))
            default:
                return .failure(refused)
            }
        case .fraction:
            switch trimmed.lowercased() {
            case "fraction", "ratio", "1": return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: 1, offset: 0, impliedBasis: nil))
            case "%", "percent", "pct": return .success(MeasurementUnit(text: trimmed, dimension: dimension, scale: 0.01, offset: 0, impliedBasis: nil))
            default: return .failure(refused)
            }
        }
    }

    /// Volume units in m³, with the reference conditions a gas unit implies.
    private static func volume(_ raw: String, gas: Bool) -> (scale: Double, basis: VolumeBasis?)? {
        let text = raw.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "³", with: "3")
        let lower = text.lowercased()
        let common: [String: Double] = ["m3": 1, "e3m3": 1e3, "1e3m3": 1e3, "10^3m3": 1e3,
                                        "e4m3": 1e4, "1e4m3": 1e4, "10^4m3": 1e4, "10^4 m3": 1e4, "万m3": 1e4, "万方": 1e4,
                                        "1e8m3": 1e8, "10^8m3": 1e8, "亿m3": 1e8, "亿方": 1e8, "方": 1]
        if let s = common[lower] { return (s, nil) }
        if gas {
            let scf = 0.028_316_846_592  // 1 ft³ in m³ (exact)
            let gasUnits: [String: (Double, VolumeBasis)] = [
                "nm3": (1, .c0), "sm3": (1, .c15),
                "scf": (scf, .f60), "mscf": (scf * 1e3, .f60), "mmscf": (scf * 1e6, .f60),
            ]
            if let u = gasUnits[lower] { return u }
        } else {
            let liquid: [String: Double] = ["l": 0.001, "bbl": 0.158_987_294_928]
            if let s = liquid[lower] { return (s, nil) }
        }
        return nil
    }

    /// How many of a time unit make a day.
    private static func perDay(_ raw: String) -> Double? {
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "s", "sec": return 86_400
        case "min": return 1_440
        case "h", "hr", "小时", "时": return 24
        case "d", "day", "天", "日": return 1
        default: return nil
        }
    }
}

/// A compiled conversion from a configured unit (and meter basis) to the reporting unit and basis.
public struct Conversion: Hashable, Sendable {
    /// Multiplier.
    public let scale: Double
    /// Added after multiplying.
    public let offset: Double
    /// The reference conditions the raw value was stated at (gas only).
    public let sourceBasis: VolumeBasis?

    /// A conversion from `unit` stated at `meterBasis` (unless the unit implies its own) to the
    /// reporting unit at `reportingBasis`. Liquids never change basis.
    public init(unit: MeasurementUnit, meterBasis: VolumeBasis, reportingBasis: VolumeBasis) {
        if unit.dimension.isGas {
            let basis = unit.impliedBasis ?? meterBasis
            scale = unit.scale * basis.factor(to: reportingBasis)
            sourceBasis = basis
        } else {
            scale = unit.scale
            sourceBasis = nil
        }
        offset = unit.offset
    }

    /// The value in the reporting unit.
    @inline(__always)
    public func apply(_ value: Double) -> Double { value * scale + offset }
}
