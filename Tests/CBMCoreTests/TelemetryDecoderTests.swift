import Testing
@testable import CBMCore

/// The decoder's fixture: a register, a `json` rule and a `value` rule built by hand.
private enum Fixture {
    static let register = AssetRegister([
        Asset(id: "W-001", kind: .well, field: "qinshui", block: "b3", expectedGasM3d: 1200),
        Asset(id: "W-002", kind: .well, field: "qinshui", block: "b3"),
        Asset(id: "1001", kind: .well, field: "qinshui", block: "b4"),
        Asset(id: "D-01", kind: .delivery, sector: .power),
    ])

    /// Receive time: 2026-11-28T00:00:10Z.
    static let received = ts(Ref.nov28 + 10)
    static let topic = "cbm/qinshui/b3/W-001/telemetry"

    static func mapping(_ unit: String, _ m: Measurement, meter: VolumeBasis = .c20, rollover: Double? = nil) -> DecodeRule.ValueMapping {
        guard case .success(let u) = MeasurementUnit.parse(unit, for: m.dimension) else { fatalError("unit \(unit)") }
        return DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u, meterBasis: meter, reportingBasis: .c20),
                                       rollover: rollover)
    }

    static func filter(_ s: String) -> TopicFilter {
        guard case .success(let f) = TopicFilter.parse(s) else { fatalError(s) }
        return f
    }

    static func template(_ s: String) -> TopicTemplate {
        guard case .success(let t) = TopicTemplate.parse(s) else { fatalError(s) }
        return t
    }

    /// The counter rules of W-001's gas totalizer: the rule's rollover, and at most 20 × its
    /// expected 1,200 m³/d.
    static let counter = CounterRules(rollover: 1e9, maxRateM3d: 24_000)

    static let jsonKeys = ["gas_m3h", "gas_total", "water_m3d", "cp_mpa", "temp_k"]

    static func jsonRule(filter f: String = "cbm/+/+/+/telemetry",
                         template t: String = "cbm/{field}/{block}/{asset}/telemetry",
                         timeFormat: DecodeRule.TimeFormat = .auto, assetKey: String? = nil) -> DecodeRule {
        DecodeRule(filter: filter(f), template: template(t), format: .json(.init(
            timeKey: "ts", timeFormat: timeFormat, assetKey: assetKey,
            values: [
                (key: "gas_m3h", mapping: mapping("m3/h", .gasRate)),
                (key: "gas_total", mapping: mapping("m3", .gasTotal, rollover: 1e9)),
                (key: "water_m3d", mapping: mapping("m3/d", .waterRate)),
                (key: "cp_mpa", mapping: mapping("MPa", .casingPressure)),
                (key: "temp_k", mapping: mapping("K", .temperature)),
            ])))
    }

    static func valueRule(filter f: String = "cbm/+/+/+/+",
                          template t: String = "cbm/{field}/{block}/{asset}/{measurement}") -> DecodeRule {
        DecodeRule(filter: filter(f), template: template(t), format: .value(.init(values: [
            "gas_rate": mapping("m3/h", .gasRate),
            "gas_total": mapping("Nm3", .gasTotal, rollover: 1e8),
            "casing_pressure": mapping("kPa", .casingPressure),
        ])))
    }

    static func decoder(_ rules: [DecodeRule], limits: DecodeLimits = DecodeLimits()) -> TelemetryDecoder {
        TelemetryDecoder(rules: rules, register: register, limits: limits)
    }
}

/// Decodes one message and returns what came out.
private func decode(_ d: inout TelemetryDecoder, _ payload: String, topic: String = Fixture.topic,
                    at received: Timestamp = Fixture.received) -> (readings: [Reading], rejects: [Reject]) {
    var readings: [Reading] = []
    var rejects: [Reject] = []
    d.decode(InboundMessage(topic: topic, payload: Array(payload.utf8), receivedAt: received), readings: &readings, rejects: &rejects)
    return (readings, rejects)
}

/// The reasons of the rejects (time, topic and payload checked where it matters).
private func reasons(_ r: [Reject]) -> [RejectReason] { r.map(\.reason) }

private let t0 = Ref.nov28  // 2026-11-28T00:00:00Z, ten seconds before the receive time

