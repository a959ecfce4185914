import Testing
@testable import CBMCore

private func unit(_ text: String, _ dimension: Measurement.Dimension) throws -> MeasurementUnit {
    try #require(MeasurementUnit.parse(text, for: dimension).success, "\(text) for \(dimension)")
}

private func refusal(_ text: String, _ dimension: Measurement.Dimension) -> String? {
    MeasurementUnit.parse(text, for: dimension).failure?.description
}

/// 60 °F in kelvin, by hand: (60 − 32) · 5/9 + 273.15.
private let kelvin60F = 28.0 * 5.0 / 9.0 + 273.15
/// One cubic foot in m³: 0.3048³.
private let cubicFoot = 0.3048 * 0.3048 * 0.3048

@Suite("Volume bases")
struct VolumeBasisTests {
    @Test func factorsFromTwentyCelsius() {
        // The figures of DOMAIN.md, to five decimals.
        #expect(abs(VolumeBasis.c20.factor(to: .c15) - 0.98294) < 1e-5)
        #expect(abs(VolumeBasis.c20.factor(to: .c0) - 0.93178) < 1e-5)
        #expect(abs(VolumeBasis.c20.factor(to: .f60) - 0.98484) < 1e-5)
        #expect(VolumeBasis.c20.factor(to: .c20) == 1)
        // Exactly the ratio of absolute temperatures (same pressure).
        #expect(close(VolumeBasis.c0.factor(to: .c20), 293.15 / 273.15))
        #expect(close(VolumeBasis.c20.factor(to: .c0) * VolumeBasis.c0.factor(to: .c20), 1))
        #expect(close(VolumeBasis.f60.temperatureK, kelvin60F))
    }

    @Test func pressureEntersTheFactor() {
        let high = VolumeBasis(name: "20C@101.560", temperatureK: 293.15, pressureKPa: 101.560)
        // Same temperature: V_other = V · P_self / P_other.
        #expect(close(VolumeBasis.c20.factor(to: high), 101.325 / 101.560))
    }

    @Test func names() {
        #expect(VolumeBasis.named("20C") == .c20)
        #expect(VolumeBasis.named("20c") == .c20)
        #expect(VolumeBasis.named("0C") == .c0)
        #expect(VolumeBasis.named("15C") == .c15)
        #expect(VolumeBasis.named("60f") == .f60)
        #expect(VolumeBasis.named("25C") == nil)
        #expect(VolumeBasis.named("") == nil)
        #expect(VolumeBasis.c20.description == "20C")
        #expect(VolumeBasis.all.map(\.name) == ["20C", "0C", "15C", "60F"])
    }
}

@Suite("Measurements")
struct MeasurementTests {
    @Test func namesAndDimensions() {
        #expect(Measurement.allCases.map(\.rawValue) == [
            "gas_rate", "gas_total", "water_rate", "water_total", "casing_pressure", "tubing_pressure",
            "temperature", "methane_fraction",
        ])
        #expect(Measurement.gasRate.dimension == .gasVolumeRate)
        #expect(Measurement.gasTotal.dimension == .gasVolume)
        #expect(Measurement.waterRate.dimension == .liquidVolumeRate)
        #expect(Measurement.waterTotal.dimension == .liquidVolume)
        #expect(Measurement.tubingPressure.dimension == .pressure)
        #expect(Measurement.temperature.dimension == .temperature)
        #expect(Measurement.methaneFraction.dimension == .fraction)
        #expect(Measurement.allCases.map(\.ordinal) == Array(Measurement.allCases.indices))
        #expect(Measurement.allCases.filter(\.isTotalizer) == [.gasTotal, .waterTotal])
        #expect(Measurement.allCases.filter(\.dimension.isGas) == [.gasRate, .gasTotal])
        #expect(Measurement.allCases.map(\.dimension.reportingUnit) == ["m3/d", "m3", "m3/d", "m3", "kPa", "kPa", "degC", "fraction"])
    }
}

@Suite("Measurement units")
struct MeasurementUnitTests {
    @Test func gasRates() throws {
        let m3h = try unit("m3/h", .gasVolumeRate)
        #expect(m3h.scale == 24)
        #expect(m3h.offset == 0)
        #expect(m3h.impliedBasis == nil)
        #expect(m3h.dimension == .gasVolumeRate)
        #expect(m3h.text == "m3/h")
        #expect(m3h.description == "m3/h")
        #expect(try unit("m3/d", .gasVolumeRate).scale == 1)
        #expect(try unit("m3/s", .gasVolumeRate).scale == 86_400)
        #expect(try unit("m3/min", .gasVolumeRate).scale == 1_440)
        #expect(try unit("m3/day", .gasVolumeRate).scale == 1)
        #expect(try unit("1e4m3/d", .gasVolumeRate).scale == 1e4)
        #expect(try unit("10^4m3/d", .gasVolumeRate).scale == 1e4)
        #expect(try unit("万方/天", .gasVolumeRate).scale == 1e4)
        #expect(try unit("万m3/日", .gasVolumeRate).scale == 1e4)
        #expect(try unit("e3m3/d", .gasVolumeRate).scale == 1e3)
        #expect(try unit("1e4m3/h", .gasVolumeRate).scale == 24e4)
        #expect(try unit("m³/h", .gasVolumeRate).scale == 24)
        #expect(try unit("M3/H", .gasVolumeRate).scale == 24)
        let trimmed = try unit("  m3/h ", .gasVolumeRate)
        #expect(trimmed.text == "m3/h")
        #expect(trimmed.scale == 24)
    }

