import Foundation
import Testing
@testable import CBMCore

/// Runs readings through the real partition steps and roll-up (``StepDriver``), routed as the
/// pipeline routes them: after each batch the watermark (the latest time seen) goes to every
/// partition; at the end everything is closed.
struct AggregationHarness {
    var settings = AggregationSettings()
    var factors = Factors()
    var register = AggregationHarness.field

    static let field = AssetRegister([
        Asset(id: "W01", kind: .well, field: "F1", block: "B1", expectedGasM3d: 1200),
        Asset(id: "W02", kind: .well, field: "F1", block: "B1", expectedGasM3d: 800),
        Asset(id: "W03", kind: .well, field: "F1", block: "B2"),
        Asset(id: "W04", kind: .well, field: "F2", block: "B3"),
        Asset(id: "M01", kind: .delivery, sector: .power),
        Asset(id: "M02", kind: .delivery, sector: .cityGas),
        Asset(id: "FL1", kind: .flare, field: "F1"),
    ])

    struct Result {
        var records: [TotalsRecord] = []
        var events: [EventRecord] = []
        /// The highest revision of each record.
        var final: [TotalsRecord.Key: TotalsRecord] { finalRecords(records) }
        func find(_ window: WindowKind, _ start: String, _ scope: TotalsRecord.Scope, _ id: String) -> TotalsRecord? {
            final[TotalsRecord.Key(window: window, start: ts(start), scope: scope, id: id)]
        }
    }

    func run(_ batches: [[Reading]], partitions: Int = 1, extraWatermarks: [Int: Timestamp] = [:]) -> Result {
        var driver = StepDriver(settings: PipelineSettings(aggregation: settings, partitions: partitions, register: register, factors: factors))
        var watermark = Timestamp(microseconds: .min)
        for (n, batch) in batches.enumerated() {
            for r in batch where r.time > watermark { watermark = r.time }
            if let w = extraWatermarks[n], w > watermark { watermark = w }
            driver.take(readings: batch, watermark: watermark)
        }
        driver.end(.close)
        return Result(records: driver.totals, events: driver.events)
    }
}

func ts(_ text: String) -> Timestamp { try! RFC3339.parse(text).get() }

/// The highest revision of each totals record.
func finalRecords(_ records: [TotalsRecord]) -> [TotalsRecord.Key: TotalsRecord] {
    var out: [TotalsRecord.Key: TotalsRecord] = [:]
    for r in records where (out[r.key]?.revision ?? 0) < r.revision { out[r.key] = r }
    return out
}

func reading(_ asset: String, _ m: CBMCore.Measurement, _ time: String, _ value: Double, rollover: Double? = nil) -> Reading {
    Reading(time: ts(time), asset: asset, measurement: m, value: value, rollover: rollover)
}

@Suite("Aggregation: totalizers")
struct TotalizerTests {
    let h = AggregationHarness()

    @Test("an interval across an hour and a gas-day boundary is split in proportion to time")
    func splitAcrossHourAndDay() throws {
        let r = h.run([[
            reading("W01", .gasTotal, "2026-11-28T07:30:00+08:00", 1000),
            reading("W01", .gasTotal, "2026-11-28T08:30:00+08:00", 2200),
        ]])
        let h07 = try #require(r.find(.hour, "2026-11-28T07:00:00+08:00", .well, "W01"))
        let h08 = try #require(r.find(.hour, "2026-11-28T08:00:00+08:00", .well, "W01"))
        #expect(h07.gasM3 == 600)
        #expect(h08.gasM3 == 600)
        #expect(h07.coverage == 0.5)
        #expect(h07.flowSeconds == 1800)
        #expect(h07.samples == 1 && h08.samples == 1)
        #expect(h07.estimated == false)
        #expect(h07.revision == 1)
        // The gas day starts at 08:00: each side of it gets its part.
        #expect(r.find(.day, "2026-11-27T08:00:00+08:00", .well, "W01")?.gasM3 == 600)
        #expect(r.find(.day, "2026-11-28T08:00:00+08:00", .well, "W01")?.gasM3 == 600)
        // Roll-ups: W02 is silent and counts 0 in the block's coverage.
        let block = try #require(r.find(.hour, "2026-11-28T07:00:00+08:00", .block, "B1"))
        #expect(block.gasM3 == 600)
        #expect(block.coverage == 0.25)
        #expect(r.find(.hour, "2026-11-28T07:00:00+08:00", .field, "F1")?.gasM3 == 600)
        let all = try #require(r.find(.hour, "2026-11-28T07:00:00+08:00", .all, "all"))
        #expect(all.gasM3 == 600)
        #expect(all.utilisedM3 == 0)
        #expect(all.utilisationRate == 0)
        #expect(all.hasUtilisationRate)
    }

