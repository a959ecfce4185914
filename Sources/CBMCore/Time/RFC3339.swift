/// Parsing and formatting of RFC 3339 timestamps, without Foundation's formatters
/// (they are slow and allocate, and this runs once per message).
public enum RFC3339 {
    /// Why a text is not an RFC 3339 timestamp.
    public enum ParseError: Error, Equatable, Sendable {
        /// The text is not of the form `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
        case malformed
        /// A field is out of range (month 13, 25 o'clock, February 30…).
        case outOfRange
        /// Date and time are fine but no UTC offset says which instant they mean.
        case missingOffset
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM|±HH)`.
    ///
    /// Also accepted, because devices and tools write them: a space or lower-case `t` instead of
    /// `T`, lower-case `z`, and `mosquitto_sub`'s `Z+0000` ending (`2026-11-29T07:16:51.854359Z+0000`).
    /// Fractions finer than a microsecond are truncated.
    public static func parse<Bytes: Collection<UInt8>>(_ text: Bytes) -> Result<Timestamp, ParseError>
    where Bytes.Index == Int {
        var p = text.startIndex
        let end = text.endIndex
        func digits(_ n: Int) -> Int? {
            guard end - p >= n else { return nil }
            var v = 0
            for _ in 0..<n {
                let c = text[p]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
                p += 1
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard p < end, text[p] == c else { return false }
            p += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2)
        else { return .failure(.malformed) }
        guard p < end, text[p] == 84 || text[p] == 116 || text[p] == 32 else { return .failure(.malformed) }
        p += 1
        guard let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2)
        else { return .failure(.malformed) }
        var micros = 0
        if p < end, text[p] == 46 {  // '.'
            p += 1
            var n = 0
            while p < end, text[p] >= 48, text[p] <= 57 {
                if n < 6 { micros = micros * 10 + Int(text[p] - 48) }
                n += 1
                p += 1
            }
            guard n > 0 else { return .failure(.malformed) }
            for _ in min(n, 6)..<6 { micros *= 10 }
        }
        guard month >= 1, month <= 12, day >= 1, day <= Civil.daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 60
        else { return .failure(.outOfRange) }
        guard p < end else { return .failure(.missingOffset) }
        var offset = 0
        switch text[p] {
        case 90, 122:  // Z z
            p += 1
            // mosquitto_sub -F %j writes "…Z+0000": a redundant zero offset after the Z.
            if p < end {
                guard end - p == 5, text[p] == 43 else { return .failure(.malformed) }
                p += 1
                guard let z = digits(4), z == 0 else { return .failure(.malformed) }
            }
        case 43, 45:  // + -
            let sign = text[p] == 45 ? -1 : 1
            p += 1
            guard let oh = digits(2) else { return .failure(.malformed) }
            var om = 0
            if p < end {
                _ = expect(58)
                guard let m = digits(2) else { return .failure(.malformed) }
                om = m
            }
            guard oh <= 23, om <= 59 else { return .failure(.outOfRange) }
            offset = sign * (oh * 3600 + om * 60)
        default:
            return .failure(.malformed)
        }
        guard p == end else { return .failure(.malformed) }
        let days = Civil.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offset
        return .success(Timestamp(microseconds: Int64(seconds) * 1_000_000 + Int64(micros)))
    }

    /// Parses a Swift string; see ``parse(_:)-generic``.
    public static func parse(_ text: String) -> Result<Timestamp, ParseError> {
        var copy = text
        return copy.withUTF8 { parse($0) }
    }

    /// Formats a timestamp with a UTC offset in seconds: `2026-11-28T08:00:00+08:00`, `…Z` for 0.
    /// Fractional seconds are written only when present (milliseconds when they suffice).
    public static func format(_ t: Timestamp, offsetSeconds: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        append(t, offsetSeconds: offsetSeconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the formatted timestamp to a byte buffer (for record encoders).
    public static func append(_ t: Timestamp, offsetSeconds: Int, to out: inout [UInt8]) {
        // Any time at all is written (a damaged one too, in a reject): near the ends of the range
        // the zone's offset saturates instead of overflowing.
        let (sum, overflow) = t.microseconds.addingReportingOverflow(Int64(offsetSeconds) * 1_000_000)
        let local = overflow ? (offsetSeconds > 0 ? Int64.max : Int64.min) : sum
        var secs = local / 1_000_000
        var micros = local % 1_000_000
        if micros < 0 {
            micros += 1_000_000
            secs -= 1
        }
        var days = secs / 86_400
        var sod = secs % 86_400
        if sod < 0 {
            sod += 86_400
            days -= 1
        }
        let (y, m, d) = Civil.date(days: Int(days))
        // Digits straight into the output: no array per field.
        func put(_ v: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(48 + (v / divisor) % 10))
                divisor /= 10
            }
        }
        put(y, y > 9999 ? String(y).count : 4); out.append(45); put(m, 2); out.append(45); put(d, 2); out.append(84)
        put(Int(sod / 3600), 2); out.append(58); put(Int(sod % 3600 / 60), 2); out.append(58); put(Int(sod % 60), 2)
        if micros != 0 {
            out.append(46)
            if micros % 1000 == 0 { put(Int(micros / 1000), 3) } else { put(Int(micros), 6) }
        }
        if offsetSeconds == 0 {
            out.append(90)
        } else {
            out.append(offsetSeconds < 0 ? 45 : 43)
            let a = abs(offsetSeconds)
            put(a / 3600, 2); out.append(58); put(a % 3600 / 60, 2)
        }
    }
}