    @Test func gasUnitsThatImplyABasis() throws {
        let nm3h = try unit("Nm3/h", .gasVolumeRate)
        #expect(nm3h.scale == 24)
        #expect(nm3h.impliedBasis == .c0)
        #expect(try unit("Sm3/d", .gasVolumeRate).impliedBasis == .c15)
        let scfd = try unit("scf/d", .gasVolumeRate)
        #expect(close(scfd.scale, cubicFoot))
        #expect(scfd.impliedBasis == .f60)
        let mscfd = try unit("Mscf/d", .gasVolumeRate)
        #expect(close(mscfd.scale, 1e3 * cubicFoot))
        #expect(mscfd.impliedBasis == .f60)
        #expect(close(try unit("MMscf/d", .gasVolumeRate).scale, 1e6 * cubicFoot))
        #expect(close(try unit("scf/h", .gasVolumeRate).scale, 24 * cubicFoot))
    }

    @Test func gasVolumes() throws {
        #expect(try unit("m3", .gasVolume).scale == 1)
        #expect(try unit("m3", .gasVolume).impliedBasis == nil)
        #expect(try unit("1e4m3", .gasVolume).scale == 1e4)
        #expect(try unit("亿方", .gasVolume).scale == 1e8)
        #expect(try unit("1e8m3", .gasVolume).scale == 1e8)
        #expect(try unit("Nm3", .gasVolume).impliedBasis == .c0)
        #expect(try unit("scf", .gasVolume).impliedBasis == .f60)
        #expect(close(try unit("Mscf", .gasVolume).scale, 1e3 * cubicFoot))
    }

    @Test func liquids() throws {
        #expect(close(try unit("bbl/d", .liquidVolumeRate).scale, 0.158_987_294_928))
        #expect(try unit("bbl/d", .liquidVolumeRate).impliedBasis == nil)
        #expect(close(try unit("L/s", .liquidVolumeRate).scale, 86.4))
        #expect(try unit("m3/h", .liquidVolumeRate).scale == 24)
        #expect(try unit("m3/d", .liquidVolumeRate).scale == 1)
        #expect(try unit("L", .liquidVolume).scale == 0.001)
        #expect(close(try unit("bbl", .liquidVolume).scale, 0.158_987_294_928))
        #expect(try unit("m3", .liquidVolume).scale == 1)
    }

    @Test func pressures() throws {
        #expect(try unit("kPa", .pressure).scale == 1)
        #expect(try unit("MPa", .pressure).scale == 1000)
        #expect(try unit("bar", .pressure).scale == 100)
        #expect(try unit("mbar", .pressure).scale == 0.1)
        #expect(try unit("Pa", .pressure).scale == 0.001)
        #expect(try unit("atm", .pressure).scale == 101.325)
        #expect(try unit("kgf/cm2", .pressure).scale == 98.0665)
        // 1 psi = 1 lbf/in² = 0.45359237 kg · 9.80665 m/s² / 0.0254² m² = 6.894757293… kPa
        #expect(close(try unit("psi", .pressure).scale, 0.453_592_37 * 9.806_65 / (0.0254 * 0.0254) / 1000))
        #expect(try unit("kPa", .pressure).offset == 0)
        #expect(try unit("kPa", .pressure).impliedBasis == nil)
    }

    @Test func temperatures() throws {
        let c = try unit("degC", .temperature)
        #expect(c.scale == 1 && c.offset == 0)
        #expect(try unit("°C", .temperature).scale == 1)
        #expect(try unit("C", .temperature).offset == 0)
        let k = try unit("K", .temperature)
        #expect(k.scale == 1 && k.offset == -273.15)
        let f = try unit("degF", .temperature)
        let toC = { (v: Double) in v * f.scale + f.offset }
        #expect(close(toC(212), 100))
        #expect(close(toC(32), 0))
        #expect(close(toC(-40), -40))
        #expect(close(toC(68), 20))
    }

    @Test func fractions() throws {
        #expect(try unit("%", .fraction).scale == 0.01)
        #expect(try unit("percent", .fraction).scale == 0.01)
        #expect(try unit("fraction", .fraction).scale == 1)
        #expect(try unit("ratio", .fraction).scale == 1)
    }

