import Foundation
import Testing
@testable import CBMCore

/// Readings older than the in-memory span: placed in the archive between their true neighbours,
/// duplicates counted once, the windows they change recomputed once per flush; the final
/// figures depend on the set of readings only, never on the order they arrived in.
@Suite("History archive")
struct HistoryArchiveTests {
    static let start = ts("2026-11-28T06:00:00+08:00").microseconds
    static let minute: Int64 = 60_000_000
    static let hour: Int64 = 3_600_000_000

    /// Two days of six wells every five minutes (W1 and W4 on totalizers, W4's reset once, the
    /// others on rates, W3 silent for two and a half hours, W6 low for four), and a delivery
    /// meter; each message received a second after its time.
    static func messages(hours: Int = 48) -> [InboundMessage] {
        var out: [InboundMessage] = []
        var counters = [50_000.0, 10_000.0]
        for k in 0...(hours * 12) {
            let t = start + Int64(k) * 5 * minute
            func send(_ asset: String, _ values: String) {
                out.append(InboundMessage(topic: "t/\(asset)/json", payload: Array(#"{"ts":\#(Double(t) / 1e6),\#(values)}"#.utf8),
                                          receivedAt: Timestamp(microseconds: t + 1_000_000)))
            }
            counters[0] += 50.0 / 12 + Double(k % 5)
            counters[1] += 20.0 / 12 + Double(k % 3)
            if k == 300 { counters[1] = 3 }  // a reset
            send("W1", #""gas_total":\#(counters[0])"#)
            send("W4", #""gas_total":\#(counters[1])"#)
            for w in ["W2", "W3", "W5", "W6"] where !(w == "W3" && (100..<130).contains(k)) {
                // W6 runs low (a fifth of expected) from the fourth hour to the eighth.
                let rate = w == "W6" && (48..<96).contains(k) ? 10 : 40 + (k * 7 + Int(w.utf8.last!)) % 23
                send(w, #""gas_m3h":\#(rate)"#)
            }
            send("M1", #""gas_m3h":\#(200 + k % 17)"#)
        }
        return out
    }

    /// The same messages as a store-and-forward RTU would deliver some of them: `held` wells'
    /// first `hours` hours arrive after everything else, received then.
    static func backfilled(_ m: [InboundMessage], held: Set<String>, hours: Int64) -> [InboundMessage] {
        let cut = start + hours * hour
        func asset(_ x: InboundMessage) -> String { String(x.topic.split(separator: "/")[1]) }
        let live = m.filter { !(held.contains(asset($0)) && $0.receivedAt.microseconds < cut) }
        let late = m.filter { held.contains(asset($0)) && $0.receivedAt.microseconds < cut }
        let end = m.last!.receivedAt.microseconds
        return live + late.enumerated().map { i, x in
            InboundMessage(topic: x.topic, payload: x.payload, receivedAt: Timestamp(microseconds: end + Int64(i) * 1000))
        }
    }

    struct Run {
        var totals: [TotalsRecord]
        var events: [EventRecord]
        var rejects: [Reject]
        var alarms: [AlertRecord]
        var archive: HistoryArchive
        var final: [TotalsRecord.Key: TotalsRecord] { finalRecords(totals) }
    }

    static func settings(hot: Int64 = 2 * hour) -> PipelineSettings {
        var a = AggregationSettings()
        a.horizonUS = hot
        return PipelineSettings(aggregation: a, partitions: 2, rules: [AlarmBatchingTests.rule], register: AlarmBatchingTests.register,
                                alerts: AlarmBatchingTests.alertRules)
    }

    /// Through the real steps, `batch` messages a hand-on; with `clock`, the wall clock ticks
    /// after each batch (live: the watermark runs ahead of old readings).
    static func run(_ messages: [InboundMessage], batch: Int = 64, hot: Int64 = 2 * hour, clock: Timestamp? = nil,
                    archive: HistoryArchive = .inMemory()) -> Run {
        let s = settings(hot: hot)
        var driver = StepDriver(settings: s, state: PipelineCheckpoint.State(s, archive: archive))
        var i = 0
        while i < messages.count {
            var inputs = messages[i..<min(i + batch, messages.count)].map { DecodeStep.Input.message($0) }
            if let clock { inputs.append(.tick(clock)) }
            driver.take(inputs, handOnAtEnd: true)
            i += batch
        }
        driver.end(.close)
        return Run(totals: driver.totals, events: driver.events, rejects: driver.rejects, alarms: driver.alarms, archive: archive)
    }

    /// Final figures without their revision numbers.
    static func figures(_ r: Run) -> [TotalsRecord.Key: TotalsRecord] {
        r.final.mapValues { var x = $0; x.revision = 0; return x }
    }

    static func expectSameFigures(_ a: Run, _ b: Run, _ what: Comment) {
        let fa = figures(a), fb = figures(b)
        #expect(fa.count == fb.count && fa.count > 100, what)
        var differing = 0
        for (k, v) in fa where fb[k] != v {
            differing += 1
            if differing <= 6 {
                Issue.record("\(what): \(k.window) \(k.start) \(k.scope) \(k.id): gas \(v.gasM3 ?? -1) cov \(v.coverage) n \(v.samples) vs gas \(fb[k]?.gasM3 ?? -1) cov \(fb[k]?.coverage ?? -1) n \(fb[k]?.samples ?? -1)")
            }
        }
        #expect(differing == 0, what)
    }

    @Test("a 30-hour backfill of three wells, arriving after two days of live data, gives the in-order figures; the others are not re-emitted")
    func backfillEqualsInOrder() {
        let inOrder = Self.run(Self.messages())
        #expect(inOrder.rejects.isEmpty)
        let late = Self.run(Self.backfilled(Self.messages(), held: ["W1", "W2", "W4"], hours: 30))
        #expect(late.rejects.isEmpty)
        Self.expectSameFigures(inOrder, late, "backfill")
        // The archive was used: the backfill is days older than the two-hour hot span.
        #expect(late.archive.neighbour(SeriesKey(asset: "W1", code: 0), of: Self.start + 40 * Self.hour, before: true) != nil)
        // Other wells' windows are written once; the held wells' hours once or twice (the first
        // close saw the last reading only), never more: a backfill is recomputed once per flush.
        var count: [TotalsRecord.Key: Int] = [:], baseline: [TotalsRecord.Key: Int] = [:]
        for r in late.totals { count[r.key, default: 0] += 1 }
        for r in inOrder.totals { baseline[r.key, default: 0] += 1 }
        for (k, n) in count where k.scope == .well {
            if ["W3", "W5", "W6"].contains(k.id) { #expect(n == baseline[k], "\(k)") } else { #expect(n <= 2, "\(k)") }
        }
        // The reset in W4's backfilled history is noted as in order.
        #expect(late.events.filter { $0.kind == .totalizerReset }.map(\.id) == inOrder.events.filter { $0.kind == .totalizerReset }.map(\.id))
    }

    @Test("the same readings in any order (shuffled, reversed, in batches of one or many) give the same figures")
    func anyOrder() {
        let m = Self.messages(hours: 30)
        let inOrder = Self.run(m)
        var rng = SplitMix64(state: 42)
        var shuffled = m
        shuffled.shuffle(using: &rng)
        // Received in the shuffled order: each receive time the latest so far, so none is judged
        // in the future or too old.
        let end = m.last!.receivedAt.microseconds
        let restamped = shuffled.enumerated().map { i, x in
            InboundMessage(topic: x.topic, payload: x.payload, receivedAt: Timestamp(microseconds: end + Int64(i)))
        }
        Self.expectSameFigures(inOrder, Self.run(restamped, batch: 1), "shuffled, one at a time")
        Self.expectSameFigures(inOrder, Self.run(restamped, batch: 500), "shuffled, in batches")
        let reversed = m.reversed().enumerated().map { i, x in
            InboundMessage(topic: x.topic, payload: x.payload, receivedAt: Timestamp(microseconds: end + Int64(i)))
        }
        Self.expectSameFigures(inOrder, Self.run(reversed, batch: 100), "reversed")
    }

    @Test("live: readings hours behind the wall clock are totalled exactly and raise the alarms they would in order")
    func behindTheClock() {
        let m = Self.messages(hours: 12)
        let inOrder = Self.run(m)
        // The daemon was down: everything arrives a day later, the clock far ahead of it.
        let end = m.last!.receivedAt.microseconds
        let clock = Timestamp(microseconds: end + 24 * Self.hour)
        let delayed = m.enumerated().map { i, x in
            InboundMessage(topic: x.topic, payload: x.payload, receivedAt: Timestamp(microseconds: clock.microseconds + Int64(i)))
        }
        let live = Self.run(delayed, clock: clock)
        #expect(live.rejects.isEmpty)
        Self.expectSameFigures(inOrder, live, "a day behind the clock")
        let raised = { (r: Run) in Set(r.alarms.filter { $0.state == .active && $0.rule == "low" }.map(\.id)) }
        #expect(!raised(inOrder).isEmpty)
        #expect(raised(live) == raised(inOrder))
    }

    @Test("duplicates of archived readings count once")
    func duplicates() {
        let m = Self.messages(hours: 20)
        let once = Self.run(m)
        let end = m.last!.receivedAt.microseconds
        let again = m.prefix(2000).enumerated().map { i, x in
            InboundMessage(topic: x.topic, payload: x.payload, receivedAt: Timestamp(microseconds: end + Int64(i)))
        }
        let twice = Self.run(m + again)
        Self.expectSameFigures(once, twice, "redelivered")
        // Nothing changed, so nothing was revised.
        #expect(twice.totals.count == once.totals.count)
    }

    @Test("a reading older than limits.max_past is rejected, naming it; one just inside is totalled")
    func maxPast() {
        let m = Self.messages(hours: 2)
        let end = m.last!.receivedAt.microseconds
        let week: Int64 = 7 * 86_400_000_000
        func at(_ t: Int64) -> InboundMessage {
            InboundMessage(topic: "t/W5/json", payload: Array(#"{"ts":\#(Double(t) / 1e6),"gas_m3h":10}"#.utf8),
                           receivedAt: Timestamp(microseconds: end + week))
        }
        let r = Self.run(m + [at(end - 1_000_000), at(end + 1_000_000)])
        #expect(r.rejects.count == 1)
        #expect(r.rejects.first?.reason.code == "time_too_old")
        #expect(r.rejects.first?.reason.description.contains("limits.max_past is 7d") == true)
    }

    @Test("what a series' first read found missing is read back once committed: by hour, by range, and as a neighbour")
    func committedAfterTheFirstRead() throws {
        let backend = MemoryArchiveBackend()
        let archive = HistoryArchive(backend: backend, maxPastUS: 30 * 86_400_000_000)
        let series = SeriesKey(asset: "W1", code: 1), other = SeriesKey(asset: "W2", code: 1)
        let h = Self.start
        var block = ReadingBlock()
        block.times = [h + Self.minute]
        block.values = [12.5]
        // Nothing committed yet: the archive learns that W1 has no blocks.
        #expect(archive.block(series, hour: h) == nil && archive.blocks(series, from: h - Self.hour, through: h + Self.hour).isEmpty)
        #expect(archive.neighbour(series, of: h + Self.hour, before: true) == nil)
        archive.put(series, hour: h, block, writer: 0)
        var later = ReadingBlock()
        later.times = [h + 5 * Self.hour + Self.minute]
        later.values = [3]
        archive.put(other, hour: h + 5 * Self.hour, later, writer: 0)
        archive.seal(writer: 0, sequence: 7)
        try archive.commit(through: 7)
        #expect(archive.pendingEntries == 0 && backend.block(series, hour: h) != nil)
        // Now only the backend has it.
        #expect(archive.block(series, hour: h) == block)
        #expect(archive.blocks(series, from: h - Self.hour, through: h + Self.hour).map(\.block) == [block])
        #expect(archive.neighbour(series, of: h + 3 * Self.hour, before: true)?.hour == h)
        #expect(archive.neighbour(series, of: h - 3 * Self.hour, before: false)?.hour == h)
        #expect(archive.neighbour(series, of: h, before: false) == nil)
        // A series first read after its commit is found as well.
        #expect(archive.neighbour(other, of: h, before: false)?.hour == h + 5 * Self.hour)
    }

    @Test("a block's encoding round-trips and refuses damage")
    func blockEncoding() {
        var b = ReadingBlock()
        let hour = ReadingBlock.hour(of: Self.start + 17 * Self.minute)
        #expect(hour == Self.start)
        for k in 0..<60 {
            b.times.append(hour + Int64(k) * Self.minute + Int64(k % 7))
            b.values.append(Double(k) * 1.5 - 3)
        }
        let bytes = b.encoded(hour: hour)
        #expect(ReadingBlock.decode(bytes, hour: hour) == b)
        #expect(bytes.count <= 60 * 12 + 1)
        #expect(ReadingBlock.decode(Array(bytes.dropLast()), hour: hour) == nil)
        #expect(ReadingBlock.decode(bytes + [0], hour: hour) == nil)
        #expect(ReadingBlock.hour(of: -1) == -Self.hour)
    }

    @Test("a block encoded straight from a series' readings is the block's own encoding, byte for byte")
    func blockFromSeries() {
        var g = SystemRandomNumberGenerator()
        for trial in 0..<50 {
            var h = SeriesHistory()
            // Irregular times over three hours (some a microsecond apart, some far), any values.
            var t = Self.start + Int64.random(in: 0..<Self.hour, using: &g)
            for _ in 0..<(trial * 7 + 1) {
                _ = h.insert(time: t, value: [0, -0.0, 1e300, -3.25, .pi, Double.random(in: -1e9...1e9, using: &g)].randomElement(using: &g)!)
                t += [1, 999, 60_000_000, Int64.random(in: 1...900_000_000, using: &g)].randomElement(using: &g)!
            }
            var k = 0
            while k < h.count {
                let hour = ReadingBlock.hour(of: h.time(k))
                var block = ReadingBlock()
                var end = k
                while end < h.count && h.time(end) < hour + Self.hour {
                    block.times.append(h.time(end))
                    block.values.append(h.value(end))
                    end += 1
                }
                let direct = h.encodedBlock(k..<end, hour: hour)
                #expect(direct == block.encoded(hour: hour))
                #expect(ReadingBlock.decode(direct, hour: hour) == block)
                k = end
            }
        }
    }
}


extension HistoryArchiveTests {
    @Test("readings first in memory, then moved to the archive by the clock, then corrected, or old from the start, or the ends apart: totalled and alarmed at the stop",
          arguments: 0..<3)
    func hotThenCold(arrangement: Int) {
        let s = Self.settings()
        var driver = StepDriver(settings: s, state: PipelineCheckpoint.State(s))
        let h0 = Self.start
        let now = Timestamp(microseconds: h0 + 9 * Self.hour)
        func message(_ k: Int) -> DecodeStep.Input {
            .message(InboundMessage(topic: "t/W2/json", payload: Array(#"{"ts":\#(Double(h0 + Int64(k) * 10 * Self.minute) / 1e6),"gas_m3h":10}"#.utf8),
                                    receivedAt: now))
        }
        switch arrangement {
        case 0:
            driver.take([message(0), message(24)], handOnAtEnd: true)
        case 1:
            driver.take([.tick(now)], handOnAtEnd: true)
            driver.take([message(0), message(24)], handOnAtEnd: true)
        default:
            // The first reading alone, handed on and moved to the archive; the last one then
            // old: the hours between, which nothing had handed on yet, go out at the stop too.
            driver.take([message(0)], handOnAtEnd: true)
            driver.take([.tick(now)], handOnAtEnd: true)
            driver.take([message(24)], handOnAtEnd: true)
        }
        driver.take([.tick(now)], handOnAtEnd: true)
        driver.take((0...24).map(message), handOnAtEnd: true)
        driver.end(.flush)
        let hours = finalRecords(driver.totals).values.filter { $0.window == .hour && $0.scope == .well && $0.id == "W2" }
        // Four hours at 10 m3/h, and the hour of the last reading (nothing after it).
        #expect(hours.count == 5 && hours.filter { abs(($0.gasM3 ?? 0) - 10) < 1e-9 }.count == 4, "\(hours.map { ($0.span.start, $0.gasM3 ?? -1) })")
        #expect(driver.alarms.contains { $0.rule == "low" && $0.id == "W2" && $0.state == .active })
    }
}