@Suite("Telemetry decoder: readings")
struct DecoderReadingTests {
    @Test func jsonObject() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":12.5,"gas_total":123456.5,"water_m3d":1.5,"cp_mpa":0.25,"temp_k":300}"#)
        #expect(out.rejects == [])
        #expect(out.readings.count == 5)
        #expect(Array(out.readings.prefix(4)) == [
            Reading(time: ts(t0), asset: "W-001", measurement: .gasRate, value: 300),  // 12.5 m³/h · 24
            Reading(time: ts(t0), asset: "W-001", measurement: .gasTotal, value: 123_456.5, counter: Fixture.counter),
            Reading(time: ts(t0), asset: "W-001", measurement: .waterRate, value: 1.5),
            Reading(time: ts(t0), asset: "W-001", measurement: .casingPressure, value: 250),  // 0.25 MPa
        ])
        let temp = out.readings[4]
        #expect(temp.measurement == .temperature && temp.asset == "W-001" && temp.time == ts(t0))
        #expect(close(temp.value, 26.85))  // 300 K
        #expect(out.readings.map(\.unit) == ["m3/d", "m3", "m3/d", "kPa", "degC"])
        #expect(d.seriesCount == 5)
    }

    @Test func readingsFollowTheConfiguredKeyOrderNotThePayloadOrder() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"water_m3d":1.5,"unrelated":"x","ts":\#(t0),"gas_m3h":1}"#)
        #expect(out.readings.map(\.measurement) == [.gasRate, .waterRate])
        #expect(out.rejects == [])
    }

    @Test func basisConversionInTheDecoder() {
        // A meter at 0 °C: 100 m³/h there is 100 · 24 · 293.15 / 273.15 m³/d at 20 °C.
        let rule = DecodeRule(filter: Fixture.filter("cbm/+/+/+/telemetry"), template: Fixture.template("cbm/{field}/{block}/{asset}/telemetry"),
                              format: .json(.init(timeKey: "ts", values: [
                                  (key: "q", mapping: Fixture.mapping("m3/h", .gasRate, meter: .c0)),
                                  (key: "w", mapping: Fixture.mapping("m3/h", .waterRate, meter: .c0)),
                              ])))
        var d = Fixture.decoder([rule])
        let out = decode(&d, #"{"ts":\#(t0),"q":100,"w":100}"#)
        #expect(out.readings.count == 2)
        #expect(close(out.readings[0].value, 100.0 * 24 * 293.15 / 273.15))
        #expect(out.readings[1].value == 2400)  // water: units only
    }

    @Test func arrayBatch() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"[{"ts":\#(t0),"gas_m3h":10},{"ts":\#(t0 + 5),"gas_m3h":11,"water_m3d":0}]"#)
        #expect(out.rejects == [])
        #expect(out.readings == [
            Reading(time: ts(t0), asset: "W-001", measurement: .gasRate, value: 240),
            Reading(time: ts(t0 + 5), asset: "W-001", measurement: .gasRate, value: 264),
            Reading(time: ts(t0 + 5), asset: "W-001", measurement: .waterRate, value: 0),
        ])
        #expect(decode(&d, "[]").readings == [])
        #expect(decode(&d, "[]").rejects == [])
    }

    @Test("time forms", arguments: [
        ("1795824000", ts(Ref.nov28)),  // epoch seconds
        ("1795824000.25", ts(Ref.nov28, micros: 250_000)),
        ("1795824000123", ts(Ref.nov28, micros: 123_000)),  // epoch milliseconds
        ("1795824000123456", ts(Ref.nov28, micros: 123_456)),  // epoch microseconds
        (#""2026-11-28T08:00:00.5+08:00""#, ts(Ref.nov28, micros: 500_000)),
        (#""2026-11-28T00:00:00Z""#, ts(Ref.nov28)),
        (#""2026-11-28T00:00:03.854359Z+0000""#, ts(Ref.nov28 + 3, micros: 854_359)),
        (#""1795824000""#, ts(Ref.nov28)),  // numeric strings
        (#""1795824000123""#, ts(Ref.nov28, micros: 123_000)),
    ])
    func timeForms(_ time: String, _ expected: Timestamp) {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(time),"gas_m3h":1}"#)
        #expect(out.rejects == [])
        #expect(out.readings.map(\.time) == [expected])
    }

    @Test func explicitTimeFormats() {
        var ms = Fixture.decoder([Fixture.jsonRule(timeFormat: .milliseconds)])
        #expect(decode(&ms, #"{"ts":1795824000123,"gas_m3h":1}"#).readings.map(\.time) == [ts(t0, micros: 123_000)])
        var s = Fixture.decoder([Fixture.jsonRule(timeFormat: .seconds)])
        #expect(decode(&s, #"{"ts":1795824000,"gas_m3h":1}"#).readings.map(\.time) == [ts(t0)])
        var us = Fixture.decoder([Fixture.jsonRule(timeFormat: .microseconds)])
        #expect(decode(&us, #"{"ts":"1795824000123456","gas_m3h":1}"#).readings.map(\.time) == [ts(t0, micros: 123_456)])
        var rfc = Fixture.decoder([Fixture.jsonRule(timeFormat: .rfc3339)])
        #expect(decode(&rfc, #"{"ts":"2026-11-28T08:00:00+08:00","gas_m3h":1}"#).readings.map(\.time) == [ts(t0)])
    }

    @Test func autoTimeThresholds() {
        // Below 10¹¹ seconds, below 10¹⁴ milliseconds, else microseconds.
        #expect(TelemetryDecoder.time(.number(99_999_999_999), format: .auto).success == ts(99_999_999_999))
        #expect(TelemetryDecoder.time(.number(100_000_000_000), format: .auto).success == ts(100_000_000))
        #expect(TelemetryDecoder.time(.number(100_000_000_000_000), format: .auto).success == ts(100_000_000))
    }

    @Test func assetKeyInThePayloadOverridesTheTopic() {
        var d = Fixture.decoder([Fixture.jsonRule(assetKey: "dev")])
        #expect(decode(&d, #"{"ts":\#(t0),"dev":"W-002","gas_m3h":1}"#).readings.map(\.asset) == ["W-002"])
        #expect(decode(&d, #"{"ts":\#(t0),"dev":1001,"gas_m3h":1}"#).readings.map(\.asset) == ["1001"])
        // Absent or empty: the topic's asset.
        #expect(decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#).readings.map(\.asset) == ["W-001"])
        #expect(decode(&d, #"{"ts":\#(t0),"dev":"","gas_m3h":1}"#).readings.map(\.asset) == ["W-001"])
        // In a batch, each element names its own.
        let batch = decode(&d, #"[{"ts":\#(t0),"dev":"W-002","gas_m3h":1},{"ts":\#(t0),"dev":"D-01","gas_m3h":2}]"#)
        #expect(batch.readings.map(\.asset) == ["W-002", "D-01"])
    }

    @Test func assetOnlyInThePayload() {
        var d = Fixture.decoder([Fixture.jsonRule(filter: "site/+/telemetry", template: "site/{site}/telemetry", assetKey: "dev")])
        #expect(decode(&d, #"{"ts":\#(t0),"dev":"W-002","gas_m3h":1}"#, topic: "site/jz/telemetry").readings.map(\.asset) == ["W-002"])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: "site/jz/telemetry")
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.missingAsset(key: "dev")])
        var noKey = Fixture.decoder([Fixture.jsonRule(filter: "site/+/telemetry", template: "site/{site}/telemetry")])
        #expect(reasons(decode(&noKey, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: "site/jz/telemetry").rejects) == [.missingAsset(key: "{asset}")])
    }

    @Test func nullIsOfflineNotZero() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":null,"water_m3d":2}"#)
        #expect(out.readings == [Reading(time: ts(t0), asset: "W-001", measurement: .waterRate, value: 2)])
        #expect(out.rejects == [])
        // Only nulls: nothing to read, but nothing wrong either.
        let none = decode(&d, #"{"ts":\#(t0),"gas_m3h":null}"#)
        #expect(none.readings == [])
        #expect(none.rejects == [])
    }

    @Test func numericStringsAreAccepted() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":"12.5","water_m3d":" 2 ","cp_mpa":"-0.05"}"#)
        #expect(out.rejects == [])
        #expect(out.readings.map(\.value) == [300, 2, -50])
    }

    @Test func valueFormat() {
        var d = Fixture.decoder([Fixture.valueRule()])
        let received = ts(t0 + 42, micros: 7)
        let out = decode(&d, "12.5", topic: "cbm/qinshui/b3/W-001/gas_rate", at: received)
        #expect(out.readings == [Reading(time: received, asset: "W-001", measurement: .gasRate, value: 300)])
        #expect(decode(&d, " 250\n", topic: "cbm/qinshui/b3/W-001/casing_pressure").readings.map(\.value) == [250])
        // Nm³ implies 0 °C; the rollover is carried.
        let total = decode(&d, "1000", topic: "cbm/qinshui/b3/W-002/gas_total").readings
        #expect(total.count == 1)
        #expect(close(total[0].value, 1000 * 293.15 / 273.15))
        #expect(total[0].rollover == 1e8)
        #expect(total[0].asset == "W-002")
    }
}

@Suite("Telemetry decoder: rejects")
struct DecoderRejectTests {
    @Test func payloadTooLarge() {
        let payload = #"{"ts":\#(t0),"gas_m3h":1}"#
        var limits = DecodeLimits()
        limits.maxPayload = payload.utf8.count
        var atLimit = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        #expect(decode(&atLimit, payload).readings.count == 1)
        limits.maxPayload = payload.utf8.count - 1
        var over = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        let out = decode(&over, payload)
        #expect(out.readings == [])
        #expect(out.rejects == [Reject(time: Fixture.received, topic: Fixture.topic,
                                       reason: .payloadTooLarge(size: payload.utf8.count, limit: payload.utf8.count - 1),
                                       payload: Array(payload.utf8))])
        // Checked before the topic: even a topic nobody subscribed to.
        #expect(reasons(decode(&over, payload, topic: "x/y").rejects) == [.payloadTooLarge(size: 29, limit: 28)])
    }

    @Test func notJSON() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        #expect(reasons(decode(&d, "hello").rejects) == [.notJSON(JSONSyntaxError(offset: 0, message: "unexpected character 'h'"))])
        #expect(reasons(decode(&d, "").rejects) == [.notJSON(JSONSyntaxError(offset: 0, message: "empty payload"))])
        #expect(reasons(decode(&d, #"{"ts":1,}"#).rejects) == [.notJSON(JSONSyntaxError(offset: 8, message: "expected a key in quotes"))])
    }

    @Test func notAnObject() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        #expect(reasons(decode(&d, "42").rejects) == [.notAnObject(path: "payload", found: "a number")])
        #expect(reasons(decode(&d, #""x""#).rejects) == [.notAnObject(path: "payload", found: "a string")])
        let out = decode(&d, #"[{"ts":\#(t0),"gas_m3h":1},5,"x",[],null]"#)
        #expect(out.readings.count == 1)
        #expect(reasons(out.rejects) == [
            .notAnObject(path: "[1]", found: "a number"),
            .notAnObject(path: "[2]", found: "a string"),
            .notAnObject(path: "[3]", found: "an array"),
            .notAnObject(path: "[4]", found: "null"),
        ])
    }

    @Test func missingTime() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        #expect(reasons(decode(&d, #"{"gas_m3h":1}"#).rejects) == [.missingTime(key: "ts")])
        #expect(reasons(decode(&d, #"{"ts":null,"gas_m3h":1}"#).rejects) == [.missingTime(key: "ts")])
        #expect(reasons(decode(&d, #"{"TS":\#(t0),"gas_m3h":1}"#).rejects) == [.missingTime(key: "ts")])
        let batch = decode(&d, #"[{"ts":\#(t0),"gas_m3h":1},{"gas_m3h":2}]"#)
        #expect(batch.readings.map(\.value) == [24])
        #expect(reasons(batch.rejects) == [.missingTime(key: "[1].ts")])
    }

    @Test("unparsable time", arguments: [
        (#""yesterday""#, #""yesterday""#, "expected epoch seconds or milliseconds, or RFC 3339 text"),
        (#""2026-11-28T08:00:00""#, #""2026-11-28T08:00:00""#, "no UTC offset: add Z or +08:00"),
        (#""2026-13-28T08:00:00Z""#, #""2026-13-28T08:00:00Z""#, "a field is out of range"),
        (#""2026-02-30T08:00:00Z""#, #""2026-02-30T08:00:00Z""#, "a field is out of range"),
        ("true", "true", "a boolean, expected a number or text"),
        (#"{"s":1}"#, "an object", "an object, expected a number or text"),
        ("[1]", "an array", "an array, expected a number or text"),
        ("0", "0.0", "not a time after 1970"),
        ("-5", "-5.0", "not a time after 1970"),
        (#""NaN""#, #""NaN""#, "not finite"),
    ])
    func unparsableTime(_ json: String, _ shown: String, _ why: String) {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(json),"gas_m3h":1}"#)
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.badTime(path: "ts", text: shown, why: why)])
    }

    @Test func timeOfTheWrongDeclaredForm() {
        var s = Fixture.decoder([Fixture.jsonRule(timeFormat: .seconds)])
        #expect(reasons(decode(&s, #"{"ts":"2026-11-28T00:00:00Z","gas_m3h":1}"#).rejects)
            == [.badTime(path: "ts", text: #""2026-11-28T00:00:00Z""#, why: "text, expected epoch seconds")])
        var rfc = Fixture.decoder([Fixture.jsonRule(timeFormat: .rfc3339)])
        #expect(reasons(decode(&rfc, #"{"ts":1795824000,"gas_m3h":1}"#).rejects)
            == [.badTime(path: "ts", text: "1795824000.0", why: "a number, expected RFC 3339 text")])
        #expect(reasons(decode(&rfc, #"{"ts":"1795824000","gas_m3h":1}"#).rejects)
            == [.badTime(path: "ts", text: #""1795824000""#, why: "expected epoch seconds or milliseconds, or RFC 3339 text")])
    }

    @Test func readingsBehindTheWatermarkByMoreThanMaxPastAreRejected() {
        var limits = DecodeLimits()
        limits.maxPastUS = 3_600_000_000
        var d = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        let received = Ref.nov28 + 10
        #expect(decode(&d, #"{"ts":\#(received),"gas_m3h":1}"#).readings.count == 1)
        #expect(d.watermark == Timestamp(seconds: received))
        #expect(decode(&d, #"{"ts":\#(received - 3600),"gas_m3h":1}"#).readings.count == 1)
        let late = decode(&d, #"{"ts":\#(received - 3601),"gas_m3h":1}"#)
        #expect(reasons(late.rejects) == [.timeTooOld(path: "ts", behindUS: 3_601_000_000, limitUS: 3_600_000_000)])
        #expect(late.rejects.first?.reason.code == "time_too_old")
        #expect(late.rejects.first?.reason.description == "time at ts is 1h before the receive time (limits.max_past is 1h)")
        // The wall clock moves the watermark too: behind it by more than max_past is as old.
        d.observe(Timestamp(seconds: received + 7200))
        let behind = reasons(decode(&d, #"{"ts":\#(received + 3000),"gas_m3h":1}"#, at: Timestamp(seconds: received + 4000)).rejects)
        #expect(behind.first?.code == "time_too_old")
        #expect(behind.first?.description.hasSuffix("before the watermark (limits.max_past is 1h)") == true)
    }

    @Test func timeTooFarInTheFuture() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let received = Ref.nov28 + 10
        // Exactly the limit (5 minutes ahead) is accepted; one second more is not.
        #expect(decode(&d, #"{"ts":\#(received + 300),"gas_m3h":1}"#).readings.count == 1)
        let out = decode(&d, #"{"ts":\#(received + 301),"gas_m3h":1}"#)
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.timeInFuture(path: "ts", aheadUS: 301_000_000, limitUS: 300_000_000)])
        #expect(out.rejects.first?.reason.description
            == "time at ts is 5m1s ahead of the receive time (limits.max_future is 5m)")
        let batch = decode(&d, #"[{"ts":\#(received + 3600),"gas_m3h":1}]"#)
        #expect(reasons(batch.rejects) == [.timeInFuture(path: "[0].ts", aheadUS: 3_600_000_000, limitUS: 300_000_000)])
    }

    @Test func timeTooFarInThePast() {
        var wide = DecodeLimits()
        wide.maxPastUS = 30 * 86_400 * 1_000_000
        var d = Fixture.decoder([Fixture.jsonRule()], limits: wide)
        let received = Ref.nov28 + 10
        let thirtyDays: Int64 = 30 * 86_400
        #expect(decode(&d, #"{"ts":\#(received - thirtyDays),"gas_m3h":1}"#).readings.count == 1)
        #expect(reasons(decode(&d, #"{"ts":\#(received - thirtyDays - 1),"gas_m3h":1}"#).rejects)
            == [.timeTooOld(path: "ts", behindUS: 2_592_001_000_000, limitUS: 2_592_000_000_000)])
        var limits = DecodeLimits()
        limits.maxPastUS = 3_600_000_000
        limits.maxFutureUS = 0
        var tight = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        let old = decode(&tight, #"{"ts":\#(received - 3601),"gas_m3h":1}"#)
        #expect(reasons(old.rejects) == [.timeTooOld(path: "ts", behindUS: 3_601_000_000, limitUS: 3_600_000_000)])
        #expect(old.rejects.first?.reason.description
            == "time at ts is 1h before the receive time (limits.max_past is 1h)")
        #expect(reasons(decode(&tight, #"{"ts":\#(received).000001,"gas_m3h":1}"#).rejects)
            == [.timeInFuture(path: "ts", aheadUS: 1, limitUS: 0)])
        #expect(decode(&tight, #"{"ts":\#(received),"gas_m3h":1}"#).readings.count == 1)
    }

    @Test func nonNumericValues() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let long = String(repeating: "x", count: 50)
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":"abc","gas_total":true,"water_m3d":[1],"cp_mpa":{"v":1},"temp_k":"\#(long)"}"#)
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [
            .notANumber(path: "gas_m3h", found: #""abc""#),
            .notANumber(path: "gas_total", found: "true"),
            .notANumber(path: "water_m3d", found: "an array"),
            .notANumber(path: "cp_mpa", found: "an object"),
            .notANumber(path: "temp_k", found: "\"" + String(repeating: "x", count: 40) + "…\""),
        ])
        #expect(reasons(decode(&d, #"{"ts":\#(t0),"gas_m3h":false}"#).rejects) == [.notANumber(path: "gas_m3h", found: "false")])
        #expect(reasons(decode(&d, #"{"ts":\#(t0),"gas_m3h":""}"#).rejects) == [.notANumber(path: "gas_m3h", found: #""""#)])
    }

    @Test func nonFiniteValues() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":"NaN","water_m3d":1e999,"cp_mpa":"-Infinity"}"#)
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [
            .notFinite(path: "gas_m3h", text: #""NaN""#),
            .notFinite(path: "water_m3d", text: "inf"),
            .notFinite(path: "cp_mpa", text: #""-Infinity""#),
        ])
    }

    @Test func goodValuesBesideBadOnesStillBecomeReadings() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":"abc","gas_total":5,"water_m3d":2,"cp_mpa":true,"temp_k":1e999}"#)
        #expect(out.readings == [
            Reading(time: ts(t0), asset: "W-001", measurement: .gasTotal, value: 5, counter: Fixture.counter),
            Reading(time: ts(t0), asset: "W-001", measurement: .waterRate, value: 2),
        ])
        #expect(reasons(out.rejects) == [
            .notANumber(path: "gas_m3h", found: #""abc""#),
            .notANumber(path: "cp_mpa", found: "true"),
            .notFinite(path: "temp_k", text: "inf"),
        ])
        // In a batch: good elements around a bad one.
        let batch = decode(&d, #"[{"ts":\#(t0),"gas_m3h":1},{"ts":"bad","gas_m3h":2},7,{"ts":\#(t0 + 1),"gas_m3h":"x","water_m3d":3}]"#)
        #expect(batch.readings == [
            Reading(time: ts(t0), asset: "W-001", measurement: .gasRate, value: 24),
            Reading(time: ts(t0 + 1), asset: "W-001", measurement: .waterRate, value: 3),
        ])
        #expect(reasons(batch.rejects) == [
            .badTime(path: "[1].ts", text: #""bad""#, why: "expected epoch seconds or milliseconds, or RFC 3339 text"),
            .notAnObject(path: "[2]", found: "a number"),
            .notANumber(path: "[3].gas_m3h", found: #""x""#),
        ])
    }

    @Test func unknownAsset() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: "cbm/qinshui/b3/W-999/telemetry")
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.unknownAsset(id: "W-999")])
        #expect(d.seriesCount == 0)
        var v = Fixture.decoder([Fixture.valueRule()])
        #expect(reasons(decode(&v, "1", topic: "cbm/q/b/W-999/gas_rate").rejects) == [.unknownAsset(id: "W-999")])
    }

    @Test func unknownMeasurementOfAValueTopic() {
        var d = Fixture.decoder([Fixture.valueRule()])
        let out = decode(&d, "12.5", topic: "cbm/qinshui/b3/W-001/flow")
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.unknownMeasurement(name: "flow", known: ["casing_pressure", "gas_rate", "gas_total"])])
        #expect(out.rejects.first?.reason.description
            == "unknown measurement \"flow\" (this subscription knows: casing_pressure, gas_rate, gas_total)")
        var noName = Fixture.decoder([Fixture.valueRule(filter: "plain/+", template: "plain/{asset}")])
        #expect(reasons(decode(&noName, "1", topic: "plain/W-001").rejects)
            == [.unknownMeasurement(name: "", known: ["casing_pressure", "gas_rate", "gas_total"])])
    }

    @Test func noKnownMeasurementKey() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        #expect(reasons(decode(&d, #"{"ts":\#(t0),"gas":1,"flow":2}"#).rejects)
            == [.noMeasurement(path: "payload", keys: Fixture.jsonKeys)])
        #expect(reasons(decode(&d, #"[{"ts":\#(t0)}]"#).rejects) == [.noMeasurement(path: "[0]", keys: Fixture.jsonKeys)])
    }

    @Test func topicMatchingNoSubscription() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let payload = #"{"ts":\#(t0),"gas_m3h":1}"#
        let out = decode(&d, payload, topic: "other/topic")
        #expect(out.readings == [])
        #expect(out.rejects == [Reject(time: Fixture.received, topic: "other/topic", reason: .noSubscription, payload: Array(payload.utf8))])
        #expect(reasons(decode(&d, payload, topic: "cbm/qinshui/b3/W-001/status").rejects) == [.noSubscription])
    }

    @Test func topicMatchingAFilterButNotItsTemplate() {
        let a = "cbm/{field}/{block}/{asset}/{measurement}"
        let b = "cbm/{asset}/{measurement}"
        var d = Fixture.decoder([Fixture.valueRule(filter: "cbm/#", template: a)])
        #expect(reasons(decode(&d, "1", topic: "cbm/q/b").rejects) == [.topicMismatch(templates: [a])])
        var two = Fixture.decoder([Fixture.valueRule(filter: "cbm/#", template: a), Fixture.valueRule(filter: "cbm/+/+/+", template: b)])
        let out = decode(&two, "1", topic: "cbm/q/b/W-001")
        #expect(reasons(out.rejects) == [.topicMismatch(templates: [a, b])])
        #expect(out.rejects.first?.reason.description
            == "topic does not match template \"cbm/{field}/{block}/{asset}/{measurement}\" or \"cbm/{asset}/{measurement}\"")
    }

    @Test func emptyValuePayload() {
        var d = Fixture.decoder([Fixture.valueRule()])
        for payload in ["", " ", " \n\t"] {
            let out = decode(&d, payload, topic: "cbm/q/b/W-001/gas_rate")
            #expect(out.readings == [])
            #expect(reasons(out.rejects) == [.emptyPayload])
        }
    }

    @Test func badValuePayloads() {
        var d = Fixture.decoder([Fixture.valueRule()])
        let topic = "cbm/q/b/W-001/gas_rate"
        #expect(reasons(decode(&d, "abc", topic: topic).rejects) == [.notANumber(path: "payload", found: "abc")])
        #expect(reasons(decode(&d, #"{"v":1}"#, topic: topic).rejects) == [.notANumber(path: "payload", found: #"{"v":1}"#)])
        #expect(reasons(decode(&d, "NaN", topic: topic).rejects) == [.notFinite(path: "payload", text: "NaN")])
        #expect(reasons(decode(&d, "1e999", topic: topic).rejects) == [.notFinite(path: "payload", text: "1e999")])
        #expect(d.seriesCount == 0)
    }

    @Test func firstMatchingRuleWins() {
        let json = Fixture.jsonRule()
        let value = Fixture.valueRule(filter: "cbm/#")
        let payload = #"{"ts":\#(t0),"gas_m3h":1}"#
        var jsonFirst = Fixture.decoder([json, value])
        #expect(decode(&jsonFirst, payload).readings == [Reading(time: ts(t0), asset: "W-001", measurement: .gasRate, value: 24)])
        // A topic only the second rule's filter takes goes to the second rule.
        #expect(decode(&jsonFirst, "2", topic: "cbm/q/b/W-001/gas_rate").readings.map(\.value) == [48])
        // The same telemetry topic with the value rule first: the value rule takes it, and
        // "telemetry" is not one of its measurements.
        var valueFirst = Fixture.decoder([value, json])
        let out = decode(&valueFirst, payload)
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.unknownMeasurement(name: "telemetry", known: ["casing_pressure", "gas_rate", "gas_total"])])
        // A rule whose filter matches but whose template does not is passed over.
        var passOver = Fixture.decoder([Fixture.valueRule(filter: "cbm/#", template: "cbm/{asset}/{measurement}"), json])
        let taken = decode(&passOver, payload)
        #expect(taken.rejects == [])
        #expect(taken.readings.map(\.value) == [24])
    }

    @Test func seriesLimit() {
        var limits = DecodeLimits()
        limits.maxSeries = 2
        var d = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        #expect(decode(&d, #"{"ts":\#(t0),"gas_m3h":1,"water_m3d":2}"#).readings.count == 2)
        #expect(d.seriesCount == 2)
        let out = decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: "cbm/q/b/W-002/telemetry")
        #expect(out.readings == [])
        #expect(reasons(out.rejects) == [.tooManySeries(limit: 2)])
        // Series already seen go on being accepted.
        let again = decode(&d, #"{"ts":\#(t0 + 1),"gas_m3h":3,"cp_mpa":1}"#)
        #expect(again.readings.map(\.value) == [72])
        #expect(reasons(again.rejects) == [.tooManySeries(limit: 2)])
        #expect(d.seriesCount == 2)
    }

    @Test func unknownAssetsWithTheirOwnLimit() {
        var limits = DecodeLimits()
        limits.acceptUnknownAssets = true
        limits.maxUnknownSeries = 1
        var d = Fixture.decoder([Fixture.jsonRule()], limits: limits)
        let x1 = "cbm/q/b/X-1/telemetry"
        #expect(decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: x1).readings
            == [Reading(time: ts(t0), asset: "X-1", measurement: .gasRate, value: 24)])
        #expect(reasons(decode(&d, #"{"ts":\#(t0),"water_m3d":1}"#, topic: x1).rejects) == [.tooManyUnknownSeries(limit: 1)])
        #expect(reasons(decode(&d, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: "cbm/q/b/X-2/telemetry").rejects)
            == [.tooManyUnknownSeries(limit: 1)])
        #expect(decode(&d, #"{"ts":\#(t0 + 1),"gas_m3h":2}"#, topic: x1).readings.map(\.value) == [48])
        // Registered assets are not held back by the unknown-series cap.
        #expect(decode(&d, #"{"ts":\#(t0),"gas_m3h":1,"water_m3d":1}"#).readings.count == 2)
        #expect(d.seriesCount == 3)

        // The overall cap applies to unknown assets too, and is checked first.
        var both = DecodeLimits()
        both.acceptUnknownAssets = true
        both.maxSeries = 1
        var e = Fixture.decoder([Fixture.jsonRule()], limits: both)
        #expect(decode(&e, #"{"ts":\#(t0),"gas_m3h":1}"#).readings.count == 1)
        #expect(reasons(decode(&e, #"{"ts":\#(t0),"gas_m3h":1}"#, topic: x1).rejects) == [.tooManySeries(limit: 1)])
    }

    @Test func rejectRecordsTheMessage() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let received = ts(t0 + 60, micros: 5)
        let out = decode(&d, "oops", topic: Fixture.topic, at: received)
        #expect(out.rejects == [Reject(time: received, topic: Fixture.topic,
                                       reason: .notJSON(JSONSyntaxError(offset: 0, message: "unexpected character 'o'")),
                                       payload: Array("oops".utf8))])
    }
}

