import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// Replay is the backtest of the alarm rules: it must raise what the live run raised, whatever
/// the batching; and a damaged line in a recording must not move time.
@Suite("Backtests", .serialized)
struct BacktestTests {
    /// The alarm records, as comparable lines.
    func alarms(_ records: [[String: Any]]) -> [String] {
        records.map { r in
            ["time", "rule", "scope", "id", "state", "value", "threshold", "suppressed_until"].map { "\(r[$0] ?? "-")" }.joined(separator: " ")
        }.sorted()
    }

    /// A `%U %t %p` recording: three wells every minute for `minutes`, from `start` (unix
    /// seconds); W02 silent from minute 10 to 50 (40 minutes), W03 from 15 to 35 (20 minutes).
    func outageRecording(start: Int, minutes: Int) -> String {
        var lines: [String] = []
        for m in 0..<minutes {
            let t = start + m * 60
            for (id, quiet) in [("W01", 0..<0), ("W02", 10..<50), ("W03", 15..<35)] where !quiet.contains(m) {
                lines.append("\(t).000000 cbm/F1/B1/\(id)/telemetry {\"ts\": \(t), \"gas_m3h\": 50}")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("a 40-minute outage run live at the recorded pace × 60 and replayed at full speed: the same alarm records")
    func liveAndReplaySameAlarms() throws {
        let broker = try MosquittoBroker()
        // At × 60 the live receive times are a sixtieth of the recording's: after 30s is its 30m.
        let daemon = Daemon(port: broker.port, extra: """
            alerts:
              - { name: silent, kind: no_data, scope: well, after: 30s, severity: critical }
            """)
        let start = Int(Date().timeIntervalSince1970) - 3 * 3600
        let recording = daemon.dir.write("outage.txt", outageRecording(start: start, minutes: 60))
        try daemon.start()
        // A field engineer's own recording alongside, with mosquitto_sub.
        let sub = try ChildProcess(which("mosquitto_sub")!, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "cbm/#",
                                                             "-F", "%U %t %p"], directory: daemon.dir.path, name: "recorder")
        Thread.sleep(forTimeInterval: 0.5)
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", "--speed", "60", recording],
                               timeout: 180)
        #expect(p.status == 0, "\(p.stderr)")
        let sent = outageRecording(start: start, minutes: 60).split(separator: "\n").count
        #expect(eventually(timeout: 30) { daemon.journaled >= sent })
        // Stop before the field's own end looks like silence (30 s of wall clock).
        #expect(daemon.stop() == 0)
        sub.signal(SIGTERM)
        _ = sub.wait(timeout: 5)
        let live = alarms(daemon.alerts)
        // W02's 40 minutes raise one alarm and clear it; W03's 20 minutes raise nothing.
        #expect(live.filter { $0.contains(" W02 ") }.count == 2, "\(live)")
        #expect(!live.contains { $0.contains(" W03 ") || $0.contains(" W01 ") }, "\(live)")

        // The daemon's journal replayed at full speed (the whole outage in one batch): the same records.
        let replayed = try daemon.replay(Journal.segments(in: daemon.dir.file("journal")), output: daemon.dir.file("from-journal"))
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(replayed.stdout.contains("alarms raised by silent: 1"), "\(replayed.stdout)")
        #expect(alarms(records(under: daemon.dir.file("from-journal/alerts"))) == live)

        // The mosquitto_sub recording: the same alarms, at times within its clock's distance of the daemon's.
        let r = try daemon.replay([sub.stdoutPath], output: daemon.dir.file("from-recorder"))
        #expect(r.status == 0, "\(r.stderr)")
        let recorded = records(under: daemon.dir.file("from-recorder/alerts"))
        let ours = daemon.alerts
        #expect(recorded.map { "\($0["id"]!) \($0["state"]!)" }.sorted() == ours.map { "\($0["id"]!) \($0["state"]!)" }.sorted())
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func time(_ r: [String: Any]) -> Double {
            let text = r["time"] as? String ?? ""
            return (formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text))?.timeIntervalSince1970 ?? 0
        }
        for (a, b) in zip(recorded.sorted { time($0) < time($1) }, ours.sorted { time($0) < time($1) }) {
            #expect(abs(time(a) - time(b)) < 1, "\(a) vs \(b)")
        }
    }

