import Foundation
import Testing
@testable import CBMCore

/// Messages through the real decode step, partitions, roll-up and alert engine (``StepDriver``),
/// as the live pipeline takes them: `batch` messages at a time, each batch (and every boundary
/// the decode step names) handed on to `partitions` partitions.
struct StreamHarness {
    var settings = AggregationSettings()
    var register: AssetRegister
    var decodeRules: [DecodeRule]
    var alertRules: [AlertRule]
    var maintenance: [AlertEngine.Maintenance] = []
    var commands: [(AlertEngine.Command, Timestamp)] = []

    struct Result {
        var totals: [TotalsRecord] = []
        var alerts: [AlertRecord] = []
        var final: [TotalsRecord.Key: TotalsRecord] { finalRecords(totals) }
    }

    func run(_ messages: [InboundMessage], batch: Int, partitions: Int) -> Result {
        var driver = StepDriver(settings: PipelineSettings(aggregation: settings, partitions: partitions, rules: decodeRules,
                                                           register: register, alerts: alertRules, maintenance: maintenance))
        for (n, (c, t)) in commands.enumerated() { driver.control(.command(c, at: t, ticket: n)) }
        driver.alarms.removeAll()  // what the commands themselves changed is not under test
        var i = 0
        while i < messages.count {
            driver.take(messages[i..<min(i + batch, messages.count)].map { .message($0) }, handOnAtEnd: true)
            i += batch
        }
        driver.end(.close)
        return Result(totals: driver.totals, alerts: driver.alarms)
    }
}

@Suite("Alarms do not depend on how messages are batched")
struct AlarmBatchingTests {
    static let start = ts("2026-11-28T06:00:00+08:00").microseconds
    static let minute: Int64 = 60_000_000

    static let register = AssetRegister(
        (1...6).map { Asset(id: "W\($0)", kind: .well, field: "F", block: $0 <= 3 ? "B1" : "B2", expectedGasM3d: 1_200) }
            + [Asset(id: "M1", kind: .delivery, sector: .power)])

    static let rule: DecodeRule = {
        guard case .success(let f) = TopicFilter.parse("t/+/json"), case .success(let t) = TopicTemplate.parse("t/{asset}/json"),
              case .success(let rate) = MeasurementUnit.parse("m3/h", for: .gasVolumeRate),
              case .success(let volume) = MeasurementUnit.parse("m3", for: .gasVolume) else { fatalError() }
        return DecodeRule(filter: f, template: t, format: .json(.init(timeKey: "ts", values: [
            (key: "gas_m3h", mapping: .init(measurement: .gasRate, conversion: Conversion(unit: rate, meterBasis: .c20, reportingBasis: .c20))),
            (key: "gas_total", mapping: .init(measurement: .gasTotal, conversion: Conversion(unit: volume, meterBasis: .c20, reportingBasis: .c20))),
        ])))
    }()

    static let alertRules = [
        AlertRule(name: "low", kind: .lowOutput(.fractionOfExpected(below: 0.5, clearAbove: 0.6)), scope: .well, onDelay: 2, offDelay: 1),
        AlertRule(name: "silent", kind: .noData(afterUS: 30 * minute), severity: "critical", scope: .well),
        AlertRule(name: "utilisation", kind: .lowUtilisation(below: 0.7, clearAbove: 0.75), scope: .all, window: .hour),
    ]