@Suite("Reject reasons")
struct RejectReasonTests {
    @Test func codesAndDescriptions() {
        let cases: [(RejectReason, String, String)] = [
            (.payloadTooLarge(size: 70_000, limit: 65_536), "payload_too_large",
             "payload of 70000 bytes is over the limit of 65536 bytes (limits.max_payload)"),
            (.emptyPayload, "empty_payload", "empty payload"),
            (.noSubscription, "no_subscription", "topic matches no subscription"),
            (.topicMismatch(templates: ["a/{asset}"]), "topic_mismatch", "topic does not match template \"a/{asset}\""),
            (.notJSON(JSONSyntaxError(offset: 3, message: "unexpected text after the JSON value")), "not_json",
             "not JSON: unexpected text after the JSON value at byte 3"),
            (.notAnObject(path: "[2]", found: "a number"), "not_an_object", "[2] is a number, expected an object"),
            (.missingTime(key: "ts"), "missing_time", "missing time: no key \"ts\""),
            (.badTime(path: "ts", text: "\"x\"", why: "why"), "bad_time", "unparsable time at ts: \"x\" (why)"),
            (.timeInFuture(path: "ts", aheadUS: 9_000_000_000, limitUS: 300_000_000), "time_in_future",
             "time at ts is 2h30m ahead of the receive time (limits.max_future is 5m)"),
            (.timeTooOld(path: "[0].ts", behindUS: 2_678_400_000_000, limitUS: 2_592_000_000_000), "time_too_old",
             "time at [0].ts is 31d before the receive time (limits.max_past is 30d)"),
            (.notANumber(path: "q", found: "true"), "not_a_number", "value at q is not a decimal number: true"),
            (.notFinite(path: "q", text: "inf"), "not_finite", "value at q is not finite: inf"),
            (.missingAsset(key: "dev"), "missing_asset", "no asset: neither the topic nor the payload key \"dev\" names one"),
            (.unknownAsset(id: "W-9"), "unknown_asset", "unknown asset \"W-9\": not in the asset register"),
            (.unknownMeasurement(name: "x", known: ["a", "b"]), "unknown_measurement",
             "unknown measurement \"x\" (this subscription knows: a, b)"),
            (.noMeasurement(path: "payload", keys: ["a", "b"]), "no_measurement",
             "no known measurement in payload (expected one of the keys: a, b)"),
            (.tooManySeries(limit: 5), "too_many_series", "new series refused: 5 series already (limits.max_series)"),
            (.tooManyUnknownSeries(limit: 2), "too_many_unknown_series",
             "new series of an unregistered asset refused: 2 such series already (unknown_assets.max_series)"),
            (.implausibleValue(path: "gas_m3h", value: -200, unit: "m3/d", limit: 0, above: false, key: "plausibility.gas_rate.min"),
             "implausible_value", "value at gas_m3h is -200 m3/d, below the plausible minimum 0 m3/d (plausibility.gas_rate.min)"),
            (.implausibleIncrease(path: "gas_total", from: 1000, to: 1e12, spanUS: 60_000_000, counted: 1e12 - 1000, allowed: 1000,
                                  key: "plausibility.well_rate_factor"), "implausible_increase",
             "totalizer at gas_total went from 1000 to 1000000000000 m3 in 1m: 999999999000 m3, more than the 1000 m3 a plausible "
                + "rate allows (plausibility.well_rate_factor, plausibility.totalizer_span)"),
            (.receiveTimeJump(aheadUS: 74 * 365 * 86_400_000_000, limitUS: 3_600_000_000), "receive_time_jump",
             "receive time is 27010d after the latest time seen, and the next message does not follow it (limits.max_receive_jump is 1h): "
                + "a damaged recording line?"),
            (.implausibleStepBack(path: "gas_total", from: 3e6, to: 1.5e6, spanUS: 3_600_000_000, amount: 1.5e6, allowed: 24_000,
                                  key: "plausibility.well_rate_factor"), "implausible_step_back",
             "totalizer at gas_total went from 3000000 to 1500000 m3 in 1h, neither a reset nor a rollover: a step back of 1500000 m3, "
                + "more than the 24000 m3 a correction can take back (plausibility.well_rate_factor, plausibility.step_back_span)"),
            (.badReceiveTime(why: "is after 9998-12-31, the last day taken"), "bad_receive_time",
             "receive time is after 9998-12-31, the last day taken"),
        ]
        for (reason, code, description) in cases {
            #expect(reason.code == code)
            #expect(reason.description == description)
        }
        #expect(Set(cases.map(\.1)).count == cases.count)
    }
}

