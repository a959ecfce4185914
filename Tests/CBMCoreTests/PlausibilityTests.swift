import Foundation
import Testing
@testable import CBMCore

/// A decoder for one JSON subscription and one value subscription over a small register.
private struct Field {
    static let register = AssetRegister([
        Asset(id: "W1", kind: .well, field: "F", block: "B", expectedGasM3d: 1_200),
        Asset(id: "W2", kind: .well, field: "F", block: "B"),
        Asset(id: "M1", kind: .delivery, sector: .power),
    ])

    static func mapping(_ unit: String, _ m: CBMCore.Measurement, rollover: Double? = nil) -> DecodeRule.ValueMapping {
        guard case .success(let u) = MeasurementUnit.parse(unit, for: m.dimension) else { fatalError(unit) }
        return DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u, meterBasis: .c20, reportingBasis: .c20), rollover: rollover)
    }

    static func rule(_ filter: String, _ template: String, _ format: DecodeRule.Format) -> DecodeRule {
        guard case .success(let f) = TopicFilter.parse(filter), case .success(let t) = TopicTemplate.parse(template) else { fatalError() }
        return DecodeRule(filter: f, template: t, format: format)
    }

    static let rules = [
        rule("t/+/json", "t/{asset}/json", .json(.init(timeKey: "ts", values: [
            (key: "gas_m3h", mapping: mapping("m3/h", .gasRate)),
            (key: "gas_total", mapping: mapping("m3", .gasTotal, rollover: 1e9)),
            (key: "water_m3d", mapping: mapping("m3/d", .waterRate)),
            (key: "cp_kpa", mapping: mapping("kPa", .casingPressure)),
        ]))),
        rule("t/+/+", "t/{asset}/{measurement}", .value(.init(values: [
            "gas_rate": mapping("m3/h", .gasRate), "gas_total": mapping("m3", .gasTotal),
        ]))),
    ]

    var decoder = TelemetryDecoder(rules: Field.rules, register: Field.register, limits: DecodeLimits())
    var readings: [Reading] = []
    var rejects: [Reject] = []

    /// Decodes a message received at `t` seconds after 2026-11-28T00:00:00Z.
    mutating func send(_ topic: String, _ payload: String, at t: Int64 = 0) {
        decoder.decode(InboundMessage(topic: topic, payload: Array(payload.utf8), receivedAt: ts(Ref.nov28 + t)),
                       readings: &readings, rejects: &rejects)
    }

    /// Sends `{"ts": t, key: value}` for asset `asset`.
    mutating func json(_ asset: String, _ key: String, _ value: String, at t: Int64 = 0) {
        send("t/\(asset)/json", #"{"ts":\#(Ref.nov28 + t),"\#(key)":\#(value)}"#, at: t)
    }

    mutating func take() -> (readings: [Reading], rejects: [Reject]) {
        defer { readings = []; rejects = [] }
        return (readings, rejects)
    }
}

@Suite("Absurd values never reach the totals")
struct PlausibilityTests {
    @Test("the finite check runs after conversion: 1e307 m3/h is not a rate")
    func finiteAfterConversion() {
        var f = Field()
        f.json("W2", "gas_m3h", "1e307")
        let out = f.take()
        #expect(out.readings.isEmpty)
        #expect(out.rejects.map(\.reason.code) == ["not_finite"])
        #expect(out.rejects.first?.reason.description == "value at gas_m3h is not finite: 1e+307, which is inf m3/d")
    }