    /// Ten hours of a small field, every five minutes, in receive order: W1 on a totalizer; W2 low
    /// for three hours (shelved until 12:50, while it is active, ten minutes before it clears); W3 silent for 40 and for 20 minutes; W4 silent from
    /// 13:00 to the end; W5's RTU buffers 10:00–10:45 and sends it at 11:20 (late: corrections);
    /// W6 low during declared maintenance; M1 takes 90 % of production, 50 % from 09:00 to 11:00.
    static func messages() -> [InboundMessage] {
        var out: [(Int64, Int, InboundMessage)] = []
        var counter = 50_000.0
        var n = 0
        func send(_ asset: String, at t: Int64, received: Int64? = nil, _ values: String) {
            let r = received ?? t + Int64(n % 7) * 1_000
            out.append((r, n, InboundMessage(topic: "t/\(asset)/json", payload: Array(#"{"ts":\#(Double(t) / 1e6),\#(values)}"#.utf8),
                                            receivedAt: Timestamp(microseconds: r))))
            n += 1
        }
        for k in 0...120 {
            let t = start + Int64(k) * 5 * minute
            let hour = Int(k / 12)  // hours after 06:00
            var production = 0.0
            counter += 50.0 / 12
            send("W1", at: t, #""gas_total":\#(counter)"#)
            production += 50
            let w2 = (3...5).contains(hour) ? 10.0 : 50.0
            send("W2", at: t, #""gas_m3h":\#(w2)"#)
            production += w2
            let minuteOfDay = (k * 5) % 1440
            let w3Silent = (190..<230).contains(minuteOfDay) || (300..<320).contains(minuteOfDay)  // 09:10–09:50, 11:00–11:20
            if !w3Silent { send("W3", at: t, #""gas_m3h":50"#) }
            production += 50
            if hour < 7 { send("W4", at: t, #""gas_m3h":50"#) }
            production += hour < 7 ? 50 : 0
            if (240..<285).contains(minuteOfDay) {
                send("W5", at: t, received: start + 320 * minute + Int64(k), #""gas_m3h":50"#)  // delivered at 11:20
            } else {
                send("W5", at: t, #""gas_m3h":50"#)
            }
            production += 50
            let w6 = (3...5).contains(hour) ? 5.0 : 50.0
            send("W6", at: t, #""gas_m3h":\#(w6)"#)
            production += w6
            let share = (3...4).contains(hour) ? 0.5 : 0.9
            send("M1", at: t, #""gas_m3h":\#(production * share)"#)
        }
        return out.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    static var harness: StreamHarness {
        var h = StreamHarness(register: register, decodeRules: [rule], alertRules: alertRules)
        h.maintenance = [AlertEngine.Maintenance(selection: .ids(["W6"]), from: Timestamp(microseconds: start + 150 * minute),
                                                 until: Timestamp(microseconds: start + 360 * minute), reason: "workover")]
        h.commands = [(.shelve(rule: "low", scope: .well, id: "W2", until: Timestamp(microseconds: start + 410 * minute), by: "duty"),
                       Timestamp(microseconds: start))]
        return h
    }

    static func sorted(_ a: [AlertRecord]) -> [AlertRecord] { a.sorted(by: AlertEngine.order) }

    @Test("one message at a time gives every kind of alarm, shelved, suppressed and announced")
    func baseline() {
        let alerts = Self.sorted(Self.harness.run(Self.messages(), batch: 1, partitions: 1).alerts)
        func has(_ rule: String, _ id: String, _ state: AlertRecord.State) -> Bool {
            alerts.contains { $0.rule == rule && $0.id == id && $0.state == state }
        }
        // W3: the 40-minute silence, not the 20-minute one.
        let w3 = alerts.filter { $0.rule == "silent" && $0.id == "W3" }
        #expect(w3.map(\.state) == [.active, .cleared])
        // Receive times lag the readings by a few milliseconds.
        #expect(abs(w3.first!.time.microseconds - (Self.start + 215 * Self.minute)) < 10_000)  // 09:05 + 30m
        #expect(abs(w3.last!.time.microseconds - (Self.start + 230 * Self.minute)) < 10_000)
        // W4 silent to the end; W5 silent (in receive time) while its RTU buffered.
        #expect(alerts.filter { $0.rule == "silent" && $0.id == "W4" }.map(\.state) == [.active])
        #expect(has("silent", "W5", .active) && has("silent", "W5", .cleared))
        // Low output: W2 (shelved, then announced when the shelving expired), W6 (in maintenance).
        #expect(has("low", "W2", .active) && has("low", "W2", .cleared))
        #expect(alerts.contains { $0.rule == "low" && $0.id == "W2" && $0.message.contains("expired") })
        #expect(alerts.first { $0.rule == "low" && $0.id == "W2" }?.suppressedUntil != nil)
        #expect(alerts.first { $0.rule == "low" && $0.id == "W6" && $0.state == .active }?.suppressedUntil != nil)
        #expect(has("utilisation", "all", .active) && has("utilisation", "all", .cleared))
        #expect(!alerts.contains { $0.id == "W1" })
    }

    /// Batch sizes × partition counts × flush intervals (with corrections written every 2h the
    /// decode step hands on only at hour closes, so a batch holds silences shorter than it).
    static let combinations: [(Int, Int, Int64)] = [1, 7, 1_000, Int.max].flatMap { b in
        [1, 2, 3, 4].flatMap { p in [10_000_000, 7_200_000_000].map { (b, p, $0) } }
    }

    @Test("batches of 1, 7, 1,000 and all at once, across 1 to 4 partitions: identical alerts and totals",
          arguments: combinations)
    func sameAlarms(batch: Int, partitions: Int, flushUS: Int64) {
        let messages = Self.messages()
        var h = Self.harness
        h.settings.flushIntervalUS = flushUS
        let baseline = h.run(messages, batch: 1, partitions: 1)
        let got = h.run(messages, batch: min(batch, messages.count), partitions: partitions)
        let expected = Self.sorted(baseline.alerts), actual = Self.sorted(got.alerts)
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) where a != e {
            Issue.record("\(a.rule) \(a.id) \(a.state) \(a.time): got \(a.message) \(String(describing: a.value)), expected \(e.rule) \(e.id) \(e.state) \(e.time)")
            break
        }
        #expect(actual == expected)
        #expect(got.final == baseline.final)
        // Corrections happened (W5's late history), so the flush boundaries mattered.
        #expect(baseline.totals.contains { $0.revision > 1 })
    }
}