@Suite("Telemetry decoder: the topic table")
struct DecoderRouteTests {
    @Test("a topic is matched once, then looked up: the same readings and rejects each time; a reload starts the table over")
    func routesAreRememberedAndForgottenOnReload() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        let payload = #"{"ts":\#(t0),"gas_m3h":12.5}"#
        let first = decode(&d, payload)
        let again = decode(&d, payload, at: ts(t0 + 20))
        #expect(first.readings.count == 1 && again.readings.map(\.asset) == first.readings.map(\.asset))
        #expect(d.routes.count == 1)
        // A topic that no subscription takes, twice: the same reason both times.
        let other = "plant/x/y"
        #expect(reasons(decode(&d, payload, topic: other).rejects) == [.noSubscription])
        #expect(reasons(decode(&d, payload, topic: other).rejects) == [.noSubscription])
        #expect(d.routes.count == 2)
        // A reload whose subscription has another template: the old route is not used.
        d.reconfigure(rules: [Fixture.jsonRule(template: "cbm/{field}/{block}/{asset}/other")], register: Fixture.register, limits: DecodeLimits())
        #expect(d.routes.isEmpty)
        let after = decode(&d, payload, at: ts(t0 + 30))
        #expect(after.readings.isEmpty)
        #expect(reasons(after.rejects) == [.topicMismatch(templates: ["cbm/{field}/{block}/{asset}/other"])])
    }

    @Test("the table stays bounded however many topics come")
    func routesAreBounded() {
        var d = Fixture.decoder([Fixture.jsonRule()])
        var readings: [Reading] = [], rejects: [Reject] = []
        for i in 0..<(TelemetryDecoder.maxRoutes + 10) {
            d.decode(InboundMessage(topic: "x/\(i)", payload: Array("{}".utf8), receivedAt: Fixture.received), readings: &readings, rejects: &rejects)
        }
        #expect(d.routes.count <= TelemetryDecoder.maxRoutes)
        #expect(rejects.count == TelemetryDecoder.maxRoutes + 10 && rejects.allSatisfy { $0.reason == .noSubscription })
    }
}

