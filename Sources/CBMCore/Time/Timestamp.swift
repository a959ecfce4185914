/// A point in time: microseconds since the Unix epoch (UTC).
///
/// Integer microseconds keep arithmetic exact and ordering total, so the same input always gives
/// the same output, live or replayed. Microseconds are the finest unit telemetry carries
/// (`mosquitto_sub`'s `tst` has them).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    /// Creates a timestamp from microseconds since the epoch.
    public init(microseconds: Int64) { self.microseconds = microseconds }

    /// Creates a timestamp from whole seconds since the epoch.
    public init(seconds: Int64) { self.microseconds = seconds &* 1_000_000 }

    /// Creates a timestamp from (possibly fractional) seconds since the epoch, rounded to the
    /// nearest microsecond. Returns nil when out of range or not finite.
    public init?(epochSeconds: Double) {
        let us = (epochSeconds * 1_000_000).rounded()
        guard us.isFinite, abs(us) < 9.0e18 else { return nil }
        self.microseconds = Int64(us)
    }

    /// Seconds since the epoch, as a floating-point number.
    public var epochSeconds: Double { Double(microseconds) / 1_000_000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    /// The difference `a − b` in microseconds.
    public static func - (a: Timestamp, b: Timestamp) -> Int64 { a.microseconds &- b.microseconds }

    /// The timestamp moved by a number of microseconds.
    public static func + (a: Timestamp, us: Int64) -> Timestamp { Timestamp(microseconds: a.microseconds &+ us) }

    /// RFC 3339 in UTC, e.g. `2026-11-28T00:00:00Z`.
    public var description: String { RFC3339.format(self, offsetSeconds: 0) }
}
