import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// The journal, checkpoints, recovery and replay, with the real binary and a real broker.
@Suite("Recovery and replay", .serialized)
struct RecoveryTests {
    /// Distinct (asset, measurement, time) readings written, whatever the repeats across restarts.
    func uniqueReadings(_ d: Daemon) -> Int {
        Set(d.readings.map { "\($0["asset"]!) \($0["measurement"]!) \($0["time"]!)" }).count
    }

    @Test("SIGKILL at random moments mid-stream, three times: the totals equal an uninterrupted run's and a replay's")
    func killNine() throws {
        let broker = try MosquittoBroker()
        let killed = Daemon(port: broker.port)
        let steady = Daemon(port: broker.port)
        let recording = killed.dir.write("field.txt", fieldRecording(count: 3000))
        let replayed = try killed.replay([recording], output: killed.dir.file("replay-out"))
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let reference = finalTotals(records(under: killed.dir.file("replay-out/totals")))

        try killed.start()
        try steady.start()
        // About three seconds of publishing: nine hours of telemetry at 10,800 times its pace.
        let publisher = try ChildProcess(cbmIngestBinary(), ["replay", "--config", killed.configPath, "--publish", "--speed", "10800", recording],
                                         directory: killed.dir.path, name: "publisher")
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: Double.random(in: 0.2...0.8))
            let child = try #require(killed.child)
            child.signal(SIGKILL)
            #expect(child.wait(timeout: 10) == 128 + SIGKILL)
            try killed.start()
        }
        #expect(publisher.wait(timeout: 120) == 0, "\(publisher.stderr)")
        #expect(eventually(timeout: 60) { uniqueReadings(killed) == 3000 && uniqueReadings(steady) == 3000 })
        #expect(killed.stop() == 0)
        #expect(steady.stop() == 0)
        #expect(killed.child == nil)
        let recoveries = (1...4).map { (try? String(contentsOfFile: killed.dir.file("daemon-\($0).stderr"), encoding: .utf8)) ?? "" }
        #expect(recoveries.dropFirst().allSatisfy { $0.contains("recovered") })
        expectSame(finalTotals(killed.totals), as: reference, "killed vs replay")
        expectSame(finalTotals(steady.totals), as: reference, "uninterrupted vs replay")
        // And what the daemon journaled replays to the same totals.
        let journal = Journal.segments(in: killed.dir.file("journal"))
        let again = try killed.replay(journal, output: killed.dir.file("journal-replay"))
        #expect(again.status == 0, "\(again.stderr)")
        expectSame(finalTotals(killed.totals), as: finalTotals(records(under: killed.dir.file("journal-replay/totals"))), "killed vs its journal")
    }

    @Test("a broker restart mid-stream with a persistent session: nothing lost, nothing counted twice")
    func brokerRestart() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let lines = fieldRecording(count: 2000).split(separator: "\n").map(String.init)
        let first = daemon.dir.write("first.txt", lines[..<1000].joined(separator: "\n") + "\n")
        let second = daemon.dir.write("second.txt", lines[1000...].joined(separator: "\n") + "\n")
        let all = daemon.dir.write("all.txt", lines.joined(separator: "\n") + "\n")
        #expect(try daemon.replay([all], output: daemon.dir.file("replay-out")).status == 0)
        let reference = finalTotals(records(under: daemon.dir.file("replay-out/totals")))
        let child = try daemon.start()
        let p1 = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", first])
        #expect(p1.status == 0, "\(p1.stderr)")
        broker.stop()
        #expect(eventually { child.stderr.contains("connection lost") })
        try broker.start()
        let p2 = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", second])
        #expect(p2.status == 0, "\(p2.stderr)")
        #expect(eventually(timeout: 60) { uniqueReadings(daemon) == 2000 })
        #expect(daemon.stop() == 0)
        expectSame(finalTotals(daemon.totals), as: reference, "after a broker restart vs replay")
    }

    @Test("a journal with a damaged record and a torn tail: recovery skips and cuts, says so, and goes on")
    func damagedJournal() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let dir = daemon.dir.file("journal")
        let journal = try Journal(directory: dir, policy: .always, after: 0)
        let t = Int(Date().timeIntervalSince1970) - 3600
        for i in 0..<30 {
            try journal.append(InboundMessage(topic: "cbm/F1/B1/W02/telemetry", payload: Array(#"{"ts": \#(t + i * 60), "gas_m3h": \#(i + 1)}"#.utf8),
                                              receivedAt: Timestamp(seconds: Int64(t + i * 60))))
        }
        journal.close()
        let segment = try #require(Journal.segments(in: dir).first)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        // Record 10 is damaged: flip a byte of its payload. Then half a record at the end.
        let recordLength = (bytes.count - 16) / 30
        bytes[16 + 9 * recordLength + recordLength - 3] ^= 0x55
        bytes += Array(bytes[16..<(16 + recordLength / 2)])
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let child = try daemon.start()
        #expect(child.stderr.contains("journal.replayed=29"))
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t), "gas_m3h": 1000}"#)
        #expect(eventually { daemon.readings.count == 30 })
        #expect(daemon.stop() == 0)
        let kinds = daemon.events.compactMap { $0["kind"] as? String }
        #expect(kinds.contains("journal_record_skipped"))
        #expect(kinds.contains("journal_tail_cut"))
        #expect(Set(daemon.readings.compactMap { $0["value"] as? Double }).count == 30)
        #expect(!daemon.readings.contains { $0["value"] as? Double == 240 })  // the damaged record's 10 m3/h
    }

    @Test("replay of each recording format gives the live run's totals; two replays write identical files")
    func replayFormats() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let count = 1500
        let recording = daemon.dir.write("field.txt", fieldRecording(count: count))
        try daemon.start()
        let sub = which("mosquitto_sub")!
        let json = try ChildProcess(sub, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "cbm/#", "-C", "\(count)", "-F", "%j"],
                                    directory: daemon.dir.path, name: "recording-json")
        let text = try ChildProcess(sub, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "cbm/#", "-C", "\(count)", "-F", "%U %t %p"],
                                    directory: daemon.dir.path, name: "recording-text")
        Thread.sleep(forTimeInterval: 0.5)
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", recording])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(json.wait(timeout: 30) == 0 && text.wait(timeout: 30) == 0)
        #expect(eventually(timeout: 60) { uniqueReadings(daemon) == count })
        #expect(daemon.stop() == 0)
        let live = finalTotals(daemon.totals)
        #expect(json.stdout.contains("\"tst\":\"") && json.stdout.contains("Z+0000"))
        try Gzip.compress(json.stdoutPath, to: daemon.dir.file("recording.json.gz"))

        let inputs: [(String, [String])] = [
            ("journal", Journal.segments(in: daemon.dir.file("journal"))),
            ("mosquitto_sub -F %j", [json.stdoutPath]),
            ("mosquitto_sub -F '%U %t %p'", [text.stdoutPath]),
            ("gzip of %j", [daemon.dir.file("recording.json.gz")]),
        ]
        for (i, input) in inputs.enumerated() {
            let out = daemon.dir.file("replay-\(i)")
            let r = try daemon.replay(input.1, output: out)
            #expect(r.status == 0, "\(input.0): \(r.stderr)")
            #expect(r.stdout.contains("replayed \(count) messages"), "\(input.0): \(r.stdout)")
            expectSame(live, as: finalTotals(records(under: out + "/totals")), "live vs replay of \(input.0)")
        }
        // Two replays of one recording: the same files, byte for byte.
        let a = daemon.dir.file("twice-a"), b = daemon.dir.file("twice-b")
        #expect(try daemon.replay([recording], output: a).status == 0)
        #expect(try daemon.replay([recording], output: b).status == 0)
        func tree(_ root: String) -> [String: Data] {
            var out: [String: Data] = [:]
            for case let name as String in FileManager.default.enumerator(atPath: root)?.allObjects ?? [] {
                if let d = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent(name)) { out[name] = d }
            }
            return out
        }
        let ta = tree(a), tb = tree(b)
        #expect(ta.keys.sorted() == tb.keys.sorted())
        #expect(ta.keys.contains { $0.hasPrefix("totals/") } && ta.keys.contains("latest.json"))
        for (k, v) in ta { #expect(tb[k] == v, "\(k) differs") }
    }
}
