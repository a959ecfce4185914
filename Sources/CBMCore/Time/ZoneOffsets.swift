import Foundation

/// UTC offsets of a time zone, remembered between daylight-saving transitions so that formatting
/// a timestamp in the zone costs a comparison, not a time-zone database lookup.
public struct ZoneOffsets: Sendable {
    /// The zone.
    public let zone: TimeZone
    private var validFrom: Int64 = .max
    private var validUntil: Int64 = .min
    private var cached = 0

    /// Creates the offsets of a zone.
    public init(zone: TimeZone) { self.zone = zone }

    /// The zone's UTC offset in seconds at an instant.
    public mutating func offset(at t: Timestamp) -> Int {
        if t.microseconds >= validFrom && t.microseconds < validUntil { return cached }
        let date = Date(timeIntervalSince1970: t.epochSeconds)
        cached = zone.secondsFromGMT(for: date)
        validFrom = t.microseconds
        if let next = zone.nextDaylightSavingTimeTransition(after: date) {
            validUntil = Int64((next.timeIntervalSince1970 * 1_000_000).rounded(.down))
        } else {
            validUntil = .max
        }
        return cached
    }

    /// RFC 3339 text of an instant with the zone's offset, e.g. `2026-11-28T08:00:00+08:00`.
    public mutating func format(_ t: Timestamp) -> String {
        RFC3339.format(t, offsetSeconds: offset(at: t))
    }
}
