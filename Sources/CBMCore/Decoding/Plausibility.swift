/// What a reading may be, after unit conversion (the `plausibility` configuration): a reading
/// outside these bounds is rejected with its reason, never totalled. Bounds are in the reporting
/// unit of the measurement (m³/d, m³, kPa, °C, fraction; gas at the reporting basis).
public struct Plausibility: Sendable, Equatable {
    /// A closed range; nil ends are open.
    public struct Bounds: Sendable, Equatable {
        public var min: Double?
        public var max: Double?
        public init(min: Double? = nil, max: Double? = nil) {
            self.min = min
            self.max = max
        }
    }

    /// Bounds per measurement.
    public var bounds: [Measurement: Bounds] {
        didSet { table = Self.table(bounds) }
    }
    /// The same, indexed by the measurement's bit (one array index per value, not a hash).
    private var table: [Bounds]
    /// A well's gas rate, and the rate one interval of its gas totalizer implies, may be at most
    /// this multiple of its `expected_gas_m3d` (wells without one: `gas_rate.max`); nil: no bound
    /// from the register.
    public var wellRateFactor: Double?
    /// A totalizer's increase is judged as a rate over at least this span, in microseconds.
    public var totalizerSpanUS: Int64
    /// A totalizer's step back may take back at most what the bound rate makes in this span.
    public var stepBackSpanUS: Int64

    /// The defaults: no negative rate or counter; gas up to 10⁷ m³/d at any asset (beyond any
    /// CBM field's trunk-line delivery) and a well up to twenty times what the register expects
    /// of it (a unit mistaken for another, ×24 or ×1000, is caught); water up to 10⁵ m³/d; gauge pressures from a full vacuum to 100 MPa; −80 to 300 °C;
    /// methane fraction 0 to 1.
    public init() {
        let bounds: [Measurement: Bounds] = [
            .gasRate: Bounds(min: 0, max: 1.0e7),
            .gasTotal: Bounds(min: 0),
            .waterRate: Bounds(min: 0, max: 1.0e5),
            .waterTotal: Bounds(min: 0),
            .casingPressure: Bounds(min: -101.325, max: 1.0e5),
            .tubingPressure: Bounds(min: -101.325, max: 1.0e5),
            .temperature: Bounds(min: -80, max: 300),
            .methaneFraction: Bounds(min: 0, max: 1),
        ]
        self.bounds = bounds
        wellRateFactor = 20
        totalizerSpanUS = CounterRules.defaultMinSpanUS
        stepBackSpanUS = CounterRules.defaultStepBackSpanUS
        table = Self.table(bounds)
    }

    private static func table(_ bounds: [Measurement: Bounds]) -> [Bounds] {
        var t = [Bounds](repeating: Bounds(), count: 16)
        for (m, b) in bounds { t[m.bit.trailingZeroBitCount] = b }
        return t
    }

    /// The bounds of a measurement.
    @inline(__always)
    public subscript(m: Measurement) -> Bounds { table[m.bit.trailingZeroBitCount] }

    /// No bounds at all (tests of other things).
    public static let none: Plausibility = {
        var p = Plausibility()
        p.bounds = [:]
        p.wellRateFactor = nil
        return p
    }()

    /// The highest gas rate an asset may have, m³/d, and the key that says so.
    public func maxGasRate(of asset: Asset?) -> (limit: Double, key: String) {
        let general = bounds[.gasRate]?.max ?? .infinity
        if let factor = wellRateFactor, let a = asset, a.kind == .well, let expected = a.expectedGasM3d, expected > 0 {
            return (min(general, factor * expected), "plausibility.well_rate_factor")
        }
        return (general, "plausibility.gas_rate.max")
    }

    /// The highest rate, m³/d, of a measurement's volume at an asset (for rates and for the
    /// increase of totalizers), and the key that says so.
    public func maxRate(_ m: Measurement, of asset: Asset?) -> (limit: Double, key: String) {
        switch m {
        case .gasRate, .gasTotal: return maxGasRate(of: asset)
        case .waterRate, .waterTotal: return (bounds[.waterRate]?.max ?? .infinity, "plausibility.water_rate.max")
        default: return (.infinity, "")
        }
    }
}

/// Decimal numbers as telemetry writes them: an optional sign, digits with an optional fraction,
/// an optional exponent. Hexadecimal (`0x10`, `0x1p4`), `inf`, `nan` and other forms that
/// `strtod` would take are not numbers here.
public enum DecimalNumber {
    /// The number a text writes, or nil when it is not a decimal number. The words `nan`, `inf`
    /// and `infinity` (any case, signed) give themselves, so that they are rejected as not finite.
    public static func parse(_ text: some StringProtocol) -> Double? {
        var digits = 0
        var state = 0  // 0 sign, 1 integer, 2 fraction, 3 exponent sign, 4 exponent
        var exponentDigits = 0
        for c in text.utf8 {
            switch (state, c) {
            case (0, UInt8(ascii: "+")), (0, UInt8(ascii: "-")): state = 1
            case (0...1, UInt8(ascii: "0")...UInt8(ascii: "9")): state = 1; digits += 1
            case (0...1, UInt8(ascii: ".")): state = 2
            case (2, UInt8(ascii: "0")...UInt8(ascii: "9")): digits += 1
            case (1...2, UInt8(ascii: "e")), (1...2, UInt8(ascii: "E")):
                guard digits > 0 else { return nil }
                state = 3
            case (3, UInt8(ascii: "+")), (3, UInt8(ascii: "-")): state = 4
            case (3...4, UInt8(ascii: "0")...UInt8(ascii: "9")): state = 4; exponentDigits += 1
            default: return digits == 0 ? word(text) : nil
            }
        }
        guard digits > 0, state < 3 || exponentDigits > 0 else { return nil }
        return Double(String(text))
    }

    private static func word(_ text: some StringProtocol) -> Double? {
        switch text.lowercased() {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return nil
        }
    }
}