    @Test("a decrease is a rollover with a rollover value, a reset without; both are events")
    func rolloverAndReset() throws {
        let r = h.run([[
            reading("W01", .gasTotal, "2026-11-28T10:00:00+08:00", 999_000, rollover: 1_000_000),
            reading("W01", .gasTotal, "2026-11-28T10:30:00+08:00", 1_000, rollover: 1_000_000),
            reading("W02", .gasTotal, "2026-11-28T10:00:00+08:00", 5_000),
            reading("W02", .gasTotal, "2026-11-28T10:30:00+08:00", 300),
        ]])
        #expect(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")?.gasM3 == 2_000)
        #expect(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W02")?.gasM3 == 300)
        #expect(r.find(.hour, "2026-11-28T10:00:00+08:00", .block, "B1")?.gasM3 == 2_300)
        #expect(r.events.map(\.kind) == [.totalizerRollover, .totalizerReset])
        #expect(r.events.map(\.id) == ["W01", "W02"])
        #expect(r.events[0].time == ts("2026-11-28T10:30:00+08:00"))
        #expect(r.events[1].detail.contains("reset"))
    }

    @Test("a totalizer is exact across a gap, split by time, and the hour before is corrected when the gap closes")
    func acrossAGap() throws {
        let r = h.run([
            [reading("W01", .gasTotal, "2026-11-28T10:30:00+08:00", 0)],
            // The field is quiet for two hours; other wells move the watermark on.
            [reading("W02", .gasRate, "2026-11-28T12:20:00+08:00", 100)],
            [reading("W01", .gasTotal, "2026-11-28T12:30:00+08:00", 1200)],
        ])
        #expect(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")?.gasM3 == 300)
        #expect(r.find(.hour, "2026-11-28T11:00:00+08:00", .well, "W01")?.gasM3 == 600)
        #expect(r.find(.hour, "2026-11-28T11:00:00+08:00", .well, "W01")?.coverage == 1)
        #expect(r.find(.hour, "2026-11-28T12:00:00+08:00", .well, "W01")?.gasM3 == 300)
        // Hour 10 closed at 11:05 with only half an hour known; the reading at 12:30 corrected it.
        #expect(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")?.revision == 2)
    }

    @Test("duplicates count once")
    func duplicates() throws {
        let a = reading("W01", .gasTotal, "2026-11-28T10:00:00+08:00", 100)
        let b = reading("W01", .gasTotal, "2026-11-28T10:30:00+08:00", 400)
        let r = h.run([[a, b, a], [b, a, b]])
        let hour = try #require(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01"))
        #expect(hour.gasM3 == 300)
        #expect(hour.samples == 2)
        #expect(hour.revision == 1)
    }