@Suite("Telemetry decoder: the flat scanner")
struct FlatScannerTests {
    /// Payloads of every kind: what the scanner takes, and what it must leave to the parser.
    static let payloads: [String] = [
        #"{"ts":\#(t0),"gas_m3h":12.5,"gas_total":123456.5}"#,
        #"  {  "ts" : \#(t0) , "gas_m3h" : 12.5 , "cp_mpa":0.25 }  "#,
        "{\"ts\":\(t0),\n\t\"gas_m3h\":1e1,\r\n\"temp_k\":3.0E2}",
        #"{"ts":"\#(t0)","gas_m3h":"12.5"}"#,
        #"{"ts":"2026-11-28T00:00:00Z","gas_m3h":" 7 "}"#,
        #"{"ts":"2026-11-28T08:00:00+08:00","gas_total":null}"#,
        #"{"ts":\#(t0),"gas_m3h":12.5,"gas_m3h":99}"#,            // a repeated key: the first counts
        #"{"gas_m3h":12.5,"ts":\#(t0),"ts":1}"#,
        #"{"ts":\#(t0),"other":"x","gas_m3h":-0.0}"#,
        #"{"ts":\#(t0),"gas_m3h":true,"gas_total":false}"#,
        #"{"ts":\#(t0),"gas_m3h":"twelve"}"#,
        #"{"ts":\#(t0),"gas_m3h":12345678901234567890123,"gas_total":0.1e-400}"#,
        #"{"ts":\#(t0),"gas_m3h":1.7976931348623157e309}"#,
        #"{"ts":\#(t0)000,"gas_m3h":0.000000000000000000001}"#,
        // Plain decimals up to 15 digits (read by the scanner itself) and just past (by the parser's
        // routine): the same doubles either way.
        #"{"ts":\#(t0),"gas_m3h":123456789012345,"gas_total":1234567890123456}"#,
        #"{"ts":\#(t0),"gas_m3h":0.123456789012345,"gas_total":0.1234567890123456}"#,
        #"{"ts":\#(t0),"gas_m3h":99999999999999.9,"gas_total":1.0000000000000002}"#,
        #"{"ts":\#(t0),"gas_m3h":-0,"gas_total":0.5}"#,
        #"{"ts":\#(t0),"gas_m3h":-12.50,"gas_total":7.000000000000001}"#,
        #"{"ts":\#(t0),"gas_m3h":0.1,"gas_total":0.30000000000000004}"#,
        #"{"ts":\#(t0),"gas_m3h":5e-1,"gas_total":5E+1}"#,
        #"{"ts":\#(t0),"gas_m3h":00,"gas_total":1}"#,
        #"{"ts":\#(t0),"gas_m3h":-.5}"#,
        #"{"ts":\#(t0),"gas_m3h":0.,"gas_total":1}"#,
        #"{"ts":\#(t0),"gas_m3h":--1}"#,
        #"{"ts":\#(t0),"gas_m3h":012}"#,                           // leading zero
        #"{"ts":\#(t0),"gas_m3h":1.}"#,
        #"{"ts":\#(t0),"gas_m3h":-}"#,
        #"{"ts":\#(t0),"gas_m3h":1e}"#,
        #"{"ts":\#(t0),"gas_m3h":12.5,}"#,
        #"{"ts":\#(t0),"gas_m3h":12.5} x"#,
        #"{"ts":\#(t0),"gas_m3h":12.5"#,
        #"{"ts":\#(t0),"gas_m3h" 12.5}"#,
        #"{"ts":\#(t0) "gas_m3h":12.5}"#,
        #"{"ts":\#(t0),"gas_m3h":nul}"#,
        #"{"ts":\#(t0),"gas_m3h":tru}"#,
        #"{"ts":\#(t0),"gas_\u006d3h":12.5}"#,                      // an escaped key
        #"{"ts":\#(t0),"gas_m3h":"1\u0032"}"#,                      // an escaped value
        #"{"ts":\#(t0),"gas_m3h":{"v":1}}"#,                        // nested
        #"{"ts":\#(t0),"gas_m3h":[1]}"#,
        #"{"ts":\#(t0),"bad\#u{01}":1}"#,                           // a control character in a key
        #"{"ts":\#(t0),"gas_m3h":"a\#tb"}"#,
        #"{"ts":\#(t0),"gäs":1,"gas_m3h":2}"#,                      // a key that is not ASCII
        #"{"ts":\#(t0),"gas_m3h":"√2"}"#,
        #"[{"ts":\#(t0),"gas_m3h":1},{"ts":\#(t0),"gas_m3h":2}]"#,
        #"{"ts":\#(t0),"gas_m3h":1}{"#,
        "{\"ts\":\(t0),\"gas_m3h\":\"\u{FF}\"}",
        #"{}"#, #"{ }"#, #"{"#, #"}"#, #""#, #"   "#, #"12.5"#, #"null"#, #""x""#, #"{"ts":\#(t0)}"#,
        #"{"ts":null,"gas_m3h":1}"#, #"{"ts":-5,"gas_m3h":1}"#, #"{"ts":1e400,"gas_m3h":1}"#,
        #"{"ts":\#(t0),"gas_total":-1}"#, #"{"ts":\#(t0),"cp_mpa":1e9}"#, #"{"ts":\#(t0 + 3600),"gas_m3h":1}"#,
    ]

