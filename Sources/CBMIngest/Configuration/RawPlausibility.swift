import CBMCore

/// `plausibility:` as written.
struct RawPlausibility: RawSection {
    var gasRate: RawBounds?
    var gasTotal: RawBounds?
    var waterRate: RawBounds?
    var waterTotal: RawBounds?
    var casingPressure: RawBounds?
    var tubingPressure: RawBounds?
    var temperature: RawBounds?
    var methaneFraction: RawBounds?
    var wellRateFactor: String?
    var totalizerSpan: String?
    var stepBackSpan: String?
    enum Keys: String, CodingKey, CaseIterable {
        case gasRate = "gas_rate"
        case gasTotal = "gas_total"
        case waterRate = "water_rate"
        case waterTotal = "water_total"
        case casingPressure = "casing_pressure"
        case tubingPressure = "tubing_pressure"
        case temperature
        case methaneFraction = "methane_fraction"
        case wellRateFactor = "well_rate_factor"
        case totalizerSpan = "totalizer_span"
        case stepBackSpan = "step_back_span"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] {
        Dictionary(uniqueKeysWithValues: Measurement.allCases.map { ($0.rawValue, KeySchema.section(RawBounds.self)) })
    }
    /// The bounds given for each measurement.
    var byMeasurement: [(Measurement, RawBounds?)] {
        [(.gasRate, gasRate), (.gasTotal, gasTotal), (.waterRate, waterRate), (.waterTotal, waterTotal),
         (.casingPressure, casingPressure), (.tubingPressure, tubingPressure), (.temperature, temperature),
         (.methaneFraction, methaneFraction)]
    }
}

struct RawBounds: RawSection {
    var min: String?
    var max: String?
    enum Keys: String, CodingKey, CaseIterable { case min, max }
    typealias CodingKeys = Keys
}