    @Test("late data re-emits the window and its roll-ups with the full corrected figures and revision 2")
    func lateDataRevision() throws {
        let r = h.run([
            [reading("W01", .gasTotal, "2026-11-28T08:30:00+08:00", 0),
             reading("W01", .gasTotal, "2026-11-28T09:30:00+08:00", 600),
             reading("W02", .gasTotal, "2026-11-28T08:00:00+08:00", 0),
             reading("W02", .gasTotal, "2026-11-28T10:00:00+08:00", 240)],
            // The watermark passes 10:05: hours 08 and 09 close.
            [reading("W03", .gasRate, "2026-11-28T10:20:00+08:00", 0)],
            // A reading W01's RTU had buffered.
            [reading("W01", .gasTotal, "2026-11-28T09:00:00+08:00", 100)],
        ])
        let first = r.records.filter { $0.window == .hour && $0.scope == .well && $0.id == "W01" && $0.span.start == ts("2026-11-28T08:00:00+08:00") }
        #expect(first.map(\.revision) == [1, 2])
        #expect(first.map(\.gasM3) == [300, 100])
        #expect(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01")?.gasM3 == 500)
        #expect(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01")?.revision == 2)
        // The block's correction carries the full figures: W01's 100 plus W02's 120.
        let block = r.records.filter { $0.window == .hour && $0.scope == .block && $0.id == "B1" && $0.span.start == ts("2026-11-28T08:00:00+08:00") }
        #expect(block.map(\.gasM3) == [420, 220])
        #expect(block.map(\.revision) == [1, 2])
        // W02 did not change: it is not re-emitted; neither is the untouched block B2.
        #expect(r.records.filter { $0.scope == .well && $0.id == "W02" && $0.window == .hour && $0.span.start == ts("2026-11-28T08:00:00+08:00") }.count == 1)
        #expect(r.records.filter { $0.scope == .block && $0.id == "B2" && $0.window == .hour && $0.span.start == ts("2026-11-28T08:00:00+08:00") }.count == 1)
        // The gas day (still open when the correction came) is emitted once, correct.
        #expect(r.find(.day, "2026-11-28T08:00:00+08:00", .well, "W01")?.gasM3 == 600)
        #expect(r.find(.day, "2026-11-28T08:00:00+08:00", .well, "W01")?.revision == 1)
    }
}

@Suite("Aggregation: rates")
struct RateTests {
    let h = AggregationHarness()

    @Test("rates integrate only across gaps up to max_gap; a longer gap is missing, not filled")
    func gaps() throws {
        let r = h.run([[
            reading("W01", .gasRate, "2026-11-28T10:00:00+08:00", 2400),
            reading("W01", .gasRate, "2026-11-28T10:10:00+08:00", 2400),
            // 30 minutes without data: longer than max_gap (15m).
            reading("W01", .gasRate, "2026-11-28T10:40:00+08:00", 2400),
            reading("W01", .gasRate, "2026-11-28T10:50:00+08:00", 2400),
        ]])
        let hour = try #require(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01"))
        #expect(abs(hour.gasM3! - 2400.0 / 1440 * 20) < 1e-9)
        #expect(abs(hour.coverage - 20.0 / 60) < 1e-12)
        #expect(hour.estimated)
        #expect(hour.samples == 4)
        let r2 = h.run([[
            reading("W01", .gasRate, "2026-11-28T10:00:00+08:00", 2400),
            reading("W01", .gasRate, "2026-11-28T10:14:00+08:00", 2400),
        ]])
        #expect(abs(r2.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")!.gasM3! - 2400.0 / 1440 * 14) < 1e-9)
    }

    @Test("trapezoid integrates the line between rates, also across an hour boundary; step holds the first rate")
    func trapezoidAndStep() throws {
        let readings = [
            reading("W01", .gasRate, "2026-11-28T09:50:00+08:00", 0),
            reading("W01", .gasRate, "2026-11-28T10:00:00+08:00", 1440),
            reading("W01", .gasRate, "2026-11-28T10:10:00+08:00", 1440),
        ]
        let r = h.run([readings])
        // 0 → 1440 m3/d over 10 minutes: 720 m3/d on average = 5 m3.
        #expect(abs(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01")!.gasM3! - 5) < 1e-9)
        #expect(abs(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")!.gasM3! - 10) < 1e-9)
        var step = AggregationHarness()
        step.settings.integration = .step
        let s = step.run([readings])
        #expect(s.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01")!.gasM3! == 0)
        #expect(s.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01")!.flowSeconds == 0)
        #expect(abs(s.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01")!.gasM3! - 10) < 1e-9)
        // A rate that crosses an hour: 1440 m3/d from 10:55 to 11:05 puts 5 m3 in each hour.
        let x = h.run([[reading("W02", .gasRate, "2026-11-28T10:55:00+08:00", 1440),
                        reading("W02", .gasRate, "2026-11-28T11:05:00+08:00", 1440)]])
        #expect(abs(x.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W02")!.gasM3! - 5) < 1e-9)
        #expect(abs(x.find(.hour, "2026-11-28T11:00:00+08:00", .well, "W02")!.gasM3! - 5) < 1e-9)
    }

