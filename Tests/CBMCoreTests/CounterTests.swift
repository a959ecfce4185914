import Foundation
import Testing
@testable import CBMCore

@Suite("Totalizers: step-backs, resets, rollovers")
struct CounterChangeTests {
    /// The table of the issue: previous, next, rollover, counted, and what it is.
    static let table: [(Double, Double, Double?, Double, String)] = [
        (2_989_648.33, 2_989_190.49, nil, -457.84, "step back"),
        (812.85, 798.66, nil, -14.19, "step back"),
        (1_234_567, 12, nil, 12, "reset"),
        (5_000, 0, nil, 0, "reset"),
        (999_999_000, 500, 1_000_000_000, 1_500, "rollover"),
        (999_999_000, 999_998_000, 1_000_000_000, -1_000, "step back"),
        (600_001_100, 600_001_050, 1_000_000_000, -50, "step back"),
        (400_000_000, 1_000, 1_000_000_000, 1_000, "reset"),
    ]

    static func name(_ c: TotalizerChange) -> String {
        switch c {
        case .increase: return "increase"
        case .stepBack: return "step back"
        case .reset: return "reset"
        case .rollover: return "rollover"
        }
    }

    @Test("each row of the table is counted as the meter counts it", arguments: 0..<table.count)
    func classify(row: Int) {
        let (previous, next, rollover, counted, kind) = Self.table[row]
        let change = TotalizerChange.classify(from: previous, to: next, CounterRules(rollover: rollover))
        #expect(Self.name(change) == kind)
        #expect(abs(change.counted - counted) < 1e-6)
    }

    @Test("through the aggregator: the hour counts the change, and an event names it with both values and the amount",
          arguments: 0..<table.count)
    func aggregated(row: Int) throws {
        let (previous, next, rollover, counted, kind) = Self.table[row]
        let r = AggregationHarness().run([[
            reading("W03", .gasTotal, "2026-11-28T10:00:00+08:00", previous, rollover: rollover),
            reading("W03", .gasTotal, "2026-11-28T10:30:00+08:00", next, rollover: rollover),
        ]])
        let hour = try #require(r.find(.hour, "2026-11-28T10:00:00+08:00", .well, "W03"))
        #expect(abs(hour.gasM3! - counted) < 1e-6)
        #expect(abs(r.find(.hour, "2026-11-28T10:00:00+08:00", .block, "B2")!.gasM3! - counted) < 1e-6)
        let expected: EventRecord.Kind = kind == "step back" ? .totalizerStepBack : kind == "reset" ? .totalizerReset : .totalizerRollover
        #expect(r.events.map(\.kind) == [expected])
        let detail = try #require(r.events.first?.detail)
        #expect(detail.contains(Quantities.describe(number: previous)) && detail.contains(Quantities.describe(number: next)))
        if kind == "step back" { #expect(detail.contains(Quantities.describe(number: counted))) }
        #expect(r.events.first?.time == ts("2026-11-28T10:30:00+08:00"))
    }

    @Test("thresholds are the mapped value's: a wider reset share or rollover margin changes the reading")
    func thresholds() {
        // 1,000 → 300 is a step back by default (30 % stays), a reset with reset_below 50 %.
        #expect(TotalizerChange.classify(from: 1_000, to: 300, CounterRules()) == .stepBack(-700))
        #expect(TotalizerChange.classify(from: 1_000, to: 300, CounterRules(resetBelow: 0.5)) == .reset(300))
        // A six-digit counter read daily on a fast well: 950,000 → 100,000 passes 10^6 with 150,000
        // counted, beyond the default 10 % margin, within a 20 % one.
        #expect(TotalizerChange.classify(from: 950_000, to: 100_000, CounterRules(rollover: 1e6)) == .stepBack(-850_000))
        #expect(TotalizerChange.classify(from: 950_000, to: 100_000, CounterRules(rollover: 1e6, rolloverMargin: 0.2)) == .rollover(150_000))
        // A counter above its stated rollover value never "rolls over" into a negative volume.
        #expect(TotalizerChange.classify(from: 1.5e5, to: 100, CounterRules(rollover: 1e5)).counted == 100)
    }

    @Test("a month of daily counter readings with negative corrections: each day and the month equal the counter's changes")
    func monthOfDailyReadings() throws {
        var rng = SplitMix(state: 2026)
        var h = AggregationHarness()
        h.settings.allowedLatenessUS = 0
        // Daily readings at the gas-day start (08:00), from Nov 1 to Dec 1: every interval is one gas day.
        let start = ts("2026-11-01T08:00:00+08:00").microseconds
        var value = 2_989_648.33
        var readings: [Reading] = []
        var changes: [Double] = []
        for day in 0...30 {
            if day > 0 {
                let change = day % 7 == 3 ? -(Double(Int.random(in: 1...500, using: &rng)) + 0.17)
                    : Double.random(in: 200...3_000, using: &rng)
                changes.append(change)
                value += change
            }
            readings.append(Reading(time: Timestamp(microseconds: start + Int64(day) * 86_400_000_000), asset: "W01",
                                    measurement: .gasTotal, value: value))
        }
        #expect(changes.filter { $0 < 0 }.count == 4)
        let r = h.run(readings.map { [$0] })
        for (day, change) in changes.enumerated() {
            let dayStart = Timestamp(microseconds: start + Int64(day) * 86_400_000_000)
            let record = try #require(r.final[TotalsRecord.Key(window: .day, start: dayStart, scope: .well, id: "W01")])
            #expect(abs(record.gasM3! - change) < 1e-6, "day \(day)")
        }
        let month = try #require(r.find(.month, "2026-11-01T08:00:00+08:00", .well, "W01"))
        #expect(abs(month.gasM3! - changes.reduce(0, +)) < 1e-6)
        #expect(abs(month.gasM3! - (readings.last!.value - readings.first!.value)) < 1e-6)
        #expect(r.events.filter { $0.kind == .totalizerStepBack }.count == 4)
        #expect(r.events.allSatisfy { $0.kind == .totalizerStepBack })
    }
}

@Suite("Totalizers and rates of one asset combine per interval")
struct MixedSeriesTests {
    let h = AggregationHarness()