    @Test("replay in batches of 1, 7 and 1,000 across 1 and 3 partitions writes the same totals and alerts, byte for byte",
          arguments: ["10s", "2h"])
    func batchingDoesNotMatter(flushInterval: String) throws {
        let start = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 12 * 3600
        var trees: [[String: Data]] = []
        for (batch, partitions) in [(1, 1), (7, 3), (1000, 1), (1000, 3)] {
            let daemon = Daemon(port: 1, extra: """
                aggregation: { flush_interval: \(flushInterval) }
                pipeline: { batch: \(batch), partitions: \(partitions) }
                alerts:
                  - { name: silent, kind: no_data, scope: well, after: 30m }
                  - { name: low, kind: low_output, scope: well, window: hour, below: 0.5, clear_above: 0.6, on_delay: 1 }
                """)
            // Three hours of the outage field, with W01 low in the second hour.
            let text = outageRecording(start: start, minutes: 180)
                .split(separator: "\n").map { line -> String in
                    guard line.contains("/W01/"), let t = Int(line.prefix(while: { $0 != "." })), (start + 3600..<start + 7200).contains(t) else {
                        return String(line)
                    }
                    return String(line).replacingOccurrences(of: "\"gas_m3h\": 50", with: "\"gas_m3h\": 10")
                }.joined(separator: "\n") + "\n"
            let recording = daemon.dir.write("field.txt", text)
            let r = try daemon.replay([recording], output: daemon.dir.file("out"))
            #expect(r.status == 0, "\(r.stderr)")
            var tree: [String: Data] = [:]
            for family in ["totals", "alerts"] {
                let root = daemon.dir.file("out/\(family)")
                for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                    tree["\(family)/\(name)"] = FileManager.default.contents(atPath: root + "/" + name)
                }
            }
            #expect(tree.keys.contains { $0.hasPrefix("alerts/") })
            trees.append(tree)
        }
        let alertsText = trees[0].filter { $0.key.hasPrefix("alerts/") }.values.map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(alertsText.contains("\"id\":\"W02\"") && alertsText.contains("\"rule\":\"low\""), "\(alertsText)")
        for t in trees.dropFirst() {
            #expect(t.keys.sorted() == trees[0].keys.sorted())
            for (k, v) in trees[0] { #expect(t[k] == v, "\(k) differs") }
        }
    }

    @Test("a damaged receive time in a recording (2100, 9999) is rejected alone: no time moved, no false alarm, files named for the recording")
    func damagedReceiveTimes() throws {
        let daemon = Daemon(port: 1, extra: """
            alerts:
              - { name: silent, kind: no_data, scope: well, after: 30m }
            """)
        let start = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 12 * 3600
        let clean = outageRecording(start: start, minutes: 120)
        var lines = clean.split(separator: "\n").map(String.init)
        lines.insert("4102444800.000000 cbm/F1/B1/W03/telemetry {\"ts\": \(start + 3000), \"gas_m3h\": 50}", at: lines.count / 3)
        lines.insert("253402300000.000000 cbm/F1/B1/W01/gas_rate 50", at: lines.count / 2)
        let damaged = daemon.dir.write("damaged.txt", lines.joined(separator: "\n") + "\n")
        let reference = daemon.dir.write("clean.txt", clean)
        #expect(try daemon.replay([reference], output: daemon.dir.file("clean")).status == 0)
        let r = try daemon.replay([damaged], output: daemon.dir.file("damaged"))
        #expect(r.status == 0, "\(r.stderr)")
        let rejects = records(under: daemon.dir.file("damaged/rejects"))
        #expect(rejects.compactMap { $0["code"] as? String }.sorted() == ["receive_time_jump", "receive_time_jump"], "\(rejects)")
        // The same totals and alarms as the clean recording.
        expectSame(finalTotals(records(under: daemon.dir.file("clean/totals"))), as: finalTotals(records(under: daemon.dir.file("damaged/totals"))),
                   "clean vs damaged")
        #expect(alarms(records(under: daemon.dir.file("damaged/alerts"))) == alarms(records(under: daemon.dir.file("clean/alerts"))))
        // Every file is named for the recording's days.
        let year = Calendar(identifier: .gregorian).component(.year, from: Date(timeIntervalSince1970: Double(start)))
        for family in ["totals", "rejects", "alerts"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: daemon.dir.file("damaged/\(family)"))) ?? [] {
                #expect(name.hasPrefix("\(family)-\(year)") || name.hasPrefix("\(family)-\(year + 1)"), "\(family)/\(name)")
            }
        }
    }
}