    @Test("where consecutive totalizer readings cover the time, the totalizer wins over the rate")
    func totalizerWins() throws {
        let r = h.run([[
            reading("W01", .gasRate, "2026-11-28T10:00:00+08:00", 99_999),
            reading("W01", .gasTotal, "2026-11-28T10:00:00+08:00", 0),
            reading("W01", .gasRate, "2026-11-28T10:30:00+08:00", 99_999),
            reading("W01", .gasTotal, "2026-11-28T10:30:00+08:00", 25),
        ]])
        let hour = try #require(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W01"))
        #expect(hour.gasM3 == 25)
        #expect(hour.estimated == false)
    }
}

@Suite("Aggregation: windows")
struct WindowTests {
    @Test("gas days start at 08:00 and gas months at 08:00 on the 1st, in Asia/Shanghai")
    func shanghai() {
        var c = WindowCalendar(zone: TimeZone(identifier: "Asia/Shanghai")!, dayStartMinutes: 480)
        let t = ts("2026-12-01T07:59:59+08:00")
        #expect(c.day(containing: t) == WindowSpan(start: ts("2026-11-30T08:00:00+08:00"), end: ts("2026-12-01T08:00:00+08:00")))
        #expect(c.month(containing: t) == WindowSpan(start: ts("2026-11-01T08:00:00+08:00"), end: ts("2026-12-01T08:00:00+08:00")))
        let u = ts("2026-12-01T08:00:00+08:00")
        #expect(c.month(containing: u) == WindowSpan(start: ts("2026-12-01T08:00:00+08:00"), end: ts("2027-01-01T08:00:00+08:00")))
        #expect(c.hour(containing: ts("2026-12-01T08:59:59.999+08:00")) == WindowSpan(start: u, end: ts("2026-12-01T09:00:00+08:00")))
        // February of a leap year.
        #expect(c.month(containing: ts("2028-02-29T12:00:00+08:00")).end == ts("2028-03-01T08:00:00+08:00"))
    }

    @Test("gas days of 23 and 25 hours across daylight saving in Europe/Oslo")
    func oslo() throws {
        var c = WindowCalendar(zone: TimeZone(identifier: "Europe/Oslo")!, dayStartMinutes: 6 * 60)
        let spring = c.day(containing: ts("2026-03-29T01:00:00+01:00"))
        #expect(spring == WindowSpan(start: ts("2026-03-28T06:00:00+01:00"), end: ts("2026-03-29T06:00:00+02:00")))
        #expect(spring.length == 23 * 3_600_000_000)
        let autumn = c.day(containing: ts("2026-10-25T02:30:00+01:00"))
        #expect(autumn == WindowSpan(start: ts("2026-10-24T06:00:00+02:00"), end: ts("2026-10-25T06:00:00+01:00")))
        #expect(autumn.length == 25 * 3_600_000_000)
        // The repeated hour 02:00–03:00 is two distinct hours.
        let first = c.hour(containing: ts("2026-10-25T02:30:00+02:00"))
        let second = c.hour(containing: ts("2026-10-25T02:30:00+01:00"))
        #expect(first.end == second.start)

        var h = AggregationHarness()
        h.settings.timeZone = TimeZone(identifier: "Europe/Oslo")!
        h.settings.dayStartMinutes = 6 * 60
        // A constant 2400 m3/d, a reading every 10 minutes through both days.
        var readings: [Reading] = []
        for start in [spring.start, autumn.start] {
            var t = start
            while t <= start + 26 * 3_600_000_000 {
                readings.append(Reading(time: t, asset: "W01", measurement: .gasRate, value: 2400))
                t = t + 600_000_000
            }
        }
        let r = h.run([readings])
        let springDay = try #require(r.final[TotalsRecord.Key(window: .day, start: spring.start, scope: .well, id: "W01")])
        let autumnDay = try #require(r.final[TotalsRecord.Key(window: .day, start: autumn.start, scope: .well, id: "W01")])
        #expect(abs(springDay.gasM3! - 2300) < 1e-6)
        #expect(abs(autumnDay.gasM3! - 2500) < 1e-6)
        #expect(springDay.coverage == 1 && autumnDay.coverage == 1)
        let hoursInSpringDay = r.final.values.filter { $0.window == .hour && $0.id == "W01" && spring.contains($0.span.start) }
        #expect(hoursInSpringDay.count == 23)
        #expect(r.final.values.filter { $0.window == .hour && $0.id == "W01" && autumn.contains($0.span.start) }.count == 25)
    }
}