    /// A rate of `perDay` every five minutes from 09:00 to 10:00 (13 readings).
    func rates(_ perDay: Double, from: String = "09:00", to: String = "10:00") -> [Reading] {
        let a = ts("2026-11-28T\(from):00+08:00").microseconds, b = ts("2026-11-28T\(to):00+08:00").microseconds
        return stride(from: a, through: b, by: 300_000_000).map {
            Reading(time: Timestamp(microseconds: $0), asset: "W01", measurement: .gasRate, value: perDay)
        }
    }

    @Test("one totalizer reading beside a rate covers no interval: the rate gives the hour")
    func lonelyTotalizerReading() throws {
        let r = h.run([rates(2_400) + [reading("W01", .gasTotal, "2026-11-28T09:30:00+08:00", 123_456)]])
        let hour = try #require(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01"))
        #expect(abs(hour.gasM3! - 100) < 1e-9)  // 2,400 m3/d for an hour
        #expect(hour.coverage == 1)
        #expect(hour.estimated)
    }

    @Test("a totalizer appearing mid-hour: the rate before it, the totalizer after")
    func totalizerAppears() throws {
        let r = h.run([rates(2_400) + [reading("W01", .gasTotal, "2026-11-28T09:30:00+08:00", 1_000),
                                       reading("W01", .gasTotal, "2026-11-28T10:00:00+08:00", 1_070)]])
        let hour = try #require(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01"))
        #expect(abs(hour.gasM3! - (50 + 70)) < 1e-9)  // 30 minutes at 2,400 m3/d, then the counter's 70
        #expect(hour.coverage == 1)
        #expect(hour.estimated)
        #expect(hour.samples == 1 + 6)  // the totalizer's reading at 09:30, and the six rates before it
    }

    @Test("a totalizer disappearing mid-hour: the totalizer while it lasts, the rate after")
    func totalizerDisappears() throws {
        let r = h.run([rates(2_400) + [reading("W01", .gasTotal, "2026-11-28T09:00:00+08:00", 1_000),
                                       reading("W01", .gasTotal, "2026-11-28T09:20:00+08:00", 1_030)]])
        let hour = try #require(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01"))
        #expect(abs(hour.gasM3! - (30 + 2_400.0 * 40 / 1_440)) < 1e-9)
        #expect(hour.coverage == 1)
    }

