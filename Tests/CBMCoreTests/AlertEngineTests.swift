import Foundation
import Testing
@testable import CBMCore

@Suite("Alerts")
struct AlertEngineTests {
    let register = AggregationHarness.field  // W01 expects 1200 m3/d: 50 m3 an hour
    let t0 = ts("2026-11-28T10:00:00+08:00")

    func hour(_ n: Int, _ id: String = "W01", gas: Double, coverage: Double = 1, revision: Int = 1) -> TotalsRecord {
        let start = t0 + Int64(n) * 3_600_000_000
        return TotalsRecord(window: .hour, span: WindowSpan(start: start, end: start + 3_600_000_000), scope: .well, id: id,
                            gasM3: gas, waterM3: 0, flowSeconds: 3600, coverage: coverage, samples: 60, estimated: false, revision: revision)
    }

    /// Messages of assets at receive times, as the decode step notes them.
    func heard(_ messages: [(String, Timestamp)], minGap: Int64 = 60_000_000) -> HeardFrom {
        var h = HeardFrom(minGapUS: minGap)
        for (asset, t) in messages { h.heard(asset, at: t.microseconds) }
        return h
    }

    var lowOutput: AlertRule {
        AlertRule(name: "well-low-output", kind: .lowOutput(.fractionOfExpected(below: 0.5, clearAbove: 0.6)), scope: .well,
                  window: .hour, onDelay: 2, offDelay: 1, minCoverage: 0.8)
    }

    @Test("a well at 40 % of expected for three hours: one alarm after the on-delay, one clear after recovery past the deadband")
    func lowOutputOnce() {
        var e = AlertEngine(rules: [lowOutput], register: register)
        var out: [AlertRecord] = []
        for (n, gas) in [50.0, 50, 20, 20, 20, 50, 50].enumerated() { e.evaluate([hour(n, gas: gas)], into: &out) }
        #expect(out.map(\.state) == [.active, .cleared])
        #expect(out[0].time == t0 + 4 * 3_600_000_000)  // the end of the second low hour
        #expect(out[0].value == 20 && out[0].threshold == 25)
        #expect(out[0].window == .hour && out[0].severity == "warning")
        #expect(out[1].time == t0 + 6 * 3_600_000_000)
        #expect(out[1].threshold == 30)
    }

