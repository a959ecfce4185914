import Testing
@testable import CBMCore

@Suite("RFC 3339 parsing")
struct RFC3339ParseTests {
    @Test("UTC with Z", arguments: [
        "2026-11-28T00:00:00Z",
        "2026-11-28T08:00:00+08:00",
        "2026-11-28T08:00:00+0800",
        "2026-11-28T08:00:00+08",
        "2026-11-27T18:30:00-05:30",
        "2026-11-27T18:30:00-0530",
        "2026-11-28T05:30:00+05:30",
        "2026-11-28T00:00:00+00:00",
        "2026-11-28T00:00:00-00:00",
        "2026-11-28t00:00:00z",
        "2026-11-28 00:00:00Z",
        "2026-11-28 08:00:00+08:00",
    ])
    func sameInstant(_ s: String) {
        #expect(RFC3339.parse(s) == .success(ts(Ref.nov28)))
    }

    @Test func offsetsMoveTheInstant() {
        // 08:00 at +08:00 is midnight UTC; 08:00 Z is eight hours later.
        #expect(RFC3339.parse("2026-11-28T08:00:00Z") == .success(ts(Ref.nov28 + 8 * 3600)))
        #expect(RFC3339.parse("2026-11-28T00:00:00-05:00") == .success(ts(Ref.nov28 + 5 * 3600)))
        #expect(RFC3339.parse("2026-11-28T00:00:00+23:59") == .success(ts(Ref.nov28 - 23 * 3600 - 59 * 60)))
    }

    @Test func fractions() {
        #expect(RFC3339.parse("2026-11-28T00:00:00.5Z") == .success(ts(Ref.nov28, micros: 500_000)))
        #expect(RFC3339.parse("2026-11-28T00:00:00.123Z") == .success(ts(Ref.nov28, micros: 123_000)))
        #expect(RFC3339.parse("2026-11-28T08:00:00.123+08:00") == .success(ts(Ref.nov28, micros: 123_000)))
        #expect(RFC3339.parse("2026-11-28T00:00:00.123456Z") == .success(ts(Ref.nov28, micros: 123_456)))
        #expect(RFC3339.parse("2026-11-28T00:00:00.000001Z") == .success(ts(Ref.nov28, micros: 1)))
        // Nanoseconds are truncated, not rounded.
        #expect(RFC3339.parse("2026-11-28T00:00:00.123456789Z") == .success(ts(Ref.nov28, micros: 123_456)))
        #expect(RFC3339.parse("2026-11-28T00:00:00.999999999Z") == .success(ts(Ref.nov28, micros: 999_999)))
        #expect(RFC3339.parse("2026-11-28T00:00:00.0000009Z") == .success(ts(Ref.nov28)))
    }

    @Test func mosquittoSubEnding() {
        #expect(RFC3339.parse("2026-11-29T07:16:51.854359Z+0000") == .success(ts(Ref.nov29_071651, micros: 854_359)))
        #expect(RFC3339.parse("2026-11-29T07:16:51Z+0000") == .success(ts(Ref.nov29_071651)))
        // Only a redundant zero offset may follow the Z.
        #expect(RFC3339.parse("2026-11-29T07:16:51Z+0100") == .failure(.malformed))
        #expect(RFC3339.parse("2026-11-29T07:16:51Z+000") == .failure(.malformed))
        #expect(RFC3339.parse("2026-11-29T07:16:51Z-0000") == .failure(.malformed))
        #expect(RFC3339.parse("2026-11-29T07:16:51Z+00000") == .failure(.malformed))
    }

    @Test func bytesAndStringAgree() {
        let s = "2026-11-29T07:16:51.854359Z+0000"
        #expect(RFC3339.parse(Array(s.utf8)) == .success(ts(Ref.nov29_071651, micros: 854_359)))
        let slice = Array("xx2026-11-28T00:00:00Zyy".utf8)[2..<22]
        #expect(RFC3339.parse(slice) == .success(ts(Ref.nov28)))
    }

    @Test("missing offset", arguments: [
        "2026-11-28T08:00:00",
        "2026-11-28T08:00:00.5",
        "2026-11-28 08:00:00.123456",
    ])
    func missingOffset(_ s: String) {
        #expect(RFC3339.parse(s) == .failure(.missingOffset))
    }

