/// The reference conditions a gas volume is stated at (temperature and absolute pressure).
///
/// Gas volumes are only comparable at the same reference conditions. China's oil and gas industry
/// reports at 20 °C and 101.325 kPa (GB/T 19205, SY/T 6143); Nm³ is 0 °C, ISO 13443 uses 15 °C,
/// US practice 60 °F. Conversion between bases uses the ideal-gas law, which is how the industry
/// converts between reference conditions (the compressibility at reference conditions is
/// taken as equal).
public struct VolumeBasis: Hashable, Sendable, CustomStringConvertible {
    /// The name used in configuration: `20C`, `0C`, `15C`, `60F`.
    public let name: String
    /// Reference temperature in kelvin.
    public let temperatureK: Double
    /// Reference absolute pressure in kPa.
    public let pressureKPa: Double

    /// 20 °C, 101.325 kPa: the reporting basis of China's oil and gas industry (the default).
    public static let c20 = VolumeBasis(name: "20C", temperatureK: 293.15, pressureKPa: 101.325)
    /// 0 °C, 101.325 kPa: "normal" conditions (Nm³), used by older city-gas codes.
    public static let c0 = VolumeBasis(name: "0C", temperatureK: 273.15, pressureKPa: 101.325)
    /// 15 °C, 101.325 kPa: ISO 13443 standard conditions (Sm³).
    public static let c15 = VolumeBasis(name: "15C", temperatureK: 288.15, pressureKPa: 101.325)
    /// 60 °F, 101.325 kPa (14.696 psia): US standard conditions (scf).
    public static let f60 = VolumeBasis(name: "60F", temperatureK: 288.705_555_555_555_6, pressureKPa: 101.325)

    /// Every named basis.
    public static let all: [VolumeBasis] = [.c20, .c0, .c15, .f60]

    /// The basis of a configuration name (`20C`, `0C`, `15C`, `60F`; case-insensitive).
    public static func named(_ name: String) -> VolumeBasis? {
        all.first { $0.name.lowercased() == name.lowercased() }
    }

    /// The factor that turns a volume at this basis into the same amount of gas at `other`:
    /// V_other = V_self · (T_other / T_self) · (P_self / P_other).
    public func factor(to other: VolumeBasis) -> Double {
        (other.temperatureK / temperatureK) * (pressureKPa / other.pressureKPa)
    }

    public var description: String { name }
}