    @Test("alarm messages in a person's words: the volume with its unit, the local hour, the expected figure, the threshold, how long")
    func messages() {
        var e = AlertEngine(rules: [lowOutput], register: register)
        e.zone = ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!)
        var out: [AlertRecord] = []
        for (n, gas) in [50.0, 50, 20, 20.04, 20, 50, 50].enumerated() { e.evaluate([hour(n, gas: gas)], into: &out) }
        #expect(out.map(\.message) == [
            "W01: 20 m³ in the hour 13:00–14:00, expected 50 m³ (50 % threshold 25 m³), 2nd hour running",
            "W01: 50 m³ in the hour 15:00–16:00, back above 30 m³ (60 % of the expected 50 m³)",
        ])
        // A fixed threshold on a block's day; the utilisation of the whole field.
        let blockDay = AlertRule(name: "block-low", kind: .lowOutput(.absolute(belowM3: 1000, clearAboveM3: 1100)), scope: .block,
                                 window: .day, onDelay: 1, offDelay: 1)
        let utilisation = AlertRule(name: "util", kind: .lowUtilisation(below: 0.7, clearAbove: 0.75), scope: .all, window: .day,
                                    onDelay: 1, offDelay: 1)
        var f = AlertEngine(rules: [blockDay, utilisation], register: register)
        f.zone = e.zone
        let day = WindowSpan(start: ts("2026-11-28T08:00:00+08:00"), end: ts("2026-11-29T08:00:00+08:00"))
        var more: [AlertRecord] = []
        f.evaluate([TotalsRecord(window: .day, span: day, scope: .block, id: "B1", gasM3: 812.345, flowSeconds: 86_400, coverage: 1,
                                 samples: 1440, estimated: false, revision: 1),
                    TotalsRecord(window: .day, span: day, scope: .all, id: "all", gasM3: 2000, utilisedM3: 1250, utilisationRate: 0.625, flowSeconds: 86_400,
                                 coverage: 1, samples: 1440, estimated: false, revision: 1)], into: &more)
        #expect(more.map(\.message).sorted() == [
            "block B1: 812 m³ in the gas day 2026-11-28, below the threshold 1000 m³, 1st day running",
            "the whole field: utilisation rate 62.5 % in the gas day 2026-11-28, below the threshold 70 %, 1st day running",
        ], "\(more.map(\.message))")
        #expect(AlertEngine.ordinal(1) == "1st" && AlertEngine.ordinal(12) == "12th" && AlertEngine.ordinal(22) == "22nd" && AlertEngine.ordinal(113) == "113th")
        // Silence: since when, and what the rule allows; across midnight the date is given.
        let silent = AlertRule(name: "silent", kind: .noData(afterUS: 30 * 60_000_000), scope: .well, selection: .ids(["W02"]))
        var g = AlertEngine(rules: [silent], register: register)
        g.zone = e.zone
        var s: [AlertRecord] = []
        let last = ts("2026-11-28T23:50:00+08:00")
        g.heard(heard([("W02", last)]), into: &s)
        g.advance(to: last + 3_600_000_000, into: &s)
        g.heard(heard([("W02", last + 5_400_000_000)]), into: &s)
        #expect(s.map(\.message) == ["W02: silent, no data since 2026-11-28 23:50 (30 min allowed)", "W02: reports again at 01:20"])
    }

    @Test("a rate oscillating around the threshold does not chatter: the deadband holds it")
    func noChatter() {
        var e = AlertEngine(rules: [lowOutput], register: register)
        var out: [AlertRecord] = []
        for n in 0..<24 { e.evaluate([hour(n, gas: n % 2 == 0 ? 24 : 26)], into: &out) }
        #expect(out.map(\.state) == [.active])
        // With no deadband and no delays, the chatter guard allows three changes in twelve windows.
        let bare = AlertRule(name: "bare", kind: .lowOutput(.absolute(belowM3: 25, clearAboveM3: 25)), scope: .well, onDelay: 1, offDelay: 1)
        var f = AlertEngine(rules: [bare], register: register)
        var flips: [AlertRecord] = []
        for n in 0..<12 { f.evaluate([hour(n, gas: n % 2 == 0 ? 10 : 40)], into: &flips) }
        #expect(flips.count == 3)
    }

    @Test("a silent well raises no_data at the moment silence passes `after`; a well at zero flow raises low_output, not no_data")
    func silenceAndZero() {
        let silent = AlertRule(name: "well-silent", kind: .noData(afterUS: 30 * 60_000_000), severity: "critical", scope: .well,
                               selection: .ids(["W01", "W02"]))
        var e = AlertEngine(rules: [silent, lowOutput], register: register)
        var out: [AlertRecord] = []
        e.heard(heard([("W02", t0), ("W01", t0)]), into: &out)
        // W01 keeps reporting, at zero flow; W02 falls silent.
        for m in stride(from: 10, through: 50, by: 10) {
            let t = t0 + Int64(m) * 60_000_000
            e.heard(heard([("W01", t)]), into: &out)
            e.advance(to: t, into: &out)
        }
        #expect(out.map(\.id) == ["W02"])
        #expect(out.first?.time == t0 + 30 * 60_000_000)
        #expect(out.first?.rule == "well-silent" && out.first?.state == .active && out.first?.severity == "critical")
        e.evaluate([hour(0, "W01", gas: 0), hour(1, "W01", gas: 0)], into: &out)
        #expect(out.last?.id == "W01" && out.last?.rule == "well-low-output")
        #expect(!out.contains { $0.id == "W01" && $0.rule == "well-silent" })
        // W02 reports again: the silence alarm clears at that reading's time.
        let back = t0 + 55 * 60_000_000
        e.heard(heard([("W02", back)]), into: &out)
        #expect(out.last?.state == .cleared && out.last?.time == back && out.last?.id == "W02")
    }

    @Test("a backfill does not fire an alarm on thin windows: evaluation waits for coverage")
    func backfill() {
        var e = AlertEngine(rules: [lowOutput], register: register)
        var out: [AlertRecord] = []
        // Windows closed before their data arrived: low volume, low coverage. Not evaluated.
        e.evaluate([hour(0, gas: 2, coverage: 0.05), hour(1, gas: 3, coverage: 0.1)], into: &out)
        #expect(out.isEmpty)
        // The corrections carry the full figures: normal production, nothing raised.
        e.evaluate([hour(0, gas: 50, revision: 2), hour(1, gas: 49, revision: 2)], into: &out)
        #expect(out.isEmpty)
        // And a genuinely low well still raises its alarm once the data is complete.
        e.evaluate([hour(2, gas: 5, coverage: 0.2), hour(3, gas: 5, coverage: 0.2)], into: &out)
        #expect(out.isEmpty)
        e.evaluate([hour(2, gas: 10, revision: 2), hour(3, gas: 10, revision: 2)], into: &out)
        #expect(out.map(\.state) == [.active])
    }

    @Test("below_m3 and a baseline median")
    func absoluteAndBaseline() {
        let baseline = AlertRule(name: "vs-baseline", kind: .lowOutput(.baseline(below: 0.5, clearAbove: 0.7, windows: 6)), scope: .well,
                                 onDelay: 1, offDelay: 1)
        var e = AlertEngine(rules: [baseline], register: register)
        var out: [AlertRecord] = []
        for (n, g) in [100.0, 102, 98, 101, 99, 100, 40, 100].enumerated() { e.evaluate([hour(n, gas: g)], into: &out) }
        #expect(out.map(\.state) == [.active, .cleared])
        #expect(out[0].threshold == 50)  // half the median of 100
    }

    @Test("shelving and maintenance suppress, and expire; acknowledgement changes the state; the state survives a checkpoint")
    func shelveMaintainAck() throws {
        var e = AlertEngine(rules: [lowOutput], register: register)
        var out: [AlertRecord] = []
        let until = t0 + 3 * 3_600_000_000
        #expect((try? e.apply(.shelve(rule: "well-low-output", scope: .well, id: "W01", until: until, by: "duty"), at: t0).get()) != nil)
        for n in 0..<2 { e.evaluate([hour(n, gas: 10)], into: &out) }
        #expect(out.count == 1 && out[0].suppressedUntil == until)
        // The shelving expires while the alarm is still active: it is announced.
        e.advance(to: until, into: &out)
        #expect(out.count == 2 && out[1].state == .active && out[1].suppressedUntil == nil && out[1].message.contains("expired"))
        let acked = try e.apply(.acknowledge(rule: "well-low-output", scope: .well, id: "W01", by: "duty"), at: until).get()
        #expect(acked?.acknowledged == true && acked?.state == .active)
        #expect(e.states.first?.acknowledged == true)
        #expect(throws: AlertEngine.CommandError.self) {
            try e.apply(.acknowledge(rule: "well-low-output", scope: .well, id: "W02", by: "duty"), at: until).get()
        }
        // Maintenance on W02: its alarm is recorded as suppressed.
        _ = e.apply(.maintenance(.init(selection: .ids(["W02"]), from: t0, until: t0 + 10 * 3_600_000_000, reason: "workover")), at: t0)
        var w2: [AlertRecord] = []
        for n in 0..<2 { e.evaluate([hour(n, "W02", gas: 1)], into: &w2) }
        #expect(w2.count == 1 && w2[0].suppressedUntil == t0 + 10 * 3_600_000_000)
        // A checkpoint round trip keeps every state.
        var w = BinaryWriter()
        e.save(into: &w)
        var restored = AlertEngine(rules: [lowOutput], register: register)
        var r = BinaryReader(w.bytes)
        try restored.restore(from: &r)
        #expect(restored.states == e.states)
        var after: [AlertRecord] = []
        restored.evaluate([hour(5, gas: 50)], into: &after)
        #expect(after.map(\.state) == [.cleared])
    }

    @Test("low utilisation on all, and globs")
    func utilisationAndGlob() {
        let rule = AlertRule(name: "utilisation-low", kind: .lowUtilisation(below: 0.7, clearAbove: 0.75), scope: .all, window: .day,
                             onDelay: 1, offDelay: 1)
        var e = AlertEngine(rules: [rule], register: register)
        var out: [AlertRecord] = []
        let day = WindowSpan(start: ts("2026-11-27T08:00:00+08:00"), end: ts("2026-11-28T08:00:00+08:00"))
        var r = TotalsRecord(window: .day, span: day, scope: .all, id: "all", gasM3: 1000, utilisedM3: 650, utilisationRate: 0.65,
                             hasUtilisationRate: true, flowSeconds: 0, coverage: 0.95, samples: 10, estimated: false, revision: 1)
        e.evaluate([r], into: &out)
        #expect(out.first?.state == .active && out.first?.value == 0.65 && out.first?.message.contains("utilisation rate") == true)
        r.utilisationRate = nil
        r.span = WindowSpan(start: day.end, end: day.end + 86_400_000_000)
        e.evaluate([r], into: &out)
        #expect(out.count == 1)  // nothing produced: not evaluated
        #expect(AlertRule.Selection.match("W-SZ-B*").selects("W-SZ-B01"))
        #expect(!AlertRule.Selection.match("W-SZ-B*").selects("W-SZ-A01"))
        #expect(AlertRule.Selection.match("W?1").selects("W01"))
    }
}