@Suite("Hostile recordings fail a line, not the replay", .serialized)
struct HostileRecordingTests {
    @Test("receive times that overflow or jump, a line too long to hold: each reported with its line, the rest totalled")
    func hostileLines() throws {
        let daemon = Daemon(port: 1)
        let start = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 6 * 3600
        var good: [String] = []
        for m in 0..<120 { good.append("\(start + m * 60).000000 cbm/F1/B1/W02/telemetry {\"ts\": \(start + m * 60), \"gas_m3h\": 50}") }
        let clean = daemon.dir.write("clean.txt", good.joined(separator: "\n") + "\n")
        var hostile = good
        hostile.insert("99999999999999999999 cbm/F1/B1/W02/telemetry {\"ts\": \(start), \"gas_m3h\": 50}", at: 10)
        hostile.insert("9223372036850 cbm/F1/B1/W02/telemetry {\"ts\": \(start), \"gas_m3h\": 50}", at: 30)
        hostile.insert("\(start + 3000).5 cbm/F1/B1/W02/telemetry " + String(repeating: "x", count: 17 << 20), at: 60)
        let recording = daemon.dir.write("hostile.txt", hostile.joined(separator: "\n") + "\n")
        #expect(try daemon.replay([clean], output: daemon.dir.file("clean")).status == 0)
        let r = try daemon.replay([recording], output: daemon.dir.file("hostile"))
        #expect(r.status == 0, "\(r.stderr)")
        // Twenty digits of seconds cannot be a time, nor can a line of 17 MiB be held: unreadable,
        // with their lines. 9223372036850 s fits, far beyond the recording: a receive-time jump.
        #expect(r.stdout.contains("2 unreadable lines skipped"), "\(r.stdout)")
        #expect(r.stderr.contains("hostile.txt:11:") && r.stderr.contains("hostile.txt:61:"), "\(r.stderr.prefix(2000))")
        #expect(records(under: daemon.dir.file("hostile/rejects")).compactMap { $0["code"] as? String } == ["receive_time_jump"])
        expectSame(finalTotals(records(under: daemon.dir.file("hostile/totals"))), as: finalTotals(records(under: daemon.dir.file("clean/totals"))),
                   "hostile vs clean")
    }

    @Test("a gzipped journal that expands far beyond its size is streamed: under a 192 MiB address-space limit, the records around 256 MiB of garbage are read")
    func decompressionBomb() throws {
        guard let prlimit = which("prlimit") else { return }
        let daemon = Daemon(port: 1)
        let t = Int64(Date().timeIntervalSince1970) - 3 * 3600
        let dir = TemporaryDirectory("bomb")
        let journal = try Journal(directory: dir.path, policy: .never, after: 0)
        for i in 0..<6 {
            try journal.append(InboundMessage(topic: "cbm/F1/B1/W02/telemetry", payload: Array(#"{"ts": \#(t + Int64(i) * 60), "gas_m3h": 50}"#.utf8),
                                              receivedAt: Timestamp(seconds: t + Int64(i) * 60)))
        }
        journal.close()
        let segment = try #require(Journal.segments(in: dir.path).first)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        // The first three records, 256 MiB of zeros, the last three; gzip makes it a few hundred KiB.
        let third = 16 + (bytes.count - 16) / 2
        let py = """
            import gzip, sys
            data = open(sys.argv[1], 'rb').read()
            with gzip.open(sys.argv[2], 'wb', compresslevel=1) as f:
                f.write(data[:\(third)])
                z = bytes(1 << 20)
                for _ in range(256): f.write(z)
                f.write(data[\(third):])
            """
        let bomb = daemon.dir.file("bomb.cbmj.gz")
        #expect(try runProgram("/usr/bin/env", ["python3", "-c", py, segment, bomb]).status == 0)
        let size = try FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int ?? 0
        #expect(size < 2 << 20)
        let r = try runProgram(prlimit, ["--as=\(192 << 20)", cbmIngestBinary(), "replay", "--config", daemon.configPath,
                                         "--output", daemon.dir.file("out"), bomb], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("replayed 6 messages"), "\(r.stdout)")
        #expect(r.stderr.contains("268435456 damaged bytes"), "\(r.stderr)")
    }
}