    @Test("the scanner and the parser give the same readings and rejects, payload by payload")
    func sameAsTheParser() {
        for assetKey in [nil, "dev"] as [String?] {
            let rule = Fixture.jsonRule(assetKey: assetKey)
            var scanned = Fixture.decoder([rule]), parsed = scanned
            parsed.scansFlatPayloads = false
            var took = 0
            for (i, p) in Self.payloads.enumerated() {
                let at = Timestamp(microseconds: Fixture.received.microseconds + Int64(i) * 1_000_000)
                let a = decode(&scanned, p, at: at), b = decode(&parsed, p, at: at)
                #expect(a.readings == b.readings, "\(p)")
                #expect(a.rejects == b.rejects, "\(p)")
                took += a.readings.count
            }
            // Also with the asset in the payload.
            for p in [#"{"ts":\#(t0),"dev":"W-002","gas_m3h":1}"#, #"{"ts":\#(t0),"dev":1001,"gas_m3h":1}"#,
                      #"{"ts":\#(t0),"dev":"","gas_m3h":1}"#, #"{"ts":\#(t0),"dev":1.5,"gas_m3h":1}"#] {
                let a = decode(&scanned, p), b = decode(&parsed, p)
                #expect(a.readings == b.readings && a.rejects == b.rejects, "\(p)")
            }
            #expect(took > 10)  // the corpus does reach readings, not only rejects
        }
    }

