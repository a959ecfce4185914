import CBMTestSupport
import Foundation
import Testing

/// The status page in a real browser: headless Chromium driven by selenium, against the real
/// daemon fed a simulated field through a real broker.
@Suite("Status page in headless Chromium", .serialized)
struct StatusPageBrowserTests {
    static let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers/status_page.py").path

    /// Chromium, its driver and selenium, or why the test cannot run.
    static var missing: String? {
        if which("chromium") == nil { return "chromium is not installed" }
        if which("chromedriver") == nil { return "chromedriver (chromium-driver) is not installed" }
        if (try? runProgram(which("python3") ?? "/usr/bin/python3", ["-c", "import selenium"]))?.status != 0 { return "selenium (PyPI) is not installed" }
        return nil
    }

    /// Where the screenshot is kept: `$TEST_ARTIFACTS`, or `.build/artifacts/` of the package.
    static var artifacts: String {
        let dir = ProcessInfo.processInfo.environment["TEST_ARTIFACTS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/artifacts").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("the page loads without console errors; its gas-day total is the simulator's truth; a silenced well shows silent; Acknowledge changes the alarm's retained MQTT state",
          .enabled(if: missing == nil, "headless Chromium is not available here: \(missing ?? "")"))
    func page() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        // Six hours of 30 wells ending at a whole hour at least seven minutes ago (every hour
        // closed by the wall clock, its lateness past); the last two wells' RTUs are dead.
        let now = Int(Date().timeIntervalSince1970)
        let end = (now - 420) / 3600 * 3600
        let start = end - 6 * 3600
        let sim = daemon.dir.file("sim")
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "30", "--hours", "6", "--seed", "17",
                                                   "--outages", "0", "--silent-wells", "2", "--out", sim,
                                                   "--start", ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(start)))])
        #expect(s.status == 0, "\(s.stderr)")
        // Those two have a no-data rule of their own, quick to fire; the rest of the field the
        // example's (30 minutes).
        let register = try String(contentsOfFile: sim + "/assets.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",") }
        let wells = register.filter { $0.count > 1 && $0[1] == "well" }.map { String($0[0]) }
        let silenced = Array(wells.suffix(2))
        try useSimulatedField(daemon, sim, replacing: [
            ("refresh: 30s", "refresh: 600s"),
            ("alerts:\n", "alerts:\n  - { name: rtu-dead, kind: no_data, scope: well, ids: [\(silenced.joined(separator: ", "))], after: 3s, severity: critical }\n"),
        ])
        let child = try daemon.start()
        let port = try #require(HTTPTests.port(child))
        let lines = try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8).split(separator: "\n")
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", sim + "/recording.txt"], timeout: 120)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(eventually(timeout: 60) { daemon.journaled == lines.count })
        // The silenced wells' no-data alarms, and a snapshot that has every message.
        let base = "http://127.0.0.1:\(port)"
        var status = ""
        #expect(eventually(timeout: 60, interval: 1) {
            status = HTTPTests.request(base + "/api/status").body
            guard let v = try? JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any],
                  let alarms = v["alarms"] as? [[String: Any]] else { return false }
            return silenced.allSatisfy { id in alarms.contains { $0["id"] as? String == id && $0["rule"] as? String == "rtu-dead" } }
        }, "\(status.prefix(3000))")
        let view = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        let gasDayStart = try #require((view["gas_day"] as? [String: Any])?["start"] as? String)

        // The browser.
        let shot = Self.artifacts + "/status-page.png"
        let alarm = "well/\(silenced[0])/rtu-dead"
        let topic = "cbm/alarms/\(alarm)"
        let before = retained(broker, topic)
        #expect(before.contains(#""acknowledged":false"#), "\(before)")
        let r = try runProgram(which("python3")!, [Self.peer, base + "/?lang=zh", shot, alarm], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
        #expect((shown["console_errors"] as? [Any])?.isEmpty == true, "\(shown["console_errors"] ?? "")")
        let page = try #require(shown["before"] as? [String: Any])
        #expect((page["svg"] as? Int ?? 0) >= 3)
        // Its total is the truth of the gas day's hours so far (the hours of the simulation in it).
        let truth = Self.truthOfDay(sim + "/truth.jsonl", from: gasDayStart)
        let total = Double(page["total_gas_day"] as? String ?? "") ?? -1
        #expect(abs(total - truth) <= 1e-6 * max(1, truth), "page \(total), truth \(truth) for the gas day from \(gasDayStart)")
        let states = try #require(page["wells"] as? [String: String])
        #expect(states.count == wells.count)
        for id in silenced { #expect(states[id] == "silent", "\(id): \(states[id] ?? "none")") }
        #expect(states.values.filter { $0 == "silent" }.count == silenced.count, "\(states)")
        // Acknowledge, pressed in the page: the retained state says so.
        #expect(eventually(timeout: 20) { retained(broker, topic).contains(#""acknowledged":true"#) }, "\(retained(broker, topic))")
        #expect(FileManager.default.fileExists(atPath: shot))
        #expect(daemon.stop() == 0)
    }

    func retained(_ broker: MosquittoBroker, _ topic: String) -> String {
        (try? runProgram(which("mosquitto_sub")!, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", topic, "-C", "1", "-W", "3"]))?.stdout ?? ""
    }

    /// The simulator's production (scope all) in the hours from the gas day's start.
    static func truthOfDay(_ path: String, from start: String) -> Double {
        let from = ISO8601DateFormatter().date(from: start)!
        var sum = 0.0
        for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let t = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  t["window"] as? String == "hour", t["scope"] as? String == "all",
                  let s = (t["start"] as? String).flatMap({ ISO8601DateFormatter().date(from: $0) }), s >= from else { continue }
            sum += t["gas_m3"] as? Double ?? 0
        }
        return sum
    }
}
