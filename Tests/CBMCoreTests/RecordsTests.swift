import Testing
@testable import CBMCore

private func shanghaiEncoder(maxRejectPayload: Int = 1024) -> RecordEncoder {
    RecordEncoder(zone: ZoneOffsets(zone: zone("Asia/Shanghai")), basis: .c20, maxRejectPayload: maxRejectPayload)
}

private func line(_ reject: Reject, max: Int = 1024) -> String {
    var e = shanghaiEncoder(maxRejectPayload: max)
    e.encode(reject)
    return text(e.take())
}

private func payloadField(_ raw: [UInt8]) -> String {
    var e = JSONLineEncoder()
    e.begin()
    e.bytesAsString("p", raw[...])
    e.end()
    return text(e.bytes)
}

@Suite("Record encoder")
struct RecordEncoderTests {
    @Test("CSV local times: no offset, a space for the T, a fraction cut to the millisecond; columns follow their time column")
    func csvLocalTimes() throws {
        let t = try RFC3339.parse("2026-12-03T00:00:00.123456Z").get()
        #expect(CSVRecordEncoder.localTime(t, offsetSeconds: 0) == "2026-12-03 00:00:00.123")
        #expect(CSVRecordEncoder.localTime(t, offsetSeconds: 8 * 3600) == "2026-12-03 08:00:00.123")
        #expect(CSVRecordEncoder.localTime(Timestamp(seconds: 0), offsetSeconds: -5 * 3600) == "1969-12-31 19:00:00")
        let style = CSVRecordEncoder.Style(byteOrderMark: true, localTimes: true)
        #expect(Array(CSVRecordEncoder.columns(.totals, style: style).prefix(5)) == ["window", "start", "start_local", "end", "end_local"])
        #expect(Array(CSVRecordEncoder.header(.events, style: style).prefix(3)) == [0xEF, 0xBB, 0xBF])
        #expect(CSVRecordEncoder.header(.events) == Array("time,kind,id,detail\n".utf8))
        var e = CSVRecordEncoder(zone: ZoneOffsets(zone: zone("Asia/Shanghai")), basis: .c20, factors: Factors(), style: style)
        e.encode(EventRecord(time: t, kind: .fileRepaired, id: "x", detail: "y"))
        #expect(text(e.take()) == "2026-12-03T08:00:00.123456+08:00,2026-12-03 08:00:00.123,file_repaired,x,y\n")
    }

    @Test func gasReadingCarriesTheBasis() {
        var e = shanghaiEncoder()
        e.encode(Reading(time: ts(Ref.nov28, micros: 123_000), asset: "W-001", measurement: .gasRate, value: 2575.5))
        #expect(text(e.take()) == #"{"time":"2026-11-28T08:00:00.123+08:00","asset":"W-001","measurement":"gas_rate","value":2575.5,"unit":"m3/d","basis":"20C"}"# + "\n")
        e.encode(Reading(time: ts(Ref.nov28 + 3600), asset: "W-001", measurement: .gasTotal, value: 123_456_789, rollover: 1e9))
        #expect(text(e.take()) == #"{"time":"2026-11-28T09:00:00+08:00","asset":"W-001","measurement":"gas_total","value":123456789.0,"unit":"m3","basis":"20C"}"# + "\n")
    }