    @Test("lines prepared on another thread (routes and flat payloads read first) decode to the same readings and rejects")
    func preparedLines() {
        let rules = [Fixture.jsonRule(), Fixture.valueRule()]
        let settings = PipelineSettings(rules: rules, register: Fixture.register)
        // Every payload of the corpus, under topics that a rule takes, that none takes, that the
        // template does not match, and a value rule's; one buffer, as a recording's chunk.
        let topics = [Fixture.topic, "cbm/qinshui/b3/W-002/telemetry", "other/x", "cbm/qinshui/b3/W-001/gas_rate", "cbm/a/b"]
        var bytes: [UInt8] = []
        var spans: [(topic: Range<Int>, payload: Range<Int>, at: Timestamp)] = []
        for (i, p) in (Self.payloads + ["12.5", "x"]).enumerated() {
            for (k, t) in topics.enumerated() {
                let t0 = bytes.count
                bytes += Array(t.utf8)
                let p0 = bytes.count
                bytes += Array(p.utf8)
                spans.append((t0..<p0, p0..<bytes.count, Timestamp(microseconds: Fixture.received.microseconds + Int64(i * 5 + k) * 1_000_000)))
            }
        }
        var plain = MessageBatch()
        let b = plain.add(buffer: bytes)
        for s in spans { plain.add(receivedAt: s.at, buffer: b, topic: s.topic, payload: s.payload) }
        var prepared = plain
        var preparer = LinePreparer(settings: settings)
        preparer.prepare(&prepared)
        func run(_ batch: MessageBatch) -> (readings: [Reading], rejects: [Reject]) {
            var d = Fixture.decoder(rules)
            var readings: [Reading] = [], rejects: [Reject] = []
            batch.forEach { d.decode($0, readings: &readings, rejects: &rejects) }
            return (readings, rejects)
        }
        let a = run(prepared), c = run(plain)
        #expect(a.readings == c.readings)
        #expect(a.rejects == c.rejects)
        #expect(a.readings.count > 20 && a.rejects.count > 100)  // both reached
        // And as the messages themselves, one by one.
        var d = Fixture.decoder(rules)
        var readings: [Reading] = [], rejects: [Reject] = []
        for i in 0..<plain.count { d.decode(plain.message(i), readings: &readings, rejects: &rejects) }
        #expect(readings == a.readings && rejects == a.rejects)
    }