@Suite("Aggregation: utilisation and the seed's figures")
struct UtilisationTests {
    @Test("7.89 × 10⁸ m³ utilised → 946,800 t standard coal and 11,835,000 t CO₂e with the default factors")
    func seedCheck() throws {
        let h = AggregationHarness()
        let r = h.run([[
            reading("M01", .gasTotal, "2026-11-01T08:00:00+08:00", 0),
            reading("M01", .gasTotal, "2026-12-01T08:00:00+08:00", 7.89e8),
            reading("W01", .gasTotal, "2026-11-01T08:00:00+08:00", 0),
            reading("W01", .gasTotal, "2026-12-01T08:00:00+08:00", 1.0e9),
            reading("FL1", .gasTotal, "2026-11-01T08:00:00+08:00", 0),
            reading("FL1", .gasTotal, "2026-12-01T08:00:00+08:00", 2.0e7),
        ]])
        let all = try #require(r.find(.month, "2026-11-01T08:00:00+08:00", .all, "all"))
        #expect(all.span.end == ts("2026-12-01T08:00:00+08:00"))
        #expect(abs(all.utilisedM3! - 7.89e8) < 1e-3)
        #expect(abs(all.coalT! - 946_800) < 1e-6)
        #expect(abs(all.co2eT! - 11_835_000) < 1e-6)
        #expect(abs(all.utilisationRate! - 0.789) < 1e-12)
        #expect(abs(all.flaredM3! - 2.0e7) < 1e-3)
        #expect(abs(all.gasM3! - 1.0e9) < 1e-3)
        let sector = try #require(r.find(.month, "2026-11-01T08:00:00+08:00", .sector, "power"))
        #expect(abs(sector.coalT! - 946_800) < 1e-6)
        #expect(r.find(.month, "2026-11-01T08:00:00+08:00", .meter, "M01")?.coalT == nil)
        #expect(r.find(.month, "2026-11-01T08:00:00+08:00", .flare, "FL1")?.flaredM3 != nil)
        // Nothing produced: the rate is null, not 0 and not infinite.
        let none = h.run([[reading("M02", .gasTotal, "2026-11-28T10:00:00+08:00", 0),
                           reading("M02", .gasTotal, "2026-11-28T10:30:00+08:00", 50)]])
        let hour = try #require(none.find(.hour, "2026-11-28T10:00:00+08:00", .all, "all"))
        #expect(hour.utilisationRate == nil && hour.hasUtilisationRate)
        #expect(hour.utilisedM3 == 50)
    }