    @Test("no negative rate: -100 m3/h is rejected, not -2,400 m3/d of production")
    func negativeRate() {
        var f = Field()
        f.json("W1", "gas_m3h", "-100")
        f.json("W1", "water_m3d", "-1")
        f.send("t/W1/gas_rate", "-3")
        let out = f.take()
        #expect(out.readings.isEmpty)
        #expect(out.rejects.map(\.reason) == [
            .implausibleValue(path: "gas_m3h", value: -2_400, unit: "m3/d", limit: 0, above: false, key: "plausibility.gas_rate.min"),
            .implausibleValue(path: "water_m3d", value: -1, unit: "m3/d", limit: 0, above: false, key: "plausibility.water_rate.min"),
            .implausibleValue(path: "payload", value: -72, unit: "m3/d", limit: 0, above: false, key: "plausibility.gas_rate.min"),
        ])
    }

    @Test("a well's rate is bounded by its expected_gas_m3d; other assets by gas_rate.max; a counter is never negative")
    func upperBounds() {
        var f = Field()
        f.json("W1", "gas_m3h", "1000")     // 24,000 m3/d: 20 × 1,200, still plausible
        f.json("W1", "gas_m3h", "1001", at: 1)
        f.json("W2", "gas_m3h", "400000", at: 2)  // no expected figure: 9.6e6 m3/d under 1e7
        f.json("M1", "gas_m3h", "500000", at: 3)  // 1.2e7 m3/d
        f.json("W2", "gas_total", "-5", at: 4)
        f.json("W2", "cp_kpa", "-150", at: 5)
        let out = f.take()
        #expect(out.readings.map(\.value) == [24_000, 9_600_000])
        #expect(out.rejects.map(\.reason) == [
            .implausibleValue(path: "gas_m3h", value: 24_024, unit: "m3/d", limit: 24_000, above: true, key: "plausibility.well_rate_factor"),
            .implausibleValue(path: "gas_m3h", value: 12_000_000, unit: "m3/d", limit: 1e7, above: true, key: "plausibility.gas_rate.max"),
            .implausibleValue(path: "gas_total", value: -5, unit: "m3", limit: 0, above: false, key: "plausibility.gas_total.min"),
            .implausibleValue(path: "cp_kpa", value: -150, unit: "kPa", limit: -101.325, above: false, key: "plausibility.casing_pressure.min"),
        ])
        // Configured bounds replace the defaults.
        var limits = DecodeLimits()
        limits.plausibility.wellRateFactor = nil
        limits.plausibility.bounds[.casingPressure] = Plausibility.Bounds(min: -500)
        var g = Field()
        g.decoder = TelemetryDecoder(rules: Field.rules, register: Field.register, limits: limits)
        g.json("W1", "gas_m3h", "1001")
        g.json("W1", "cp_kpa", "-150")
        #expect(g.take().rejects.isEmpty)
    }

    @Test("hexadecimal and other non-decimal forms are not numbers", arguments: [#""0x1p4""#, #""0x10""#, #""1e""#, #"".""#, #""+""#, #""1.2.3""#])
    func notDecimal(text: String) {
        var f = Field()
        f.json("W1", "gas_m3h", text)
        #expect(f.take().rejects.map(\.reason.code) == ["not_a_number"])
    }

    @Test("value payloads and JSON: decimal forms are numbers, 0x10 is not")
    func decimalForms() {
        var f = Field()
        for (i, text) in ["12", "+12", "12.", ".5", "1.5e2", "-0", "1E+2"].enumerated() { f.send("t/W1/gas_rate", text, at: Int64(i)) }
        #expect(f.take().readings.map(\.value) == [288, 288, 288, 12, 3_600, 0, 2_400])
        f.send("t/W1/gas_rate", "0x10")
        f.send("t/W1/gas_rate", "0x1p4")
        f.json("W1", "gas_m3h", "0x10")
        #expect(f.take().rejects.map(\.reason.code) == ["not_a_number", "not_a_number", "not_json"])
        #expect(DecimalNumber.parse("0x1p4") == nil && DecimalNumber.parse("12") == 12 && DecimalNumber.parse("inf") == .infinity)
    }

    @Test("a totalizer increase implying an impossible rate is rejected; the counter goes on from the reading before")
    func totalizerSpike() {
        var f = Field()
        f.json("W1", "gas_total", "1000")
        f.json("W1", "gas_total", "1e12", at: 60)
        f.json("W1", "gas_total", "1050", at: 120)
        let out = f.take()
        #expect(out.readings.map(\.value) == [1_000, 1_050])
        // W1 may make 24,000 m3/d: over a minute, judged over at least an hour, 1,000 m3.
        #expect(out.rejects.map(\.reason) == [
            .implausibleIncrease(path: "gas_total", from: 1_000, to: 1e12, spanUS: 60_000_000, counted: 1e12 - 1_000, allowed: 1_000,
                                 key: "plausibility.well_rate_factor"),
        ])
        // The reading carries the bound, for the aggregator.
        #expect(out.readings.first?.counter == CounterRules(rollover: 1e9, maxRateM3d: 24_000))
    }

    @Test("a counter that jumps and holds its new level (a meter exchanged) is taken from the second reading on")
    func totalizerNewLevel() {
        var f = Field()
        f.json("W1", "gas_total", "1000")
        f.json("W1", "gas_total", "5000000", at: 60)
        f.json("W1", "gas_total", "5000010", at: 120)
        f.json("W1", "gas_total", "5000020", at: 180)
        let out = f.take()
        #expect(out.readings.map(\.value) == [1_000, 5_000_010, 5_000_020])
        #expect(out.rejects.map(\.reason.code) == ["implausible_increase"])
        // The aggregator does not count the interval across the jump.
        var events: [EventRecord] = []
        var a = AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)
        a.add(out.readings, events: &events)
        var hours: [AssetHour] = []
        a.finish(into: &hours)
        #expect(hours.map(\.gas.volume) == [10])
        #expect(events.map(\.kind) == [.totalizerJump])
    }

    @Test("a fall too large for a correction (neither a reset nor a rollover) is a glitch: rejected, and the day stays right")
    func stepBackGlitch() throws {
        var f = Field()
        // W1 (1,200 m3/d expected, at most 24,000 m3/d) reads 3,000,000 + 50 m3 an hour; one reading is 1,500,000.
        for k in 0...24 { f.json("W1", "gas_total", k == 10 ? "1500000" : "\(3_000_000 + 50 * k)", at: Int64(k) * 3_600) }
        let out = f.take()
        #expect(out.rejects.map(\.reason.code) == ["implausible_step_back"])
        #expect(out.rejects.first?.reason.description.contains("a step back of 1500450 m3, more than the 24000 m3") == true)
        var h = AggregationHarness()
        h.register = Field.register
        let r = h.run([out.readings])
        let day = try #require(r.find(.day, "2026-11-28T08:00:00+08:00", .well, "W1"))
        #expect(abs(day.gasM3! - 1_200) < 1e-6)
        // The aggregator judges the same way when the glitch arrives out of order: the intervals on
        // either side of it are missing data (volume and coverage), never negative volume.
        var late = AggregationHarness()
        late.register = Field.register
        let glitch = Reading(time: ts(Ref.nov28 + 10 * 3_600 + 60), asset: "W1", measurement: .gasTotal, value: 1_500_000,
                             counter: out.readings[0].counter)
        let l = late.run([out.readings, [glitch]])
        #expect(l.events.map(\.kind) == [.totalizerJump, .totalizerJump])
        let lateDay = try #require(l.find(.day, "2026-11-28T08:00:00+08:00", .well, "W1"))
        #expect(abs(lateDay.gasM3! - 1_100) < 1e-6)  // the two hours between 09:00 and 11:00 (10:00 was refused)
        #expect(abs(lateDay.coverage - 22.0 / 24) < 1e-9)
    }

    @Test("step-backs and resets are never judged as rates")
    func decreasesAreNotRates() {
        var f = Field()
        f.json("W1", "gas_total", "2989648.33")
        f.json("W1", "gas_total", "2989190.49", at: 1)
        f.json("W1", "gas_total", "12", at: 2)
        #expect(f.take().rejects.isEmpty)
    }

    @Test("a rejected reading never reaches a roll-up: the hour of the well, block, field and all stay finite")
    func nothingPoisonsARollup() throws {
        var f = Field()
        f.json("W1", "gas_m3h", "50")
        f.json("W1", "gas_m3h", "1e307", at: 60)
        f.json("W1", "gas_m3h", "-100", at: 120)
        f.json("W1", "gas_m3h", "50", at: 180)
        let out = f.take()
        #expect(out.rejects.count == 2)
        var h = AggregationHarness()
        h.register = Field.register
        let r = h.run([out.readings])
        for (scope, id) in [(TotalsRecord.Scope.well, "W1"), (.block, "B"), (.field, "F"), (.all, "all")] {
            let hour = try #require(r.find(.hour, "2026-11-28T08:00:00+08:00", scope, id))
            #expect(abs(hour.gasM3! - 1_200.0 * 180 / 86_400) < 1e-9)
        }
    }
}

