import CBMCore
@testable import CBMIngest
import CBMTestSupport
import Dispatch
import Foundation
import Logging
import Testing

@Suite("Pipeline")
struct PipelineTests {
    @Test("a full stage blocks its submitter until the handler catches up; nothing is lost or reordered")
    func backPressure() {
        let gate = DispatchSemaphore(value: 0)
        let stage = Stage<Int, [Int]>(label: "test.stage", capacity: 4, batch: 2, state: []) { handled, items in
            gate.wait()
            handled += items
        }
        let submitted = ManagedAtomicCounter()
        let producer = Thread {
            for i in 0..<20 {
                stage.submit(i)
                submitted.increment()
            }
        }
        producer.start()
        // The handler holds its first batch (1 or 2 items) and the queue holds 4: the producer
        // must stop there.
        #expect(eventually(timeout: 5) { stage.depth == 4 })
        Thread.sleep(forTimeInterval: 0.2)
        #expect((5...6).contains(submitted.value))
        #expect(stage.depth == 4)
        for _ in 0..<20 { gate.signal() }
        #expect(eventually(timeout: 5) { submitted.value == 20 })
        stage.drain()
        var handled: [Int] = []
        stage.withState { handled = $0 }
        #expect(handled == Array(0..<20))
    }

    @Test("messages that come one at a time are handled in batches; a batch handed over starts the stage at once")
    func gathering() {
        // A long gathering time: the fifty single items all arrive within it, so they are one batch.
        let stage = Stage<Int, [[Int]]>(label: "test.gather", capacity: 100, batch: 100, gather: 0.3, state: []) { batches, items in
            batches.append(items)
        }
        for i in 0..<50 { stage.submit(i) }
        stage.drain()
        var batches: [[Int]] = []
        stage.withState { batches = $0 }
        #expect(batches == [Array(0..<50)])
        // A batch does not wait for the gathering time, however long.
        let handled = DispatchSemaphore(value: 0)
        let patient = Stage<Int, Void>(label: "test.gather.batch", capacity: 100, batch: 100, gather: 3_600, state: ()) { _, _ in
            handled.signal()
        }
        patient.submit(contentsOf: [1, 2, 3])
        #expect(handled.wait(timeout: .now() + 20) == .success)
    }

    @Test("per-asset order is kept through the partitions, and every message is accounted for")
    func perAssetOrder() throws {
        let dir = TemporaryDirectory("pipeline")
        dir.write("assets.csv", "id,kind,field,block\n" + (0..<8).map { "W\($0),well,F,B" }.joined(separator: "\n"))
        let yaml = """
            subscriptions:
              - topic: cbm/+/+/+/+
                template: cbm/{field}/{block}/{asset}/{measurement}
                format: value
                units: { gas_rate: m3/d }
            assets: assets.csv
            output: { directory: out, readings: true }
            pipeline: { partitions: 3, queue_capacity: 16, batch: 5 }
            """
        let config = try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: dir.path).get()
        let clock: @Sendable () -> Timestamp = { Timestamp(seconds: 1_800_000_000) }
        let sink = FileSink(configuration: config, now: clock, logger: Logger(label: "test"))
        let pipeline = Pipeline(configuration: config, sink: sink)
        var expected: [String: [Double]] = [:]
        for i in 0..<2_000 {
            let asset = "W\(i % 8)"
            let topic = i % 97 == 0 ? "cbm/F/B/NOPE/gas_rate" : "cbm/F/B/\(asset)/gas_rate"
            if i % 97 != 0 { expected[asset, default: []].append(Double(i)) }
            pipeline.submit(InboundMessage(topic: topic, payload: Array("\(i)".utf8),
                                           receivedAt: Timestamp(seconds: 1_800_000_000 + Int64(i))))
        }
        pipeline.close()
        let stats = pipeline.statistics
        #expect(stats.messages == 2_000)
        #expect(stats.rejects == 21)
        #expect(stats.readings == 2_000 - 21)
        var got: [String: [Double]] = [:]
        for r in records(under: dir.file("out/readings")) {
            got[r["asset"] as! String, default: []].append(r["value"] as! Double)
        }
        #expect(got == expected)
        #expect(records(under: dir.file("out/rejects")).count == 21)
    }
}