    @Test("unit and basis conversions reach the totals: m3/d, 10^4 m3/d, scf, a 0 °C meter reported at 20 °C")
    func conversions() throws {
        func mapping(_ m: CBMCore.Measurement, _ unit: String, basis: VolumeBasis = .c20) -> DecodeRule.ValueMapping {
            let u = try! MeasurementUnit.parse(unit, for: m.dimension).get()
            return DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u, meterBasis: basis, reportingBasis: .c20))
        }
        let rule = DecodeRule(
            filter: try TopicFilter.parse("f/+/+").get(), template: try TopicTemplate.parse("f/{asset}/t").get(),
            format: .json(.init(timeKey: "ts", values: [
                (key: "q_m3d", mapping: mapping(.gasRate, "m3/d")),
                (key: "q_e4", mapping: mapping(.gasRate, "1e4m3/d")),
                (key: "v_scf", mapping: mapping(.gasTotal, "scf")),
                (key: "v_0c", mapping: mapping(.gasTotal, "m3", basis: .c0)),
            ])))
        var decoder = TelemetryDecoder(rules: [rule], register: AggregationHarness.field, limits: DecodeLimits())
        var readings: [Reading] = []
        var rejects: [Reject] = []
        let t0 = ts("2026-11-28T10:00:00+08:00")
        for (asset, key, first, second) in [("W01", "q_m3d", 2400.0, 2400.0), ("W02", "q_e4", 0.24, 0.24),
                                            ("W03", "v_scf", 0, 35_314.666_721_488_59), ("W04", "v_0c", 0, 1000)] {
            for (i, v) in [first, second].enumerated() {
                let t = t0.microseconds / 1_000_000 + Int64(i) * 3600
                decoder.decode(InboundMessage(topic: "f/\(asset)/t", payload: Array(#"{"ts":\#(t),"\#(key)":\#(v)}"#.utf8),
                                              receivedAt: Timestamp(seconds: t)), readings: &readings, rejects: &rejects)
            }
        }
        #expect(rejects.isEmpty)
        var h = AggregationHarness()
        h.settings.maxGapUS = 2 * 3_600_000_000  // the rates here are an hour apart
        let r = h.run([readings])
        func gas(_ id: String) -> Double { r.find(.hour, "2026-11-28T10:00:00+08:00", .well, id)!.gasM3! }
        #expect(abs(gas("W01") - 100) < 1e-9)  // 2400 m3/d for an hour
        #expect(abs(gas("W02") - 100) < 1e-9)  // 0.24 × 10^4 m3/d for an hour
        // 35,314.667 scf at 60 °F = 1000 m3 at 60 °F = 1000 × 293.15 / 288.706 m3 at 20 °C
        #expect(abs(gas("W03") - 1000 * 293.15 / 288.705_555_555_555_6) < 1e-6)
        // 1000 m3 at 0 °C = 1000 × 293.15 / 273.15 m3 at 20 °C = 1073.22
        #expect(abs(gas("W04") - 1073.219_842_577_338) < 1e-6)
    }
}

@Suite("Aggregation: latest view")
struct LatestTests {
    @Test("the running figures of open windows have revision 0 and include the closed hours of the open day")
    func latest() throws {
        let settings = AggregationSettings()
        var part = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        var totals = TotalsAggregator(settings: settings, factors: Factors(), register: AggregationHarness.field, horizonUS: settings.horizonUS)
        var events: [EventRecord] = []
        part.add([reading("W01", .gasTotal, "2026-11-28T09:00:00+08:00", 0),
                  reading("W01", .gasTotal, "2026-11-28T10:00:00+08:00", 100),
                  reading("W01", .gasTotal, "2026-11-28T10:30:00+08:00", 130)], events: &events)
        var hours: [AssetHour] = []
        part.advance(to: ts("2026-11-28T10:30:00+08:00"), into: &hours)
        totals.receive(hours)
        var closed: [TotalsRecord] = []
        totals.advance(to: ts("2026-11-28T10:30:00+08:00"), into: &closed)
        #expect(closed.contains { $0.window == .hour && $0.id == "W01" && $0.gasM3 == 100 })
        let latest = totals.latest(openHours: part.openHours())
        let hour = try #require(latest.first { $0.window == .hour && $0.scope == .well && $0.id == "W01" })
        #expect(hour.span.start == ts("2026-11-28T10:00:00+08:00"))
        #expect(hour.gasM3 == 30)
        #expect(hour.revision == 0)
        let day = try #require(latest.first { $0.window == .day && $0.scope == .well && $0.id == "W01" })
        #expect(day.gasM3 == 130)
        let month = try #require(latest.first { $0.window == .month && $0.scope == .all })
        #expect(month.gasM3 == 130)
    }