@Suite("A rejected message never moves time")
struct RejectedTimeTests {
    @Test("a wholly rejected message leaves the watermark; one with a good value moves it")
    func rejectsDoNotMoveTheWatermark() {
        var f = Field()
        f.json("W1", "gas_m3h", "50")
        let w = f.decoder.watermark
        // A junk message received an hour later, and one with only a bad value.
        f.send("t/W1/json", "{oops", at: 3_600)
        f.json("W1", "gas_m3h", "\"ERR\"", at: 3_601)
        f.send("t/W9/gas_rate", "5", at: 3_602)  // an unknown asset
        #expect(f.decoder.watermark == w)
        #expect(f.take().rejects.count == 3)
        // Good and bad values together: the message moves time.
        f.send("t/W1/json", #"{"ts":\#(Ref.nov28 + 60),"gas_m3h":50,"water_m3d":"x"}"#, at: 120)
        #expect(f.decoder.watermark == ts(Ref.nov28 + 120))
    }

    /// Messages through a decode step, one at a time; the rejects' codes and the readings' count.
    static func step(_ messages: [(topic: String, payload: String, at: Int64)], ownClock: Bool = false)
        -> (codes: [String], readings: Int, watermark: Timestamp)
    {
        var step = DecodeStep(decoder: TelemetryDecoder(rules: Field.rules, register: Field.register, limits: DecodeLimits()),
                              partitions: 1, settings: AggregationSettings(), silenceAfterUS: nil)
        var codes: [String] = [], readings = 0
        for m in messages {
            _ = step.take(InboundMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: ts(Ref.nov28 + m.at), ownClock: ownClock))
            let h = step.handOn()
            codes += h.rejects.map(\.reason.code)
            readings += h.readingCount
        }
        step.finish()
        let h = step.handOn()
        return (codes + h.rejects.map(\.reason.code), readings + h.readingCount, h.watermark)
    }