    @Test("out of range", arguments: [
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T23:60:00Z",
        "2026-11-28T23:59:61Z",
        "2026-11-28T08:00:00+24:00",
        "2026-11-28T08:00:00+08:60",
        "2026-13-01T00:00:00",  // range is checked before the offset
    ])
    func outOfRange(_ s: String) {
        #expect(RFC3339.parse(s) == .failure(.outOfRange))
    }

    @Test("malformed", arguments: [
        "",
        "2026-11-28",
        "2026-11-28T",
        "2026-11-28T00:00Z",
        "26-11-28T00:00:00Z",
        "2026/11/28T00:00:00Z",
        "2026-11-28X00:00:00Z",
        "2026-11-28T00-00-00Z",
        "2026-11-28T0:00:00Z",
        "2026-1-28T00:00:00Z",
        "2026-11-28T00:00:00.Z",
        "2026-11-28T00:00:00,5Z",
        "2026-11-28T00:00:00Zjunk",
        "2026-11-28T00:00:00 Z",
        "2026-11-28T00:00:00 +08:00",
        "2026-11-28T00:00:00+8:00",
        "2026-11-28T00:00:00+08:0",
        "2026-11-28T00:00:00+08:",
        "2026-11-28T00:00:00+08:00:00",
        "2026-11-28T00:00:00+08:00Z",
        "2026-11-28T00:00:00UTC",
        "２０２６-11-28T00:00:00Z",
        " 2026-11-28T00:00:00Z",
        "2026-11-28T00:00:00Z ",
    ])
    func malformed(_ s: String) {
        #expect(RFC3339.parse(s) == .failure(.malformed))
    }

    @Test func leapYears() {
        #expect(RFC3339.parse("2024-02-29T12:00:00Z") == .success(ts(Ref.leapDayNoon2024)))
        // 2000 is a leap year (divisible by 400): 29 Feb is the day before 1 Mar.
        #expect(RFC3339.parse("2000-02-29T00:00:00Z") == .success(ts(Ref.y2000mar1 - 86_400)))
        #expect(RFC3339.parse("2024-03-01T00:00:00Z") == .success(ts(Ref.leapDayNoon2024 + 12 * 3600)))
    }

    @Test func leapSecondIsHeldAt59() {
        #expect(RFC3339.parse("2026-11-28T23:59:60Z") == .success(ts(Ref.nov28 + 86_399)))
    }

    @Test func before1970() {
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == .success(Timestamp(microseconds: 0)))
        #expect(RFC3339.parse("1969-12-31T23:59:59Z") == .success(Timestamp(microseconds: -1_000_000)))
        #expect(RFC3339.parse("1969-12-31T23:59:59.5Z") == .success(Timestamp(microseconds: -500_000)))
        #expect(RFC3339.parse("1969-12-31T23:59:59.999999Z") == .success(Timestamp(microseconds: -1)))
        #expect(RFC3339.parse("1970-01-01T07:00:00+08:00") == .success(Timestamp(microseconds: -3_600_000_000)))
        #expect(RFC3339.parse("1900-01-01T00:00:00Z") == .success(ts(Ref.y1900)))
        #expect(RFC3339.parse("0001-01-01T00:00:00Z") == .success(ts(-62_135_596_800)))
        #expect(RFC3339.parse("9999-12-31T23:59:59Z") == .success(ts(253_402_300_799)))
    }
}

@Suite("RFC 3339 formatting")
struct RFC3339FormatTests {
    @Test func offsets() {
        let t = ts(Ref.nov28)
        #expect(RFC3339.format(t, offsetSeconds: 0) == "2026-11-28T00:00:00Z")
        #expect(RFC3339.format(t, offsetSeconds: 8 * 3600) == "2026-11-28T08:00:00+08:00")
        #expect(RFC3339.format(t, offsetSeconds: -(5 * 3600 + 30 * 60)) == "2026-11-27T18:30:00-05:30")
        #expect(RFC3339.format(t, offsetSeconds: 5 * 3600 + 30 * 60) == "2026-11-28T05:30:00+05:30")
        #expect(RFC3339.format(t, offsetSeconds: 5 * 3600 + 45 * 60) == "2026-11-28T05:45:00+05:45")
        #expect(RFC3339.format(t, offsetSeconds: -5 * 3600) == "2026-11-27T19:00:00-05:00")
        #expect(RFC3339.format(t, offsetSeconds: 14 * 3600) == "2026-11-28T14:00:00+14:00")
        #expect(t.description == "2026-11-28T00:00:00Z")
    }