    @Test("gaps in each: a rate gap longer than max_gap stays missing; the totalizer is exact across its own gap")
    func gapsInEach() throws {
        // Rates only 09:00–09:10 and 09:40–10:00 (a 30-minute hole, longer than max_gap); the
        // totalizer covers 09:20–09:50: the hole's 09:20–09:40 part is the totalizer's.
        let rates = rates(2_400, from: "09:00", to: "09:10") + rates(2_400, from: "09:40", to: "10:00")
        let r = h.run([rates + [reading("W01", .gasTotal, "2026-11-28T09:20:00+08:00", 500),
                                reading("W01", .gasTotal, "2026-11-28T09:50:00+08:00", 560)]])
        let hour = try #require(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01"))
        // 09:00–09:10 rate (≈16.67), 09:10–09:20 missing, 09:20–09:50 the counter's 60, 09:50–10:00 rate (≈16.67).
        #expect(abs(hour.gasM3! - (60 + 2 * 2_400.0 * 10 / 1_440)) < 1e-9)
        #expect(abs(hour.coverage - 50.0 / 60) < 1e-12)
        // A totalizer gap of two hours is still covered by its two readings, split by time, rate or not.
        let g = h.run([[reading("W02", .gasTotal, "2026-11-28T09:00:00+08:00", 0),
                        reading("W02", .gasRate, "2026-11-28T09:30:00+08:00", 99_999),
                        reading("W02", .gasRate, "2026-11-28T09:35:00+08:00", 99_999),
                        reading("W02", .gasTotal, "2026-11-28T11:00:00+08:00", 240)]])
        #expect(g.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W02")?.gasM3 == 120)
        #expect(g.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W02")?.estimated == false)
    }

    @Test("an interval that implies an impossible rate is missing data: not counted, the rate fills it, an event says so")
    func implausibleIntervalIsNotCounted() throws {
        let counter = CounterRules(maxRateM3d: 24_000)
        let r = h.run([rates(2_400) + [
            Reading(time: ts("2026-11-28T09:00:00+08:00"), asset: "W01", measurement: .gasTotal, value: 1_000, counter: counter),
            Reading(time: ts("2026-11-28T09:30:00+08:00"), asset: "W01", measurement: .gasTotal, value: 1e12, counter: counter),
            Reading(time: ts("2026-11-28T10:00:00+08:00"), asset: "W01", measurement: .gasTotal, value: 1e12 + 40, counter: counter),
        ]])
        let hour = try #require(r.find(.hour, "2026-11-28T09:00:00+08:00", .well, "W01"))
        #expect(abs(hour.gasM3! - (50 + 40)) < 1e-6)
        #expect(r.events.map(\.kind) == [.totalizerJump])
    }
}

@Suite("Checkpoints of the version before still restore")
struct CheckpointVersionTests {
    @Test("a version-1 decoder and partition state (no counter rules) restores with the default thresholds")
    func versionOne() throws {
        let t = ts("2026-11-28T10:00:00+08:00").microseconds
        // The decoder as version 1 wrote it: watermark, unknown series, series, (asset, measurement) pairs.
        var d = BinaryWriter()
        d.int(t)
        d.int(0)
        d.int(1)
        d.string("W01")
        d.string("gas_total")
        var decoder = TelemetryDecoder(rules: [], register: AggregationHarness.field, limits: DecodeLimits())
        var dr = BinaryReader(d.bytes, version: 1)
        try decoder.restore(from: &dr)
        #expect(decoder.seriesCount == 1 && decoder.watermark == Timestamp(microseconds: t))
        // A partition as version 1 wrote it: W01's gas totalizer at 999,000 with rollover 10^6.
        var p = BinaryWriter()
        p.int(t)
        p.int(Int64.min)
        p.int(1)
        p.string("W01")
        p.int(t)
        p.int(t)
        p.ints([t])
        p.doubles([999_000])
        p.optionalDouble(1_000_000)
        for _ in 0..<3 {
            p.ints([])
            p.doubles([])
            p.optionalDouble(nil)
        }
        p.int(0)
        var a = AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)
        var pr = BinaryReader(p.bytes, version: 1)
        try a.restore(from: &pr, belongs: { _ in true })
        // The next reading rolls the counter over: 2,000 m3 counted, as the default margin reads it.
        var events: [EventRecord] = []
        a.add(Reading(time: Timestamp(microseconds: t + 1_800_000_000), asset: "W01", measurement: .gasTotal, value: 1_000,
                      counter: nil), events: &events)
        var hours: [AssetHour] = []
        a.finish(into: &hours)
        #expect(hours.map(\.gas.volume) == [2_000])
        #expect(events.map(\.kind) == [.totalizerRollover])
    }
}