    static func rate(_ t: Int64, _ topic: String = "t/W1/gas_rate") -> (topic: String, payload: String, at: Int64) { (topic, "50", t) }

    @Test("a receive time far after the latest time seen waits for the next message: a damaged line is rejected, a real gap taken")
    func receiveTimeJump() {
        let year2100: Int64 = 4_102_444_800 - Ref.nov28
        // One line stamped 2100 in a 2026 recording; two of them in a row; a 2-day jump (damage
        // within the horizon would close two days of windows); and one before 1970.
        let damaged = Self.step([Self.rate(0), Self.rate(year2100), Self.rate(60), Self.rate(120)])
        #expect(damaged.codes == ["receive_time_jump"] && damaged.readings == 3 && damaged.watermark == ts(Ref.nov28 + 120))
        let twoDays = Self.step([Self.rate(0), Self.rate(2 * 86_400), Self.rate(60), Self.rate(120)])
        #expect(twoDays.codes == ["receive_time_jump"] && twoDays.watermark == ts(Ref.nov28 + 120))
        let early = Self.step([Self.rate(0), Self.rate(-Ref.nov28), Self.rate(60)])
        #expect(early.codes == ["bad_receive_time"] && early.readings == 2)
        // A real gap of ten days: the next message follows the first one after it, so both count.
        let gap = Self.step([Self.rate(0), Self.rate(10 * 86_400), Self.rate(10 * 86_400 + 60)])
        #expect(gap.codes.isEmpty && gap.readings == 3 && gap.watermark == ts(Ref.nov28 + 10 * 86_400 + 60))
        // A jump as the last line has nothing to follow it: rejected.
        let last = Self.step([Self.rate(0), Self.rate(60), Self.rate(year2100)])
        #expect(last.codes == ["receive_time_jump"] && last.readings == 2)
        // The daemon's own clock (live, its journal) is never judged so.
        let own = Self.step([Self.rate(0), Self.rate(40 * 86_400)], ownClock: true)
        #expect(own.codes.isEmpty && own.readings == 2)
        // A value payload's time is its receive time: two days behind the watermark it is taken
        // (limits.max_past is 7 days).
        let behind = Self.step([Self.rate(2 * 86_400), (topic: "t/W1/json", payload: #"{"ts":\#(Ref.nov28 + 2 * 86_400),"gas_m3h":1}"#, at: 2 * 86_400 + 1),
                                Self.rate(0)])
        #expect(behind.codes.isEmpty && behind.readings == 3)
    }

    @Test("times beyond 9998-12-31 are refused, event and receive times alike")
    func endOfTime() {
        var f = Field()
        let late = TelemetryDecoder.endOfTime.microseconds / 1_000_000 - Ref.nov28
        f.send("t/W1/gas_rate", "5", at: late)
        f.send("t/W1/json", #"{"ts":"9999-06-01T00:00:00Z","gas_m3h":5}"#, at: 0)
        f.send("t/W1/json", #"{"ts":"9999-12-31T23:59:59+08:00","gas_m3h":5}"#, at: 0)
        let out = f.take()
        #expect(out.readings.isEmpty)
        #expect(out.rejects.map(\.reason.code) == ["bad_receive_time", "bad_time", "bad_time"])
        #expect(out.rejects[1].reason.description.contains("after 9998-12-31"))
        // Formatting never wraps a year past 9999 into four digits.
        #expect(RFC3339.format(Timestamp(seconds: 253_402_300_800), offsetSeconds: 0) == "10000-01-01T00:00:00Z")
    }
}
