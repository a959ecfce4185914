/// How the readings of one totalizer (a cumulative counter) are read: its rollover value, what
/// counts as a reset and as a rollover, and the rate one interval may imply (DESIGN §3.4). Set
/// per mapped value in the configuration; the bound on the rate comes from the asset.
public struct CounterRules: Sendable, Hashable {
    /// The value at which the counter wraps to zero, in the reporting unit; nil when it does not.
    public var rollover: Double?
    /// A decrease to at most this fraction of the previous reading is a reset (a drop to near
    /// zero): the new reading counts from zero.
    public var resetBelow: Double
    /// A decrease is a rollover when the counter passed through `rollover` to near zero:
    /// `rollover − old + new` at most this fraction of `rollover`.
    public var rolloverMargin: Double
    /// The highest rate, m³/d, that the volume counted over one interval may imply; an interval
    /// implying more is not counted (and the reading that made it is rejected when it arrives in
    /// order). Infinity: no bound.
    public var maxRateM3d: Double
    /// The shortest span over which an increase is judged as a rate, in microseconds (a counter
    /// that ticks in whole units, or updates in bursts, is not a spike).
    public var minSpanUS: Int64
    /// A step back (a correction) may take back at most what `maxRateM3d` makes in this span (or
    /// in the interval, when longer), in microseconds: a larger fall that is neither a reset nor a
    /// rollover is a glitch, not a correction.
    public var stepBackSpanUS: Int64

    /// The default of `reset_below`: a drop to a tenth of the previous reading or less.
    public static let defaultResetBelow = 0.1
    /// The default of `rollover_margin`: within a tenth of the rollover value.
    public static let defaultRolloverMargin = 0.1
    /// The default of `plausibility.totalizer_span`.
    public static let defaultMinSpanUS: Int64 = 3_600_000_000
    /// The default of `plausibility.step_back_span`: a day's worth at the bound rate.
    public static let defaultStepBackSpanUS: Int64 = 86_400_000_000

    public init(rollover: Double? = nil, resetBelow: Double = CounterRules.defaultResetBelow,
                rolloverMargin: Double = CounterRules.defaultRolloverMargin, maxRateM3d: Double = .infinity,
                minSpanUS: Int64 = CounterRules.defaultMinSpanUS, stepBackSpanUS: Int64 = CounterRules.defaultStepBackSpanUS) {
        self.rollover = rollover
        self.resetBelow = resetBelow
        self.rolloverMargin = rolloverMargin
        self.maxRateM3d = maxRateM3d
        self.minSpanUS = minSpanUS
        self.stepBackSpanUS = stepBackSpanUS
    }

    /// The largest volume an interval of `microseconds` may count.
    @inline(__always)
    public func maxIncrease(overUS microseconds: Int64) -> Double {
        maxRateM3d * Double(max(microseconds, minSpanUS)) / 86_400_000_000
    }

    /// The largest step back an interval of `microseconds` may take.
    @inline(__always)
    public func maxStepBack(overUS microseconds: Int64) -> Double {
        maxRateM3d * Double(max(microseconds, stepBackSpanUS)) / 86_400_000_000
    }

    /// Whether the volume counted over an interval is plausible: a rise (or a reset's or a
    /// rollover's count) no more than the rate bound allows, a step back no larger than a
    /// correction can be.
    @inline(__always)
    public func isPlausible(_ change: TotalizerChange, overUS microseconds: Int64) -> Bool {
        if case .stepBack(let d) = change { return -d <= maxStepBack(overUS: microseconds) }
        return change.counted <= maxIncrease(overUS: microseconds)
    }
}

/// What a totalizer's change between two consecutive readings means.
public enum TotalizerChange: Equatable, Sendable {
    /// The counter rose (or stood still): the increase is the volume.
    case increase(Double)
    /// The counter fell a little (a flow computer's audit correction, a re-allocation, reverse
    /// flow): the negative change is the volume, as the meter's own books count it.
    case stepBack(Double)
    /// The counter dropped to near zero: the new reading is the volume since the reset.
    case reset(Double)
    /// The counter passed through its rollover value to near zero: `rollover − old + new`.
    case rollover(Double)

    /// The volume the interval counts.
    @inline(__always)
    public var counted: Double {
        switch self {
        case .increase(let v), .stepBack(let v), .reset(let v), .rollover(let v): return v
        }
    }

    /// Reads the change from `old` to `new`. A rise is an increase. A fall is a rollover when the
    /// counter has a rollover value and passed through it to near zero (`rollover − old + new`
    /// small against `rollover`), else a reset when it dropped to near zero (at most
    /// `resetBelow` of the old reading), else a step back.
    @inline(__always)
    public static func classify(from old: Double, to new: Double, _ rules: CounterRules) -> TotalizerChange {
        let d = new - old
        if d >= 0 { return .increase(d) }
        if let r = rules.rollover {
            let wrapped = r - old + new
            if wrapped >= 0 && wrapped <= rules.rolloverMargin * r { return .rollover(wrapped) }
        }
        if new <= rules.resetBelow * old { return .reset(new) }
        return .stepBack(d)
    }
}