extension PipelineTests {
    /// Forty wells every five minutes for ten hours, a few low, a few whose RTU buffers an hour and
    /// sends it after the hour has closed (corrections), in receive order.
    static func field(start: Int64) -> [InboundMessage] {
        var out: [(Int64, InboundMessage)] = []
        for k in 0..<120 {
            let t = start + Int64(k) * 300
            for w in 0..<40 {
                let low = w % 9 == 0 && (36..<72).contains(k)
                let buffered = w % 7 == 3 && (48..<60).contains(k)
                let received = buffered ? start + 64 * 300 + Int64(w) : t
                let payload = #"{"ts":\#(t),"gas_m3h":\#(low ? 5 : 50)}"#
                out.append((received * 1000 + Int64(w), InboundMessage(topic: "cbm/F/B/W\(w)/telemetry", payload: Array(payload.utf8),
                                                                       receivedAt: Timestamp(seconds: received))))
            }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    @Test("the threaded pipeline over four partitions writes what the synchronous one writes: totals and revisions byte for byte, the same alarms")
    func threadedEqualsSynchronous() throws {
        let start: Int64 = 1_795_824_000
        let messages = Self.field(start: start)
        func run(synchronous: Bool, relayed: Bool = false, sorted: Bool = true) throws -> [String: Data] {
            let dir = TemporaryDirectory("pipeline")
            dir.write("assets.csv", "id,kind,field,block,sector,expected_gas_m3d\n" + (0..<40).map { "W\($0),well,F,B,,1200" }.joined(separator: "\n"))
            let yaml = """
                subscriptions:
                  - topic: cbm/+/+/+/telemetry
                    template: cbm/{field}/{block}/{asset}/telemetry
                    format: json
                    values: { gas_m3h: { measurement: gas_rate, unit: m3/h } }
                assets: assets.csv
                output: { directory: out }
                pipeline: { partitions: 4, queue_capacity: 8, batch: 3 }
                alerts:
                  - { name: low, kind: low_output, scope: well, window: hour, below: 0.5, on_delay: 2 }
                  - { name: silent, kind: no_data, scope: well, after: 30m }
                """
            let config = try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: dir.path).get()
            let sink = FileSink(configuration: config, now: { Timestamp(seconds: start) }, logger: Logger(label: "test"))
            let pipeline = Pipeline(configuration: config, sink: sink, synchronous: synchronous, relayed: relayed)
            for (i, m) in messages.enumerated() {
                pipeline.submit(m)
                if i == messages.count / 2 { pipeline.record([EventRecord(time: m.receivedAt, kind: .alarmCommand, id: "W1", detail: "half way")]) }
            }
            pipeline.finish(at: Timestamp(seconds: start))
            pipeline.close()
            var tree: [String: Data] = [:]
            for family in ["totals", "alerts", "events"] {
                let root = dir.file("out/\(family)")
                for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                    var data = FileManager.default.contents(atPath: root + "/" + name) ?? Data()
                    // Alarm changes of silence and of windows interleave where each stage hands on
                    // (live: whenever it has taken what there was): the same records, in an order of
                    // their own. Totals come out at the same points either way: byte for byte.
                    if family == "alerts" && sorted {
                        data = Data(String(decoding: data, as: UTF8.self).split(separator: "\n").sorted().joined(separator: "\n").utf8)
                    }
                    tree["\(family)/\(name)"] = data
                }
            }
            return tree
        }
        let reference = try run(synchronous: true)
        // Relayed (the replay's way: the steps after decoding on a thread of their own): the same
        // bytes, alarms in the same order too.
        #expect(try run(synchronous: true, relayed: true, sorted: false) == run(synchronous: true, sorted: false))
        let text = reference.values.map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(text.contains(#""rule":"low""#) && text.contains(#""rule":"silent""#) && text.contains(#""revision":2"#))
        for _ in 0..<3 {
            let threaded = try run(synchronous: false)
            #expect(threaded.keys.sorted() == reference.keys.sorted())
            for (k, v) in reference where threaded[k] != v { Issue.record("\(k) differs") }
        }
    }
}

/// A counter shared between a test and a thread it starts.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

@Suite("Alarm hooks cannot hurt the daemon")
struct AlarmHookTests {
    @Test("a hook that does not read its input, one that fails, one that hangs: each is logged, and the process goes on")
    func hooks() throws {
        signal(SIGPIPE, SIG_IGN)  // as the daemon does
        let dir = TemporaryDirectory("hooks")
        let lines = RecordingLogHandler.Lines()
        let logger = RecordingLogHandler.logger(lines)
        // A megabyte never read: the write must end in a broken pipe, not a crash.
        let deaf = AlarmHook(command: "/bin/true", timeoutUS: 5_000_000, logger: logger)
        deaf.run([UInt8](repeating: 65, count: 1 << 20), alarm: "well/W01/low")
        deaf.drain()
        #expect(lines.all.contains { $0.contains("did not take the alarm on its input") })
        let failing = dir.write("fail.sh", "#!/bin/sh\ncat > /dev/null\nexit 1\n")
        chmod(failing, 0o755)
        let fails = AlarmHook(command: failing, timeoutUS: 5_000_000, logger: logger)
        fails.run(Array("{}".utf8), alarm: "well/W01/low")
        fails.drain()
        #expect(lines.all.contains { $0.contains("the alarm hook failed") && $0.contains("status=1") }, "\(lines.all)")
        let hanging = dir.write("hang.sh", "#!/bin/sh\nexec sleep 60\n")
        chmod(hanging, 0o755)
        let hangs = AlarmHook(command: hanging, timeoutUS: 300_000, logger: logger)
        hangs.run(Array("{}".utf8), alarm: "well/W01/low")
        hangs.drain()
        #expect(lines.all.contains { $0.contains("was killed") }, "\(lines.all)")
        let missing = AlarmHook(command: dir.file("no-such-hook"), timeoutUS: 300_000, logger: logger)
        missing.run(Array("{}".utf8), alarm: "well/W01/low")
        missing.drain()
        #expect(lines.all.contains { $0.contains("cannot run the alarm hook") })
    }
}

@Suite("Who may command the alarms")
struct AlarmCommandGateTests {
    let now = Timestamp(seconds: 1_796_140_800)
    let key: [UInt8] = Array(0..<32)

    func gate(users: [String: [UInt8]] = [:]) -> AlarmCommandGate {
        var o = Configuration.AlarmOutputs()
        o.commandUsers = users
        return AlarmCommandGate(o)
    }

    func applied(_ v: AlarmCommandGate.Verdict) -> String? { if case .apply(_, let who) = v { return who } else { return nil } }
    func refused(_ v: AlarmCommandGate.Verdict) -> String? { if case .refuse(let why, _) = v { return why } else { return nil } }

    @Test("without users: an anonymous command may acknowledge, never suppress")
    func unsigned() {
        var g = gate()
        let century = g.judge(Array(#"{"action":"maintenance","match":"*","for":"36500d"}"#.utf8), now: now)
        #expect(refused(century)?.contains("may acknowledge or unshelve, not suppress") == true)
        let shelve = g.judge(Array(#"{"action":"shelve","rule":"r","scope":"well","id":"W01","for":"1h","by":"x"}"#.utf8), now: now)
        #expect(refused(shelve) != nil)
        #expect(applied(g.judge(Array(#"{"action":"ack","rule":"r","scope":"well","id":"W01","by":"duty"}"#.utf8), now: now)) == "duty (unsigned)")
    }

    @Test("with users: signed commands are taken once, fresh, within bounds; everything else is refused")
    func signed() throws {
        var g = gate(users: ["duty-1": key])
        let shelve = #"{"action":"shelve","rule":"r","scope":"well","id":"W01","for":"2h"}"#
        let message = try #require(AlarmCommandGate.sign(shelve, user: "duty-1", key: key, now: now))
        if case .apply(.shelve(_, _, _, let until, let by), let who) = g.judge(message, now: now) {
            #expect(by == "duty-1" && who == "duty-1 (signed)" && until == now + 7_200_000_000)
        } else {
            Issue.record("a signed shelve was not applied: \(g.judge(message, now: now)) \(String(decoding: message, as: UTF8.self))")
        }
        // Played again: refused.
        #expect(refused(g.judge(message, now: now + 1_000_000))?.contains("taken already") == true)
        // Stale, forged, unknown, unsigned, too long.
        let stale = try #require(AlarmCommandGate.sign(shelve, user: "duty-1", key: key, now: now))
        #expect(refused(g.judge(stale, now: now + 600_000_000))?.contains("too old") == true)
        let forged = try #require(AlarmCommandGate.sign(shelve, user: "duty-1", key: Array(repeating: 7, count: 32), now: now))
        #expect(refused(g.judge(forged, now: now))?.contains("does not match") == true)
        let stranger = try #require(AlarmCommandGate.sign(shelve, user: "mallory", key: key, now: now))
        #expect(refused(g.judge(stranger, now: now))?.contains("not in alarm_outputs.command_users") == true)
        #expect(refused(g.judge(Array(#"{"action":"ack","rule":"r","scope":"well","id":"W01"}"#.utf8), now: now))?.contains("unsigned") == true)
        let long = try #require(AlarmCommandGate.sign(#"{"action":"maintenance","match":"*","for":"36500d"}"#, user: "duty-1", key: key, now: now))
        #expect(refused(g.judge(long, now: now))?.contains("longer than alarm_outputs.max_maintenance (14d)") == true)
        // A tampered text under a good signature.
        let text = String(decoding: message, as: UTF8.self).replacingOccurrences(of: "2h", with: "9h")
        #expect(refused(g.judge(Array(text.utf8), now: now))?.contains("does not match") == true)
    }
}
