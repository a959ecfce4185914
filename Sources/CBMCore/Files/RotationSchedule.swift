import Foundation

/// When output files rotate by time, and what they are called. Pure: times in, names out.
///
/// Periods are aligned to the zone's calendar and to the gas day: one period begins at the gas
/// day's local start (`day_start`), so a daily file holds one gas day (08:00 to 08:00) and an
/// hourly one starts on the hour. Names carry the period's local start and offset, and a sequence number for the
/// files that size rotation cuts a period into:
/// `totals-20261128T080000+0800-001.jsonl`. Within one UTC offset a sorted listing is in time order
/// (the sequence keeps `-001` before `-002`).
public struct RotationSchedule: Sendable {
    /// The rotation interval in microseconds (a divisor or multiple of an hour, at most a day).
    public let intervalUS: Int64
    /// The local time of day at which a period begins (the gas day's start), in microseconds.
    public let dayStartUS: Int64
    private var offsets: ZoneOffsets

    /// Intervals allowed: they divide a day, so that periods align to the gas day's start.
    public static let allowedIntervals: [Int64] = [60, 300, 600, 900, 1800, 3600, 7200, 10_800, 14_400, 21_600, 28_800, 43_200, 86_400]
        .map { Int64($0) * 1_000_000 }

    public init(intervalUS: Int64, zone: TimeZone, dayStartUS: Int64 = 0) {
        self.intervalUS = intervalUS
        self.dayStartUS = dayStartUS
        offsets = ZoneOffsets(zone: zone)
    }

    /// The period that contains `t`: `[start, end)`.
    public mutating func period(containing t: Timestamp) -> WindowSpan {
        let offset = Int64(offsets.offset(at: t)) * 1_000_000
        let local = t.microseconds + offset - dayStartUS
        var into = local % intervalUS
        if into < 0 { into += intervalUS }
        let start = Timestamp(microseconds: t.microseconds - into)
        return WindowSpan(start: start, end: start + intervalUS)
    }

    /// The name of a file of a family for a period: `family-YYYYMMDDTHHMMSS±HHMM-NNN.ext`.
    public mutating func fileName(family: String, periodStart: Timestamp, sequence: Int, ext: String) -> String {
        "\(family)-\(Self.stamp(periodStart, offsetSeconds: offsets.offset(at: periodStart)))-\(Self.sequence(sequence)).\(ext)"
    }

    /// `20261128T080000+0800`: basic ISO 8601 of the local time with its offset.
    public static func stamp(_ t: Timestamp, offsetSeconds: Int) -> String {
        var iso = RFC3339.format(Timestamp(seconds: floorDiv(t.microseconds, 1_000_000)), offsetSeconds: offsetSeconds)
        iso.removeAll { $0 == "-" || $0 == ":" }
        if offsetSeconds == 0 { iso = String(iso.dropLast()) + "+0000" }
        return iso
    }

    static func sequence(_ n: Int) -> String {
        n < 10 ? "00\(n)" : n < 100 ? "0\(n)" : "\(n)"
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

    /// The parts of a file name this schedule made, or nil for any other name.
    public static func parse(_ name: String) -> (family: String, stamp: String, sequence: Int, ext: String)? {
        // family-YYYYMMDDTHHMMSS±HHMM-NNN.ext
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let family = String(name[..<dash])
        let rest = name[name.index(after: dash)...]
        guard rest.count > 25 else { return nil }
        let stamp = String(rest.prefix(20))
        let afterStamp = rest.dropFirst(20)
        guard afterStamp.first == "-", let dot = afterStamp.firstIndex(of: ".") else { return nil }
        guard let seq = Int(afterStamp[afterStamp.index(after: afterStamp.startIndex)..<dot]) else { return nil }
        let ext = String(afterStamp[afterStamp.index(after: dot)...])
        guard stamp.count == 20, stamp.dropFirst(8).first == "T" else { return nil }
        return (family, stamp, seq, ext)
    }
}
