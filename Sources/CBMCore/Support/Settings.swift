import Foundation

/// Calendar windows totals are kept for (DESIGN §3.4).
public enum WindowKind: String, CaseIterable, Hashable, Sendable {
    case hour, day, month
}

/// How rates are integrated into volumes.
public enum Integration: String, CaseIterable, Sendable {
    case trapezoid, step
}

/// The `aggregation` settings, validated.
public struct AggregationSettings: Sendable, Equatable {
    /// The zone the calendar windows are in.
    public var timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!
    /// Start of the gas day, in minutes after local midnight.
    public var dayStartMinutes: Int = 8 * 60
    /// Windows kept.
    public var windows: [WindowKind] = [.hour, .day, .month]
    /// The reporting basis of gas volumes.
    public var basis: VolumeBasis = .c20
    /// How long after its end a window waits for late data before it closes.
    public var allowedLatenessUS: Int64 = 5 * 60 * 1_000_000
    /// The longest gap a rate is integrated across.
    public var maxGapUS: Int64 = 15 * 60 * 1_000_000
    /// Trapezoid or step integration of rates.
    public var integration: Integration = .trapezoid
    /// How often closed windows and corrections are written.
    public var flushIntervalUS: Int64 = 10 * 1_000_000
    /// How far behind the watermark readings are kept in memory (the hot span); older ones are
    /// in the history archive. A tuning knob, not a limit: any reading within `limits.max_past`
    /// is taken. Memory grows with it and with the number of series, not with `max_past`.
    public var horizonUS: Int64 = 2 * 3_600_000_000

    public init() {}
}

/// The factor set for derived figures (DESIGN §3.4): written into every record set that uses it.
public struct Factors: Sendable, Equatable {
    /// Standard coal saved per m³ utilised, kgce (GB/T 2589 range 1.1–1.33; the seed's 1.2).
    public var coalKgcePerM3: Double = 1.2
    /// CO₂-equivalent avoided per m³ utilised, kg (0.717 kg/m³ × GWP 21 ≈ 15).
    public var co2eKgPerM3: Double = 15.0

    public init() {}
}