    @Test func otherReadingsHaveNoBasis() {
        var e = shanghaiEncoder()
        e.encode(Reading(time: ts(Ref.nov28), asset: "W-001", measurement: .waterRate, value: 1.5))
        e.encode(Reading(time: ts(Ref.nov28), asset: "W-001", measurement: .casingPressure, value: 250))
        e.encode(Reading(time: ts(Ref.nov28), asset: "W-001", measurement: .methaneFraction, value: 0.95))
        e.encode(Reading(time: ts(Ref.nov28), asset: "W-001", measurement: .temperature, value: -3.25))
        #expect(text(e.take()) == """
            {"time":"2026-11-28T08:00:00+08:00","asset":"W-001","measurement":"water_rate","value":1.5,"unit":"m3/d"}
            {"time":"2026-11-28T08:00:00+08:00","asset":"W-001","measurement":"casing_pressure","value":250.0,"unit":"kPa"}
            {"time":"2026-11-28T08:00:00+08:00","asset":"W-001","measurement":"methane_fraction","value":0.95,"unit":"fraction"}
            {"time":"2026-11-28T08:00:00+08:00","asset":"W-001","measurement":"temperature","value":-3.25,"unit":"degC"}

            """)
        #expect(e.take() == [])
    }

    @Test func reportingBasisIsTheConfiguredOne() {
        var e = RecordEncoder(zone: ZoneOffsets(zone: zone("Europe/Berlin")), basis: .c0)
        e.encode(Reading(time: ts(Ref.berlinDSTStart2026), asset: "X", measurement: .gasRate, value: 1))
        e.encode(Reading(time: ts(Ref.berlinDSTStart2026 - 1), asset: "X", measurement: .gasRate, value: 1))
        #expect(text(e.take()) == """
            {"time":"2026-03-29T03:00:00+02:00","asset":"X","measurement":"gas_rate","value":1.0,"unit":"m3/d","basis":"0C"}
            {"time":"2026-03-29T01:59:59+01:00","asset":"X","measurement":"gas_rate","value":1.0,"unit":"m3/d","basis":"0C"}

            """)
    }

    @Test func escapedAssetIDs() {
        var e = shanghaiEncoder()
        e.encode(Reading(time: ts(Ref.nov28), asset: "井\"1\"\\a\tb", measurement: .waterTotal, value: 0))
        #expect(text(e.take()) == #"{"time":"2026-11-28T08:00:00+08:00","asset":"井\"1\"\\a\tb","measurement":"water_total","value":0.0,"unit":"m3"}"# + "\n")
    }

    @Test func rejectRecord() {
        let payload = #"{"gas_m3h":"abc"}"#
        let r = Reject(time: ts(Ref.nov28), topic: "cbm/qinshui/b3/W-001/telemetry",
                       reason: .notANumber(path: "gas_m3h", found: #""abc""#), payload: Array(payload.utf8))
        #expect(line(r) == #"{"time":"2026-11-28T08:00:00+08:00","topic":"cbm/qinshui/b3/W-001/telemetry","reason":"value at gas_m3h is not a decimal number: \"abc\"","code":"not_a_number","payload":"{\"gas_m3h\":\"abc\"}","payload_bytes":17}"# + "\n")
    }

    @Test func rejectRecordTruncated() {
        let r = Reject(time: ts(Ref.nov28, micros: 1), topic: "t", reason: .emptyPayload, payload: Array("0123456789ABCDEF".utf8))
        #expect(line(r, max: 8) == #"{"time":"2026-11-28T08:00:00.000001+08:00","topic":"t","reason":"empty payload","code":"empty_payload","payload":"01234567","payload_bytes":16,"truncated":true}"# + "\n")
        // Exactly at the limit: nothing is cut, no flag.
        #expect(line(r, max: 16) == #"{"time":"2026-11-28T08:00:00.000001+08:00","topic":"t","reason":"empty payload","code":"empty_payload","payload":"0123456789ABCDEF","payload_bytes":16}"# + "\n")
        // A cut through a character leaves its first bytes as \xNN.
        let cut = Reject(time: ts(Ref.nov28), topic: "t", reason: .noSubscription, payload: [0x41, 0xC3, 0xA9])
        #expect(line(cut, max: 2) == #"{"time":"2026-11-28T08:00:00+08:00","topic":"t","reason":"topic matches no subscription","code":"no_subscription","payload":"A\\xc3","payload_bytes":3,"truncated":true}"# + "\n")
        let empty = Reject(time: ts(Ref.nov28), topic: "t", reason: .emptyPayload, payload: [])
        #expect(line(empty, max: 0) == #"{"time":"2026-11-28T08:00:00+08:00","topic":"t","reason":"empty payload","code":"empty_payload","payload":"","payload_bytes":0}"# + "\n")
    }

    @Test func rejectTopicsAndReasonsAreEscaped() {
        let r = Reject(time: ts(Ref.nov28), topic: "a\"b\nc", reason: .unknownAsset(id: "x\\y"), payload: [0x31])
        #expect(line(r) == #"{"time":"2026-11-28T08:00:00+08:00","topic":"a\"b\nc","reason":"unknown asset \"x\\y\": not in the asset register","code":"unknown_asset","payload":"1","payload_bytes":1}"# + "\n")
    }
}

@Suite("JSON line encoder")
struct JSONLineEncoderTests {
    @Test func members() {
        var e = JSONLineEncoder()
        e.begin()
        e.string("a", "x")
        e.string("b", nil as String?)
        e.string("b2", "y" as String?)
        e.number("c", 1.5)
        e.number("d", .nan)
        e.number("d2", -.infinity)
        e.number("d3", 1e-7)
        e.integer("e", -42)
        e.bool("f", true)
        e.bool("g", false)
        e.null("h")
        e.time("t", ts(Ref.nov28, micros: 123_456), offsetSeconds: 0)
        e.end()
        e.begin()
        e.end()
        #expect(text(e.bytes) == #"{"a":"x","b":null,"b2":"y","c":1.5,"d":null,"d2":null,"d3":1e-07,"e":-42,"f":true,"g":false,"h":null,"t":"2026-11-28T00:00:00.123456Z"}"# + "\n{}\n")
        e.reset()
        #expect(e.bytes == [])
    }

    @Test func invalidUTF8IsShownAsHex() {
        // A, FF (never valid), B, é (C3 A9, valid), then E4 B8 (a 3-byte sequence cut short).
        #expect(payloadField([0x41, 0xFF, 0x42, 0xC3, 0xA9, 0xE4, 0xB8]) == #"{"p":"A\\xffBé\\xe4\\xb8"}"# + "\n")
        // Overlong encodings, surrogates, above U+10FFFF, stray continuation bytes.
        #expect(payloadField([0xC0, 0x80]) == #"{"p":"\\xc0\\x80"}"# + "\n")
        #expect(payloadField([0xE0, 0x80, 0xAF]) == #"{"p":"\\xe0\\x80\\xaf"}"# + "\n")
        #expect(payloadField([0xED, 0xA0, 0x80]) == #"{"p":"\\xed\\xa0\\x80"}"# + "\n")
        #expect(payloadField([0xF4, 0x90, 0x80, 0x80]) == #"{"p":"\\xf4\\x90\\x80\\x80"}"# + "\n")
        #expect(payloadField([0x80, 0xBF]) == #"{"p":"\\x80\\xbf"}"# + "\n")
        #expect(payloadField([0xF5]) == #"{"p":"\\xf5"}"# + "\n")
        // Valid multi-byte characters are kept as they are.
        #expect(payloadField(Array("中😀".utf8)) == "{\"p\":\"中😀\"}\n")
        #expect(payloadField([0xF4, 0x8F, 0xBF, 0xBF]) == "{\"p\":\"\u{10FFFF}\"}\n")
        #expect(payloadField([0xEF, 0xBB, 0xBF, 0x7B]) == "{\"p\":\"\u{FEFF}{\"}\n")
    }

    @Test func controlCharactersAreEscaped() {
        #expect(payloadField([0x01, 0x0A, 0x09, 0x22, 0x5C, 0x0D, 0x1F, 0x00, 0x08, 0x0C, 0x7F])
            == #"{"p":"\u0001\n\t\"\\\r\u001f\u0000\u0008\u000c"# + "\u{7F}\"}\n")
        var e = JSONLineEncoder()
        e.begin()
        e.string("s", "tab\there \u{1B}[0m")
        e.end()
        #expect(text(e.bytes) == #"{"s":"tab\there \u001b[0m"}"# + "\n")
    }

    @Test func sliceIndicesAreRespected() {
        let raw: [UInt8] = [0xFF, 0x41, 0xC3, 0xA9, 0xFF]
        var e = JSONLineEncoder()
        e.begin()
        e.bytesAsString("p", raw[1..<4])
        e.end()
        #expect(text(e.bytes) == "{\"p\":\"Aé\"}\n")
    }

    @Test func validSequenceLengths() {
        let b: [UInt8] = [0x41, 0xC3, 0xA9, 0xE4, 0xB8, 0xAD, 0xF0, 0x9F, 0x98, 0x80, 0xC3]
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 0) == 1)
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 1) == 2)
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 2) == 0)  // a continuation byte
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 3) == 3)
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 6) == 4)
        #expect(JSONLineEncoder.validSequenceLength(b[...], at: 10) == 0)  // cut at the end
    }
}

@Suite("Quantities")
struct QuantitiesTests {
    @Test("durations", arguments: [
        ("500ms", Int64(500_000)),
        ("250us", 250),
        ("30s", 30_000_000),
        ("15m", 900_000_000),
        ("2h", 7_200_000_000),
        ("1.5h", 5_400_000_000),
        ("7d", 604_800_000_000),
        ("1w", 604_800_000_000),
        ("0s", 0),
        (" 5 m ", 300_000_000),
        ("100ms", 100_000),
    ])
    func durations(_ text: String, _ us: Int64) {
        #expect(Quantities.duration(text) == us)
    }

    @Test("refused durations", arguments: ["30", "", "s", "-5s", "abc", "5x", "5 min", "1e20d", "nans", "infs"])
    func refusedDurations(_ text: String) {
        #expect(Quantities.duration(text) == nil)
    }

    @Test("sizes", arguments: [
        ("64KiB", Int64(65_536)),
        ("64MiB", 67_108_864),
        ("20GiB", 21_474_836_480),
        ("1TiB", 1_099_511_627_776),
        ("1.5MiB", 1_572_864),
        ("1KB", 1_000),
        ("2MB", 2_000_000),
        ("3GB", 3_000_000_000),
        ("1TB", 1_000_000_000_000),
        ("512B", 512),
        ("1024", 1_024),
        (" 8 KiB ", 8_192),
    ])
    func sizes(_ text: String, _ bytes: Int64) {
        #expect(Quantities.size(text) == bytes)
    }

    @Test("refused sizes", arguments: ["", "abc", "-1KiB", "1XB", "KiB", "1e30TiB"])
    func refusedSizes(_ text: String) {
        #expect(Quantities.size(text) == nil)
    }

    @Test func describeDurations() {
        #expect(Quantities.describe(microseconds: 0) == "0ms")
        #expect(Quantities.describe(microseconds: 250_000) == "250ms")
        #expect(Quantities.describe(microseconds: 999_999) == "999ms")
        #expect(Quantities.describe(microseconds: 1_000_000) == "1s")
        #expect(Quantities.describe(microseconds: 45_000_000) == "45s")
        #expect(Quantities.describe(microseconds: 300_000_000) == "5m")
        #expect(Quantities.describe(microseconds: 330_000_000) == "5m30s")
        #expect(Quantities.describe(microseconds: 7_200_000_000) == "2h")
        #expect(Quantities.describe(microseconds: 9_000_000_000) == "2h30m")
        #expect(Quantities.describe(microseconds: 86_400_000_000) == "1d")
        #expect(Quantities.describe(microseconds: 273_600_000_000) == "3d4h")
        #expect(Quantities.describe(microseconds: 2_592_000_000_000) == "30d")
        #expect(Quantities.describe(microseconds: -45_000_000) == "45s")
    }

    @Test func describeSizes() {
        #expect(Quantities.describe(bytes: 0) == "0B")
        #expect(Quantities.describe(bytes: 512) == "512B")
        #expect(Quantities.describe(bytes: 1_000) == "1000B")
        #expect(Quantities.describe(bytes: 65_536) == "64KiB")
        #expect(Quantities.describe(bytes: 1_572_864) == "1.5MiB")
        #expect(Quantities.describe(bytes: 67_108_864) == "64MiB")
        #expect(Quantities.describe(bytes: 21_474_836_480) == "20GiB")
        #expect(Quantities.describe(bytes: 1_099_511_627_776) == "1TiB")
    }
}

@Suite("Totals records read back")
struct TotalsRecordDecodingTests {
    @Test("every totals record read back from its JSON line, whole and to the bit; other lines are not records")
    func identityRoundTrip() {
        let r = AggregationHarness().run([[
            reading("W01", .gasTotal, "2026-11-28T07:10:00+08:00", 100),
            reading("W01", .gasTotal, "2026-11-28T09:20:00+08:00", 400),
            reading("M01", .gasRate, "2026-11-28T07:30:00+08:00", 2400),
            reading("M01", .gasRate, "2026-11-28T08:30:00+08:00", 2400),
            reading("FL1", .gasRate, "2026-11-28T07:40:00+08:00", 300),
            reading("FL1", .gasRate, "2026-11-28T08:40:00+08:00", 300),
        ]])
        #expect(r.records.contains { $0.flaredM3 != nil } && r.records.contains { $0.hasUtilisationRate } && r.records.contains { $0.coalT != nil })
        #expect(r.records.count > 5)
        var e = RecordEncoder(zone: ZoneOffsets(zone: zone("Asia/Shanghai")), basis: .c20)
        for record in r.records { e.encode(record, factors: Factors()) }
        let lines = splitLines(e.take())
        #expect(lines.count == r.records.count)
        for (line, record) in zip(lines, r.records) {
            let back = TotalsRecord.decodeIdentity(jsonLine: line)
            #expect(back?.key == record.key && back?.revision == record.revision)
            #expect(TotalsRecord.decode(jsonLine: line) == record, "read back whole, every figure to the bit")
        }
        #expect(TotalsRecord.decodeIdentity(jsonLine: ArraySlice(#"{"time":"2026-11-28T08:00:00+08:00","kind":"x"}"#.utf8)) == nil)
        #expect(TotalsRecord.decodeIdentity(jsonLine: ArraySlice("not json".utf8)) == nil)
    }

    @Test("a line read where it lies and the same line through the parser give the same record, or both none")
    func scannedEqualsParsed() throws {
        let r = AggregationHarness().run([[
            reading("W01", .gasTotal, "2026-11-28T07:10:00+08:00", 100),
            reading("W01", .gasTotal, "2026-11-28T09:20:00+08:00", 400),
            reading("M01", .gasRate, "2026-11-28T07:30:00+08:00", 2400),
            reading("M01", .gasRate, "2026-11-28T08:30:00+08:00", 2400),
        ]])
        var e = RecordEncoder(zone: ZoneOffsets(zone: zone("Asia/Shanghai")), basis: .c20)
        for record in r.records { e.encode(record, factors: Factors()) }
        let lines = splitLines(e.take()).map { String(decoding: $0, as: UTF8.self) }
        let line = try #require(lines.first { $0.contains(#""scope":"well""#) })
        // Each line as written, then variants: damaged, reordered, spaced, with an escape (which
        // the scanner leaves to the parser), and with counts no integer holds.
        var variants = lines
        variants += [
            line.replacingOccurrences(of: #""id":"W01""#, with: #""id":"W\u0030\"1""#),
            line.replacingOccurrences(of: #""revision":1"#, with: #""revision":"1""#),
            line.replacingOccurrences(of: #""samples":"#, with: #""samples":1e300,"x":"#),
            line.replacingOccurrences(of: #""samples":"#, with: #""samples":-1e300,"x":"#),
            line.replacingOccurrences(of: #""estimated":false"#, with: #""estimated":0"#),
            line.replacingOccurrences(of: #""scope":"well""#, with: #""scope":"planet""#),
            line.replacingOccurrences(of: #""window":"hour""#, with: #""window":"hour","window":"day""#),
            line.replacingOccurrences(of: #"",""#, with: #"" , ""#),
            line.replacingOccurrences(of: #"{"window":"hour","#, with: #"{"#),
            line.replacingOccurrences(of: #""gas_m3":"#, with: #""utilisation_rate":null,"gas_m3":"#),
            line.replacingOccurrences(of: #""gas_m3":"#, with: #""utilisation_rate":0.5,"gas_m3":"#),
            line.replacingOccurrences(of: #""start":"2026"#, with: #""start":"2026x"#),
            "[" + line + "]", line + "x", "{}", "",
        ]
        var scannedSome = false, parsedSome = false
        for v in variants {
            let bytes = ArraySlice(v.utf8)
            let scanned = TotalsRecord.decode(jsonLine: bytes), parsed = TotalsRecord.decode(jsonLine: bytes, scanning: false)
            #expect(scanned == parsed, "\(v)")
            if scanned != nil && !v.contains("\\") { scannedSome = true }
            if parsed != nil && v.contains("\\") { parsedSome = true }
        }
        #expect(scannedSome && parsedSome)
        let escaped = try #require(TotalsRecord.decode(jsonLine: ArraySlice(variants[lines.count].utf8)))
        #expect(escaped.id == #"W0"1"#)
    }
}
