/// Where a stream of messages must be cut into batches so that what aggregation emits does not
/// depend on how the messages were batched: right after any message (or tick) that moves the
/// watermark to or past the close time of an hour (its end plus the allowed lateness) or a flush
/// boundary (a multiple of the flush interval, when corrections are written). Between two such
/// points no window closes and no correction is written, so a batch ending anywhere between
/// them gives the same records as one message at a time.
public struct BatchCuts: Sendable {
    private var calendar: WindowCalendar
    private let latenessUS: Int64
    private let flushUS: Int64
    /// The next boundary after the watermark.
    private var next = Int64.min

    public init(settings: AggregationSettings) {
        calendar = WindowCalendar(zone: settings.timeZone, dayStartMinutes: settings.dayStartMinutes)
        latenessUS = settings.allowedLatenessUS
        flushUS = max(settings.flushIntervalUS, 1)
    }

    /// Whether moving the watermark to `w` passed a boundary (the batch must be handed on now).
    public mutating func crossed(_ w: Timestamp) -> Bool {
        let t = w.microseconds
        guard t > Int64.min / 2 else { return false }
        if next != .min && t < next { return false }
        let first = next == .min
        let close = calendar.hour(containing: Timestamp(microseconds: t - latenessUS)).end.microseconds + latenessUS
        let flush = (Self.floorDiv(t, flushUS) + 1) * flushUS
        next = min(close, flush)
        return !first
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}