    @Test("the running day and month count the hours and gas days moved to the archive; what stays in memory is the hot span and a gas day")
    func runningMonthOverArchivedDays() throws {
        let settings = AggregationSettings()
        let archive = HistoryArchive.inMemory()
        var part = AssetAggregator(settings: settings, horizonUS: settings.horizonUS, archive: archive)
        var totals = TotalsAggregator(settings: settings, factors: Factors(), register: AggregationHarness.field,
                                      horizonUS: settings.horizonUS, archive: archive)
        var events: [EventRecord] = [], closed: [TotalsRecord] = []
        // Ten gas days of W01 at 10 m³ an hour, read every hour from 08:00 on 1 November.
        let first = ts("2026-11-01T08:00:00+08:00").microseconds, hour: Int64 = 3_600_000_000
        var maxDays = 0, maxHours = 0, maxRevisions = 0
        for k in 0...(10 * 24 + 5) {
            let t = Timestamp(microseconds: first + Int64(k) * hour)
            part.add([Reading(time: t, asset: "W01", measurement: .gasTotal, value: Double(k) * 10)], events: &events)
            var hours: [AssetHour] = []
            part.advance(to: t, into: &hours)
            totals.receive(hours)
            totals.advance(to: t, into: &closed)
            maxDays = max(maxDays, totals.days.count)
            maxHours = max(maxHours, totals.hours.count)
            maxRevisions = max(maxRevisions, totals.revisions.count)
        }
        #expect(maxDays <= 2, "closed days in memory: \(maxDays)")
        #expect(maxHours <= 4, "closed hours in memory: \(maxHours)")
        // Revision numbers: of the hot span's hours and a day or two (a record per scope a window), not of ten days.
        let perHour = closed.filter { $0.window == .hour && $0.span.start.microseconds == first }.count
        #expect(perHour > 4 && maxRevisions <= 6 * perHour, "revision numbers in memory: \(maxRevisions)")
        #expect(!totals.revisions.keys.contains { $0.window != .hour })
        let days = closed.filter { $0.window == .day && $0.scope == .well && $0.id == "W01" }
        #expect(days.count == 10 && days.allSatisfy { $0.gasM3 == 240 })
        // 10 closed days and 05:00 of the eleventh: 245 hours of 10 m³.
        let latest = totals.latest(openHours: part.openHours())
        let month = try #require(latest.first { $0.window == .month && $0.scope == .well && $0.id == "W01" })
        #expect(month.gasM3 == 2450)
        #expect(month.revision == 0)
        // The open gas day from 08:00: five hours, the first of them already in the archive.
        #expect(totals.evictedHoursBefore > ts("2026-11-11T08:00:00+08:00").microseconds)
        #expect(latest.first { $0.window == .day && $0.scope == .well && $0.id == "W01" }?.gasM3 == 50)
        // Again (from the sums it keeps); then late figures of W02 for an hour of an archived day
        // (3 November, 02:00) and for the open day's first hour, already archived too: both
        // reach the running day and month, and W01's figures stay as they were.
        #expect(totals.latest(openHours: part.openHours()).first { $0.window == .month && $0.scope == .well && $0.id == "W01" }?.gasM3 == 2450)
        totals.receive([AssetHour(asset: "W02", hour: WindowSpan(start: ts("2026-11-03T02:00:00+08:00"), end: ts("2026-11-03T03:00:00+08:00")),
                                  gas: FluidTotals(volume: 7, coveredUS: hour, flowUS: hour, samples: 1), water: FluidTotals())])
        totals.receive([AssetHour(asset: "W02", hour: WindowSpan(start: ts("2026-11-11T08:00:00+08:00"), end: ts("2026-11-11T09:00:00+08:00")),
                                  gas: FluidTotals(volume: 3, coveredUS: hour, flowUS: hour, samples: 1), water: FluidTotals())])
        let again = totals.latest(openHours: part.openHours())
        #expect(again.first { $0.window == .day && $0.scope == .well && $0.id == "W02" }?.gasM3 == 3)
        #expect(again.first { $0.window == .day && $0.scope == .well && $0.id == "W01" }?.gasM3 == 50)
        #expect(again.first { $0.window == .month && $0.scope == .well && $0.id == "W02" }?.gasM3 == 10)
        #expect(again.first { $0.window == .month && $0.scope == .well && $0.id == "W01" }?.gasM3 == 2450)
        #expect(again.first { $0.window == .month && $0.scope == .all }?.gasM3 == 2460)
    }