    @Test func dayAndYearRollOverWithTheOffset() {
        // 2026-12-31T20:00:00Z is already 2027 in Shanghai.
        let newYearsEve = ts(Ref.nov28 + 33 * 86_400 + 20 * 3600)
        #expect(RFC3339.format(newYearsEve, offsetSeconds: 0) == "2026-12-31T20:00:00Z")
        #expect(RFC3339.format(newYearsEve, offsetSeconds: 28_800) == "2027-01-01T04:00:00+08:00")
    }

    @Test func fractionRules() {
        // Milliseconds when they suffice, else microseconds; nothing when whole.
        #expect(RFC3339.format(ts(Ref.nov28, micros: 123_000), offsetSeconds: 0) == "2026-11-28T00:00:00.123Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 500_000), offsetSeconds: 0) == "2026-11-28T00:00:00.500Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 1_000), offsetSeconds: 0) == "2026-11-28T00:00:00.001Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 123_456), offsetSeconds: 0) == "2026-11-28T00:00:00.123456Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 100), offsetSeconds: 0) == "2026-11-28T00:00:00.000100Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 1), offsetSeconds: 0) == "2026-11-28T00:00:00.000001Z")
        #expect(RFC3339.format(ts(Ref.nov28, micros: 123_000), offsetSeconds: 28_800) == "2026-11-28T08:00:00.123+08:00")
    }

    @Test func before1970() {
        #expect(RFC3339.format(Timestamp(microseconds: 0), offsetSeconds: 0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(Timestamp(microseconds: 0), offsetSeconds: 28_800) == "1970-01-01T08:00:00+08:00")
        #expect(RFC3339.format(Timestamp(microseconds: 0), offsetSeconds: -18_000) == "1969-12-31T19:00:00-05:00")
        #expect(RFC3339.format(Timestamp(microseconds: -1), offsetSeconds: 0) == "1969-12-31T23:59:59.999999Z")
        #expect(RFC3339.format(Timestamp(microseconds: -500_000), offsetSeconds: 0) == "1969-12-31T23:59:59.500Z")
        #expect(RFC3339.format(Timestamp(microseconds: -1_000_000), offsetSeconds: 0) == "1969-12-31T23:59:59Z")
        #expect(RFC3339.format(Timestamp(microseconds: -86_400_000_000), offsetSeconds: 0) == "1969-12-31T00:00:00Z")
        #expect(RFC3339.format(ts(Ref.y1900), offsetSeconds: 0) == "1900-01-01T00:00:00Z")
        #expect(RFC3339.format(ts(-62_135_596_800), offsetSeconds: 0) == "0001-01-01T00:00:00Z")
        #expect(RFC3339.format(ts(253_402_300_799), offsetSeconds: 0) == "9999-12-31T23:59:59Z")
    }

    @Test func leapDay() {
        #expect(RFC3339.format(ts(Ref.leapDayNoon2024), offsetSeconds: 0) == "2024-02-29T12:00:00Z")
        #expect(RFC3339.format(ts(Ref.leapDayNoon2024), offsetSeconds: 43_200) == "2024-03-01T00:00:00+12:00")
        #expect(RFC3339.format(ts(Ref.y2000mar1 - 1), offsetSeconds: 0) == "2000-02-29T23:59:59Z")
    }

    @Test("round trip text → instant → text", arguments: [
        ("2026-11-28T08:00:00+08:00", 28_800),
        ("2026-11-28T08:00:00.123+08:00", 28_800),
        ("2026-11-28T08:00:00.123456+08:00", 28_800),
        ("2026-11-27T18:30:00.000100-05:30", -19_800),
        ("2026-11-29T07:16:51.854359Z", 0),
        ("1969-07-20T20:17:40Z", 0),
        ("1900-01-01T00:00:00Z", 0),
        ("2024-02-29T23:59:59.999Z", 0),
    ])
    func roundTrip(_ s: String, _ offset: Int) throws {
        let t = try #require(RFC3339.parse(s).success)
        #expect(RFC3339.format(t, offsetSeconds: offset) == s)
    }

    @Test func roundTripInstants() throws {
        // Instants from 1601 to 2100 in uneven steps, with all sorts of fractions.
        var us: Int64 = -11_644_473_600_000_000
        while us < 4_102_444_800_000_000 {
            let t = Timestamp(microseconds: us)
            for offset in [0, 28_800, -19_800, 45 * 60] {
                let s = RFC3339.format(t, offsetSeconds: offset)
                #expect(RFC3339.parse(s) == .success(t), "\(s)")
            }
            us += 7_777_777_777_777 + us % 999_983
        }
    }

