import Foundation

/// A calendar window: `[start, end)` in event time.
public struct WindowSpan: Hashable, Sendable, Comparable {
    public var start: Timestamp
    public var end: Timestamp
    public init(start: Timestamp, end: Timestamp) {
        self.start = start
        self.end = end
    }
    /// Length in microseconds.
    public var length: Int64 { end - start }
    public func contains(_ t: Timestamp) -> Bool { t >= start && t < end }
    public static func < (a: WindowSpan, b: WindowSpan) -> Bool { a.start < b.start }
}

/// The calendar windows of DESIGN §3.4 in a time zone: clock hours, gas days that start at a
/// configured local time, and gas months (the gas days of a calendar month: from the gas-day
/// start on the 1st to the gas-day start on the 1st of the next month).
///
/// Hours are the local clock's hours, so in a zone with daylight saving a gas day has 23 or 25 of
/// them; hours always nest in gas days and gas days in gas months. Boundaries are computed with
/// Foundation's calendar and remembered, so the cost per reading is a comparison.
public struct WindowCalendar: Sendable {
    public let zone: TimeZone
    /// Start of the gas day, minutes after local midnight.
    public let dayStartMinutes: Int
    private var offsets: ZoneOffsets
    private var calendar: Calendar
    private var lastHour = WindowSpan(start: Timestamp(microseconds: .max), end: Timestamp(microseconds: .max))
    private var lastDay = WindowSpan(start: Timestamp(microseconds: .max), end: Timestamp(microseconds: .max))
    private var lastMonth = WindowSpan(start: Timestamp(microseconds: .max), end: Timestamp(microseconds: .max))

    public init(zone: TimeZone, dayStartMinutes: Int) {
        self.zone = zone
        self.dayStartMinutes = dayStartMinutes
        offsets = ZoneOffsets(zone: zone)
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        calendar = c
    }

    /// The window of a kind that contains an instant.
    public mutating func window(_ kind: WindowKind, containing t: Timestamp) -> WindowSpan {
        switch kind {
        case .hour: return hour(containing: t)
        case .day: return day(containing: t)
        case .month: return month(containing: t)
        }
    }

    /// The local clock hour that contains an instant.
    public mutating func hour(containing t: Timestamp) -> WindowSpan {
        if lastHour.contains(t) { return lastHour }
        let local = t.microseconds + Int64(offsets.offset(at: t)) * 1_000_000
        var into = local % 3_600_000_000
        if into < 0 { into += 3_600_000_000 }
        let start = Timestamp(microseconds: t.microseconds - into)
        lastHour = WindowSpan(start: start, end: start + 3_600_000_000)
        return lastHour
    }

    /// The gas day that contains an instant.
    public mutating func day(containing t: Timestamp) -> WindowSpan {
        if lastDay.contains(t) { return lastDay }
        let local = t.microseconds / 1_000_000 + Int64(offsets.offset(at: t)) - Int64(dayStartMinutes * 60)
        var dayNumber = Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
        var span = daySpan(dayNumber)
        // A transition between the estimate and the boundary can put t one day off.
        while t < span.start { dayNumber -= 1; span = daySpan(dayNumber) }
        while t >= span.end { dayNumber += 1; span = daySpan(dayNumber) }
        lastDay = span
        return span
    }

    /// The gas month that contains an instant.
    public mutating func month(containing t: Timestamp) -> WindowSpan {
        if lastMonth.contains(t) { return lastMonth }
        let dayStart = day(containing: t).start
        let local = dayStart.microseconds / 1_000_000 + Int64(offsets.offset(at: dayStart))
        let (y, m, _) = Civil.date(days: Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400))
        let start = gasDayStart(year: y, month: m, day: 1)
        let end = m == 12 ? gasDayStart(year: y + 1, month: 1, day: 1) : gasDayStart(year: y, month: m + 1, day: 1)
        lastMonth = WindowSpan(start: start, end: end)
        return lastMonth
    }

    /// The span of a window that follows `span` (of the same kind).
    public mutating func next(_ kind: WindowKind, after span: WindowSpan) -> WindowSpan {
        window(kind, containing: span.end)
    }

    private func daySpan(_ dayNumber: Int) -> WindowSpan {
        let (y, m, d) = Civil.date(days: dayNumber)
        let (y2, m2, d2) = Civil.date(days: dayNumber + 1)
        return WindowSpan(start: gasDayStart(year: y, month: m, day: d), end: gasDayStart(year: y2, month: m2, day: d2))
    }

    /// The instant the gas day of a local date starts. A start that falls in a skipped local hour
    /// (a spring-forward gap) moves to the first instant after the gap.
    private func gasDayStart(year: Int, month: Int, day: Int) -> Timestamp {
        var c = DateComponents()
        c.year = year
        c.month = month
        c.day = day
        c.hour = dayStartMinutes / 60
        c.minute = dayStartMinutes % 60
        let date = calendar.date(from: c) ?? Date(timeIntervalSince1970: 0)
        return Timestamp(microseconds: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }
}