    @Test("what it finds: the first of a repeated key; nothing from what it cannot take")
    func scanner() {
        let f = FlatJSON(keys: ["ts", "v", "w"])!
        var slots: [JSONValue?] = []
        func scan(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { f.scan($0, into: &slots) } }
        #expect(scan(#"{"v":1,"ts":"x","v":2,"z":null}"#))
        #expect(slots == [.string("x"), .number(1), nil])
        #expect(scan(#"{"w":null,"v":true}"#) && slots == [nil, .bool(true), .null])
        for s in [#"{"v":{"a":1}}"#, #"{"v":"\n"}"#, #"{"v\u0041":1}"#, #"{"v":1,}"#, #"[1]"#, #"{"v":1} 2"#, #"{"é":1}"#] {
            #expect(!scan(s), "\(s)")
        }
        #expect(FlatJSON(keys: ["débit"]) == nil)
        // A configured key with a quote in it is never taken from a payload's raw bytes: written
        // as it is, it is no JSON; escaped, it is the parser's.
        let quoted = FlatJSON(keys: [#"a"b"#, "v"])!
        var found: [JSONValue?] = []
        for s in [#"{"a"b":1,"v":2}"#, #"{"a\"b":1,"v":2}"#] {
            #expect(!Array(s.utf8).withUnsafeBytes { quoted.scan($0, into: &found) }, "\(s)")
        }
        #expect(Array(#"{"v":2,"a":1}"#.utf8).withUnsafeBytes { quoted.scan($0, into: &found) } && found == [nil, .number(2)])
        // The keys expected in order, and out of order, and one that only begins like the next.
        #expect(scan(#"{"ts":1,"v":2,"w":3}"#) && slots == [.number(1), .number(2), .number(3)])
        #expect(scan(#"{"w":3,"ts":1,"v":2}"#) && slots == [.number(1), .number(2), .number(3)])
        #expect(scan(#"{"tsx":1,"t":5,"vv":2,"w":3}"#) && slots == [nil, nil, .number(3)])
    }
}