    @Test func refusals() {
        #expect(refusal("kPa", .gasVolumeRate)
            == "unit \"kPa\" is not a gas volume per time unit (use one of: m3/h, m3/d, 1e4m3/d, Nm3/h, scf/d, Mscf/d)")
        #expect(refusal("m3/h", .pressure) == "unit \"m3/h\" is not a pressure unit (use one of: kPa, MPa, bar, psi)")
        #expect(refusal("m3/h", .gasVolume) == "unit \"m3/h\" is not a gas volume unit (use one of: m3, 1e4m3, Nm3, scf, Mscf)")
        #expect(refusal("m3", .gasVolumeRate)
            == "unit \"m3\" is not a gas volume per time unit (use one of: m3/h, m3/d, 1e4m3/d, Nm3/h, scf/d, Mscf/d)")
        #expect(refusal("degC", .fraction) == "unit \"degC\" is not a fraction unit (use one of: fraction, %)")
        #expect(refusal("kPa", .temperature) == "unit \"kPa\" is not a temperature unit (use one of: degC, K, degF)")
        #expect(refusal("Nm3/h", .liquidVolumeRate)
            == "unit \"Nm3/h\" is not a liquid volume per time unit (use one of: m3/h, m3/d, L/s, bbl/d)")
        #expect(refusal("bbl", .gasVolume) != nil)  // a barrel is a liquid unit
        #expect(refusal("bbl/d", .gasVolumeRate) != nil)
        #expect(refusal("scf", .liquidVolume) == "unit \"scf\" is not a liquid volume unit (use one of: m3, L, bbl)")
        #expect(refusal("m3/week", .gasVolumeRate) != nil)
        #expect(refusal("", .pressure) != nil)
        #expect(refusal("psig", .pressure) != nil)
    }
}

@Suite("Conversions")
struct ConversionTests {
    @Test func normalCubicMetresPerHourAtTwentyCelsius() throws {
        // The unit's own basis (0 °C) overrides the meter basis.
        let c = Conversion(unit: try unit("Nm3/h", .gasVolumeRate), meterBasis: .c20, reportingBasis: .c20)
        #expect(close(c.apply(100), 100.0 * 24 * 293.15 / 273.15))
        #expect(c.sourceBasis == .c0)
        #expect(c.offset == 0)
    }

    @Test func meterBasisIsUsedWhenTheUnitImpliesNone() throws {
        let atZero = Conversion(unit: try unit("m3/h", .gasVolumeRate), meterBasis: .c0, reportingBasis: .c20)
        #expect(close(atZero.apply(100), 100.0 * 24 * 293.15 / 273.15))
        #expect(atZero.sourceBasis == .c0)
        let same = Conversion(unit: try unit("m3/h", .gasVolumeRate), meterBasis: .c20, reportingBasis: .c20)
        #expect(same.apply(12.5) == 300)
        #expect(same.sourceBasis == .c20)
        let fifteen = Conversion(unit: try unit("1e4m3/d", .gasVolumeRate), meterBasis: .c15, reportingBasis: .c20)
        #expect(close(fifteen.apply(3), 3e4 * 293.15 / 288.15))
        let toZero = Conversion(unit: try unit("m3", .gasVolume), meterBasis: .c20, reportingBasis: .c0)
        #expect(close(toZero.apply(1000), 1000 * 273.15 / 293.15))
    }

    @Test func standardCubicFeet() throws {
        let c = Conversion(unit: try unit("scf/d", .gasVolumeRate), meterBasis: .c20, reportingBasis: .c20)
        #expect(close(c.apply(1e6), 1e6 * cubicFoot * 293.15 / kelvin60F))
        #expect(c.sourceBasis == .f60)
        // DOMAIN.md: 1 m³ (20 °C) ≈ 34.78 scf (60 °F).
        let v = Conversion(unit: try unit("scf", .gasVolume), meterBasis: .c20, reportingBasis: .c20)
        #expect(abs(v.apply(34.78) - 1) < 1e-4)
    }

    @Test func waterIsNeverBasisConverted() throws {
        let c = Conversion(unit: try unit("m3/h", .liquidVolumeRate), meterBasis: .c0, reportingBasis: .c20)
        #expect(c.apply(2) == 48)
        #expect(c.sourceBasis == nil)
        let total = Conversion(unit: try unit("L", .liquidVolume), meterBasis: .f60, reportingBasis: .c20)
        #expect(total.apply(1500) == 1.5)
        #expect(total.sourceBasis == nil)
    }

    @Test func otherDimensions() throws {
        let k = Conversion(unit: try unit("K", .temperature), meterBasis: .c0, reportingBasis: .c20)
        #expect(close(k.apply(293.15), 20))
        #expect(close(k.apply(0), -273.15))
        #expect(k.sourceBasis == nil)
        let mpa = Conversion(unit: try unit("MPa", .pressure), meterBasis: .c0, reportingBasis: .c20)
        #expect(mpa.apply(0.25) == 250)
        let pct = Conversion(unit: try unit("%", .fraction), meterBasis: .c0, reportingBasis: .c20)
        #expect(close(pct.apply(95), 0.95))
    }
}