    @Test("each asset's latest gas rate, in m³/h, for the status page: the latest by event time, not the last to arrive")
    func lastRates() {
        let settings = AggregationSettings()
        var part = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        var events: [EventRecord] = []
        part.add([reading("W01", .gasRate, "2026-11-28T09:10:00+08:00", 2400),
                  reading("W01", .gasRate, "2026-11-28T09:00:00+08:00", 4800),
                  reading("W02", .gasTotal, "2026-11-28T09:00:00+08:00", 10)], events: &events)
        let rates = part.lastRates()
        #expect(rates == [AssetRate(asset: "W01", time: ts("2026-11-28T09:10:00+08:00").microseconds, m3h: 100)])
    }
}

@Suite("Aggregation: late hours figured once between the roll-up's writes")
struct LateHoursBatchingTests {
    @Test("late readings of a closed hour over many batches: handed on at the next flush point, once, with every reading; a snapshot takes them at once")
    func lateHoursAtFlushPoints() throws {
        var settings = AggregationSettings()
        settings.flushIntervalUS = 60_000_000
        var events: [EventRecord] = []
        func closedHours(_ part: inout AssetAggregator) -> [AssetHour] {
            part.add([reading("W01", .gasTotal, "2026-11-28T08:30:00+08:00", 0),
                      reading("W01", .gasTotal, "2026-11-28T09:30:00+08:00", 600)], events: &events)
            var hours: [AssetHour] = []
            part.advance(to: ts("2026-11-28T10:20:00+08:00"), into: &hours)
            return hours
        }
        let late = [reading("W01", .gasTotal, "2026-11-28T09:00:00+08:00", 100),
                    reading("W01", .gasTotal, "2026-11-28T09:10:00+08:00", 300),
                    reading("W01", .gasTotal, "2026-11-28T09:20:00+08:00", 450)]
        // A batch a reading, the watermark inside one flush interval: nothing is handed on yet.
        var part = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        #expect(closedHours(&part).count == 2)
        var handed: [AssetHour] = []
        for (i, r) in late.enumerated() {
            part.add([r], events: &events)
            part.advance(to: Timestamp(microseconds: ts("2026-11-28T10:20:00+08:00").microseconds + Int64(i + 1) * 1_000_000), into: &handed)
        }
        #expect(handed.isEmpty)
        // The flush point: hours 08 and 09 of W01, once each.
        part.advance(to: ts("2026-11-28T10:21:00+08:00"), into: &handed)
        #expect(handed.map(\.hour.start) == [ts("2026-11-28T08:00:00+08:00"), ts("2026-11-28T09:00:00+08:00")])
        // The same figures as the late readings taken in one batch.
        var whole = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        _ = closedHours(&whole)
        whole.add(late, events: &events)
        var reference: [AssetHour] = []
        whole.advance(to: ts("2026-11-28T10:21:00+08:00"), into: &reference)
        #expect(handed == reference)
        #expect(handed.last?.gas.volume == 500)
        // Between flush points a snapshot hands them on first.
        var snapshot = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        _ = closedHours(&snapshot)
        var step = PartitionStep(index: 0, aggregator: snapshot, readingsToSink: false)
        var actions: [PartitionStep.Action] = []
        step.handle(.readings(late), into: &actions)
        step.handle(.watermark(ts("2026-11-28T10:20:30+08:00")), into: &actions)
        step.handle(.snapshot(ts("2026-11-28T10:20:30+08:00")), into: &actions)
        let sent = actions.compactMap { a -> [AssetHour]? in
            if case .rollup(.hours(let h)) = a { return h } else { return nil }
        }
        #expect(sent == [reference])
    }
}
