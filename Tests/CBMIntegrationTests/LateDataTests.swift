import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// Late data of any age up to `limits.max_past`, through the real binary and a real broker: a
/// daemon down for two days, a store-and-forward backfill, redeliveries and kills. Every closed
/// window must equal the simulator's truth.
@Suite("Late data", .serialized)
struct LateDataTests {
    /// A simulated field whose telemetry ends at the last whole hour before an hour ago (so every
    /// hour of it is closed by the wall clock), in the example configuration.
    struct Field {
        let broker: MosquittoBroker
        let daemon: Daemon
        let sim: String
        /// The recording's lines, in receive order.
        let lines: [String]
        let start: Int

        init(wells: Int, hours: Int, interval: Int, extra: [String] = [], config: [(String, String)] = []) throws {
            broker = try MosquittoBroker()
            daemon = Daemon(port: broker.port)
            sim = daemon.dir.file("sim")
            start = (Int(Date().timeIntervalSince1970) / 3600 - 1 - hours) * 3600
            let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "\(wells)", "--hours", "\(hours)",
                                                       "--interval", "\(interval)", "--seed", "14", "--out", sim,
                                                       "--start", ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(start)))] + extra)
            #expect(s.status == 0, "\(s.stderr)")
            try useSimulatedField(daemon, sim, replacing: config)
            lines = try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        }

        /// Publishes these lines (QoS 1, as fast as the broker takes them) and waits for the
        /// acknowledgements.
        func publish(_ part: ArraySlice<String>, name: String) throws {
            let file = daemon.dir.write("\(name).txt", part.joined(separator: "\n") + "\n")
            let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", file], timeout: 300)
            #expect(p.status == 0, "\(p.stderr)")
        }

        /// The line's receive time.
        static func received(_ line: String) -> Double { Double(line.prefix { $0 != " " })! }
    }

    /// The truth's windows that have closed (end plus the allowed lateness before now) against the
    /// final figures written; returns how many figures were checked, by window kind.
    @discardableResult
    static func expectClosedEqualTruth(_ f: Field, _ what: String) -> [String: Int] {
        let final = finalFigures(f.daemon.totals)
        let now = Date().addingTimeInterval(-360)
        var zone = Calendar(identifier: .gregorian)
        zone.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        let parser = ISO8601DateFormatter()
        var checked: [String: Int] = [:], differing = 0
        for line in ((try? String(contentsOfFile: f.sim + "/truth.jsonl", encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let t = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let window = t["window"] as? String, let startText = t["start"] as? String, let start = parser.date(from: startText) else { continue }
            let end: Date
            switch window {
            case "hour": end = start.addingTimeInterval(3600)
            case "day": end = start.addingTimeInterval(86_400)
            default: end = zone.date(byAdding: .month, value: 1, to: start)!
            }
            guard end <= now else { continue }
            let key = "\(window)|\(startText)|\(t["scope"]!)|\(t["id"]!)"
            for field in ["gas_m3", "utilised_m3", "flared_m3"] {
                guard let expected = t[field] as? Double else { continue }
                checked[window, default: 0] += 1
                let got = final[key]?[field]
                if got == nil || abs(got! - expected) > 1e-9 * max(1, abs(expected)) {
                    differing += 1
                    if differing <= 3 { Issue.record("\(what): \(key) \(field): truth \(expected), written \(String(describing: got))") }
                }
            }
        }
        #expect(differing == 0, "\(what): \(differing) of \(checked.values.reduce(0, +)) figures differ")
        return checked
    }

    /// Waits until the daemon has journaled `count` messages.
    static func journaled(_ d: Daemon, _ count: Int, timeout: Double = 120) -> Bool {
        eventually(timeout: timeout, interval: 0.5) { d.journaled >= count }
    }

    @Test("the daemon down for 50 hours while the publisher goes on (a persistent session queues it): every closed hour, gas day and month equals the truth")
    func daemonDownTwoDays() throws {
        let f = try Field(wells: 24, hours: 56, interval: 600)
        let outage = Double(f.start + 6 * 3600)
        let before = f.lines.prefix { Field.received($0) < outage }
        try f.daemon.start()
        try f.publish(before, name: "before")
        #expect(Self.journaled(f.daemon, before.count))
        #expect(f.daemon.stop() == 0)
        // Fifty hours of telemetry while it is down: the broker queues them for its session.
        try f.publish(f.lines[before.count...], name: "during")
        try f.daemon.start()
        #expect(Self.journaled(f.daemon, f.lines.count))
        #expect(f.daemon.stop() == 0)
        let checked = Self.expectClosedEqualTruth(f, "after the outage")
        #expect(checked["hour", default: 0] > 2000 && checked["day", default: 0] > 20, "\(checked)")
        #expect(!f.daemon.rejects.contains { ($0["code"] as? String) == "time_too_old" })
        // The old hours went through the archive.
        #expect(FileManager.default.fileExists(atPath: f.daemon.dir.file("journal/archive/history.sqlite")))
    }

    @Test("twenty wells' 3-day store-and-forward backfill after the live stream: each affected window revised once, equal to the truth; other wells' windows not written again")
    func backfillRevisedOnce() throws {
        // Corrections go out when the watermark (the wall clock) passes a multiple of 20 s.
        let f = try Field(wells: 40, hours: 76, interval: 900, extra: ["--backfill-wells", "20", "--backfill-hours", "72", "--outages", "0"],
                          config: [("flush_interval: 10s", "flush_interval: 20s")])
        let liveEnd = Double(f.start + 76 * 3600 + 900)
        let live = f.lines.prefix { Field.received($0) < liveEnd }
        try f.daemon.start()
        try f.publish(live, name: "live")
        #expect(Self.journaled(f.daemon, live.count))
        // Past the next flush point, everything so far is written.
        func waitForFlushPoint(after seconds: Int) {
            let now = Date().timeIntervalSince1970
            let next = (floor(now / 20) + 1) * 20 + Double(seconds)
            Thread.sleep(forTimeInterval: next - now)
        }
        waitForFlushPoint(after: 3)
        var before: [String: Int] = [:]
        for r in f.daemon.totals { before["\(r["window"]!)|\(r["start"]!)|\(r["scope"]!)|\(r["id"]!)", default: 0] += 1 }
        // The backfill, all of it between two flush points.
        try f.publish(f.lines[live.count...], name: "backfill")
        #expect(Self.journaled(f.daemon, f.lines.count))
        waitForFlushPoint(after: 3)
        #expect(f.daemon.stop() == 0)
        let checked = Self.expectClosedEqualTruth(f, "after the backfill")
        #expect(checked["hour", default: 0] > 3000, "\(checked)")
        // The wells whose history was held back: those in the backfill's topics.
        let held = Set(f.lines[live.count...].compactMap { $0.split(separator: " ")[1].split(separator: "/").dropFirst(3).first.map(String.init) })
        #expect(held.count == 20)
        var after: [String: Int] = [:]
        for r in f.daemon.totals { after["\(r["window"]!)|\(r["start"]!)|\(r["scope"]!)|\(r["id"]!)", default: 0] += 1 }
        var revised = 0
        for (key, n) in after {
            let parts = key.split(separator: "|")
            let new = n - before[key, default: 0]
            #expect(new <= 1, "\(key) written \(new) times by the backfill")
            if parts[2] == "well" && !held.contains(String(parts[3])) { #expect(new == 0, "\(key): another well's window written again") }
            if new == 1 && before[key] != nil { revised += 1 }
        }
        // The backfilled wells' hours, days and month, and every roll-up above them.
        #expect(revised > 100, "\(revised) windows revised")
    }

    @Test("the same old readings delivered twice, before and after a kill -9, count once")
    func duplicatesAcrossKill() throws {
        let f = try Field(wells: 12, hours: 30, interval: 600)
        try f.daemon.start()
        try f.publish(f.lines[...], name: "first")
        #expect(Self.journaled(f.daemon, f.lines.count))
        // Past a checkpoint (every 30 s), so the archive holds them; then killed.
        Thread.sleep(forTimeInterval: 32)
        let child = try #require(f.daemon.child)
        child.signal(SIGKILL)
        #expect(child.wait(timeout: 10) == 128 + SIGKILL)
        try f.daemon.start()
        try f.publish(f.lines[...], name: "again")
        #expect(Self.journaled(f.daemon, 2 * f.lines.count))
        #expect(f.daemon.stop() == 0)
        let checked = Self.expectClosedEqualTruth(f, "delivered twice")
        #expect(checked["hour", default: 0] > 1000, "\(checked)")
    }

    @Test("a kill -9 in the middle of a large backfill, then a restart: exact totals")
    func killDuringBackfill() throws {
        let f = try Field(wells: 60, hours: 50, interval: 300, extra: ["--backfill-wells", "60", "--backfill-hours", "48", "--outages", "0"],
                          config: [("checkpoint_interval: 30s", "checkpoint_interval: 1s")])
        try f.daemon.start()
        let publisher = try ChildProcess(cbmIngestBinary(), ["replay", "--config", f.daemon.configPath, "--publish",
                                                             f.daemon.dir.write("all.txt", f.lines.joined(separator: "\n") + "\n")],
                                         directory: f.daemon.dir.path, name: "publisher")
        // Killed twice, with a third and two thirds of the backfill in.
        for share in [0.35, 0.7] {
            #expect(Self.journaled(f.daemon, Int(Double(f.lines.count) * share)))
            let child = try #require(f.daemon.child)
            child.signal(SIGKILL)
            #expect(child.wait(timeout: 10) == 128 + SIGKILL)
            // (Recovery replays the journal after the last checkpoint: on a busy machine, slowly.)
            try f.daemon.start(timeout: 120)
        }
        #expect(publisher.wait(timeout: 300) == 0, "\(publisher.stderr)")
        #expect(Self.journaled(f.daemon, f.lines.count))
        #expect(f.daemon.stop() == 0)
        let recoveries = (2...3).map { (try? String(contentsOfFile: f.daemon.dir.file("daemon-\($0).stderr"), encoding: .utf8)) ?? "" }
        #expect(recoveries.allSatisfy { $0.contains("recovered") })
        let checked = Self.expectClosedEqualTruth(f, "killed mid-backfill")
        #expect(checked["hour", default: 0] > 4000, "\(checked)")
    }

    @Test("a reading older than limits.max_past is rejected with a reason that names it; one a day inside it is totalled")
    func olderThanMaxPast() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, limits: "limits: { max_payload: 1KiB, max_future: 5m, max_past: 7d }")
        try daemon.start()
        let now = Int(Date().timeIntervalSince1970)
        let old = now - 8 * 86_400, inside = (now - 6 * 86_400) / 3600 * 3600
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: [
            #"{"ts": \#(old), "gas_m3h": 50}"#,
            #"{"ts": \#(inside), "gas_m3h": 60}"#, #"{"ts": \#(inside + 600), "gas_m3h": 60}"#,
        ])
        #expect(eventually(timeout: 20) { daemon.rejects.count == 1 && daemon.readings.count == 2 })
        #expect(daemon.stop() == 0)
        let reject = try #require(daemon.rejects.first)
        #expect(reject["code"] as? String == "time_too_old")
        #expect((reject["reason"] as? String)?.contains("limits.max_past is 7d") == true, "\(reject)")
        // The two readings six days old: ten minutes at 60 m3/h, in their hour.
        let hour = daemon.totals.filter { $0["window"] as? String == "hour" && $0["scope"] as? String == "well" && $0["id"] as? String == "W01" }
        #expect(hour.contains { abs(($0["gas_m3"] as? Double ?? 0) - 10) < 1e-9 }, "\(hour)")
    }
}