    @Test func appendAddsToTheBuffer() {
        var out = Array("x=".utf8)
        RFC3339.append(ts(Ref.nov28), offsetSeconds: 28_800, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x=2026-11-28T08:00:00+08:00")
    }
}

@Suite("Civil dates and timestamps")
struct CivilTests {
    @Test func daysSinceEpoch() {
        #expect(Civil.days(year: 1970, month: 1, day: 1) == 0)
        #expect(Civil.days(year: 1970, month: 1, day: 2) == 1)
        #expect(Civil.days(year: 1969, month: 12, day: 31) == -1)
        #expect(Civil.days(year: 1972, month: 3, day: 1) == 790)  // 365 + 365 + 60
        #expect(Civil.days(year: 2000, month: 1, day: 1) == 10_957)  // 30 · 365 + 7
        #expect(Civil.days(year: 2000, month: 2, day: 29) == 11_016)
        #expect(Civil.days(year: 2000, month: 3, day: 1) == 11_017)
        #expect(Civil.days(year: 2026, month: 11, day: 28) == 20_785)
        #expect(Civil.days(year: 1900, month: 1, day: 1) == -25_567)
        #expect(Civil.days(year: 1, month: 1, day: 1) == -719_162)
    }

    @Test func datesOfDays() {
        #expect(Civil.date(days: 0) == (1970, 1, 1))
        #expect(Civil.date(days: -1) == (1969, 12, 31))
        #expect(Civil.date(days: 790) == (1972, 3, 1))
        #expect(Civil.date(days: 11_016) == (2000, 2, 29))
        #expect(Civil.date(days: 11_017) == (2000, 3, 1))
        #expect(Civil.date(days: 20_785) == (2026, 11, 28))
        #expect(Civil.date(days: -25_567) == (1900, 1, 1))
        #expect(Civil.date(days: -719_162) == (1, 1, 1))
    }

    @Test func everyDayRoundTrips() {
        var previous = Civil.date(days: -800)
        for d in -799...25_000 {
            let date = Civil.date(days: d)
            #expect(Civil.days(year: date.year, month: date.month, day: date.day) == d)
            // Consecutive days: either the next day of the month, or the 1st after the month's last day.
            if date.day == 1 {
                #expect(previous.day == Civil.daysInMonth(year: previous.year, month: previous.month))
            } else {
                #expect(date.day == previous.day + 1 && date.month == previous.month)
            }
            previous = date
        }
    }

    @Test func monthLengths() {
        #expect(Civil.daysInMonth(year: 2024, month: 2) == 29)
        #expect(Civil.daysInMonth(year: 2026, month: 2) == 28)
        #expect(Civil.daysInMonth(year: 1900, month: 2) == 28)
        #expect(Civil.daysInMonth(year: 2000, month: 2) == 29)
        #expect(Civil.daysInMonth(year: 2026, month: 4) == 30)
        #expect(Civil.daysInMonth(year: 2026, month: 11) == 30)
        #expect(Civil.daysInMonth(year: 2026, month: 12) == 31)
        #expect(Civil.daysInMonth(year: 2026, month: 1) == 31)
    }

    @Test func timestampArithmetic() {
        #expect(Timestamp(seconds: 2).microseconds == 2_000_000)
        #expect(Timestamp(seconds: -2).microseconds == -2_000_000)
        #expect(Timestamp(epochSeconds: 1.5)?.microseconds == 1_500_000)
        #expect(Timestamp(epochSeconds: 1_795_824_000.123)?.microseconds == 1_795_824_000_123_000)
        #expect(Timestamp(epochSeconds: -0.25)?.microseconds == -250_000)
        #expect(Timestamp(epochSeconds: .nan) == nil)
        #expect(Timestamp(epochSeconds: .infinity) == nil)
        #expect(Timestamp(epochSeconds: 1e13) == nil)
        #expect(Timestamp(microseconds: 2_500_000).epochSeconds == 2.5)
        #expect(ts(10) - ts(4) == 6_000_000)
        #expect(ts(10) + 1_500_000 == ts(11, micros: 500_000))
        #expect(ts(1) < ts(2))
        #expect(!(ts(2) < ts(2)))
        #expect(Timestamp(microseconds: -1) < Timestamp(microseconds: 0))
    }
}
