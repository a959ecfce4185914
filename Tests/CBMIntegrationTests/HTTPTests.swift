import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// The daemon's HTTP server with real clients: promtool, a real Prometheus, curl, and (in
/// ``StatusPageBrowserTests``) headless Chromium.
@Suite("HTTP: metrics, health, alarm commands", .serialized)
struct HTTPTests {
    /// The port the daemon's log says it listens on.
    static func port(_ child: ChildProcess) -> Int? {
        guard eventually(timeout: 20, { child.stderr.contains("http.address=") }),
              let range = child.stderr.range(of: #"http\.address=[^ ]*:([0-9]+)"#, options: .regularExpression) else { return nil }
        return Int(child.stderr[range].split(separator: ":").last!)
    }

    /// An HTTP request with curl: status and body.
    static func request(_ url: String, method: String = "GET", body: String? = nil, token: String? = nil) -> (status: Int, body: String) {
        var args = ["-s", "-w", "\n%{http_code}", "-X", method, "--max-time", "10"]
        if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        guard let r = try? runProgram(which("curl")!, args + [url], timeout: 15) else { return (0, "") }
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The value of one sample (`name{labels} value`, the labels as written) in a scrape.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    @Test("/metrics passes promtool check metrics; a real Prometheus scrapes it and its messages counter equals what was published")
    func prometheusScrape() throws {
        let promtool = try #require(which("promtool"), "promtool (Debian's prometheus package) is not installed")
        let prometheus = try #require(which("prometheus"), "prometheus is not installed")
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        let port = try #require(Self.port(child))
        let t0 = Int(Date().timeIntervalSince1970) - 3600
        let n = 57
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (0..<n).map { #"{"ts": \#(t0 + 60 * $0), "gas_m3h": 40}"# })
        #expect(eventually { daemon.journaled == n })
        let scrape = Self.request("http://127.0.0.1:\(port)/metrics")
        #expect(scrape.status == 200)
        let file = daemon.dir.write("metrics.txt", scrape.body + "\n")
        let check = try runProgram("/bin/sh", ["-c", "\(promtool) check metrics < \(file)"])
        #expect(check.status == 0, "promtool: \(check.stdout) \(check.stderr)")
        #expect(Self.sample(scrape.body, "cbm_ingest_messages_received_total") == Double(n), "\(scrape.body)")
        #expect(Self.sample(scrape.body, #"cbm_ingest_readings_total{measurement="gas_rate"}"#) == Double(n))
        #expect(Self.sample(scrape.body, "cbm_ingest_broker_connected") == 1)
        #expect(scrape.body.contains("cbm_ingest_journal_fsync_seconds_bucket"))

        // A real Prometheus, on loopback, scraping every second.
        let pport = try freePort()
        let dir = TemporaryDirectory("prometheus")
        let config = dir.write("prometheus.yml", """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            scrape_configs:
              - job_name: cbm-ingest
                static_configs: [{ targets: ["127.0.0.1:\(port)"] }]
            """)
        let server = try ChildProcess(prometheus, ["--config.file=\(config)", "--storage.tsdb.path=\(dir.file("data"))",
                                                   "--web.listen-address=127.0.0.1:\(pport)"], directory: dir.path, name: "prometheus")
        defer { _ = server.stop(timeout: 10) }
        var answer = ""
        #expect(eventually(timeout: 60, interval: 1) {
            answer = (try? runProgram(promtool, ["query", "instant", "http://127.0.0.1:\(pport)", "cbm_ingest_messages_received_total"]))?.stdout ?? ""
            return answer.contains("=> ")
        }, "\(server.stderr.suffix(2000))")
        // `cbm_ingest_messages_received_total{instance="…", job="cbm-ingest"} => 57 @[…]`
        let value = answer.components(separatedBy: "=> ").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect(value == Double(n), "\(answer)")
        #expect(daemon.stop() == 0)
    }

    @Test("/healthz turns 503 with a reason while the roll-up stage is stalled, and 200 after; /readyz is 200 once recovered")
    func healthWhileStalled() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let stall = daemon.dir.file("stall")
        let child = try daemon.start(environment: ProcessInfo.processInfo.environment.merging(["CBM_INGEST_STALL_ROLLUP_WHILE": stall]) { $1 })
        let port = try #require(Self.port(child))
        let base = "http://127.0.0.1:\(port)"
        #expect(Self.request(base + "/readyz").status == 200)
        #expect(eventually { Self.request(base + "/healthz").status == 200 })
        FileManager.default.createFile(atPath: stall, contents: Data())
        var unhealthy = (status: 0, body: "")
        #expect(eventually(timeout: 30, interval: 0.5) {
            unhealthy = Self.request(base + "/healthz")
            return unhealthy.status == 503
        })
        #expect(unhealthy.body.contains("probe"), "\(unhealthy.body)")
        // Ingestion itself goes on: the journal takes what comes.
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(Int(Date().timeIntervalSince1970) - 60), "gas_m3h": 1}"#)
        #expect(eventually { daemon.journaled == 1 })
        try FileManager.default.removeItem(atPath: stall)
        #expect(eventually(timeout: 30, interval: 0.5) { Self.request(base + "/healthz").status == 200 })
        #expect(daemon.stop() == 0)
    }

    @Test("bound beyond loopback: a write action without the token is refused (401) and changes nothing; with it, the alarm is acknowledged")
    func tokenForWrites() throws {
        let broker = try MosquittoBroker()
        let token = "s3cret-token-0123456789"
        let daemon = Daemon(port: broker.port, extra: """
            http: { listen: "0.0.0.0:0", token_file: token.txt }
            alerts:
              - { name: silent, kind: no_data, scope: well, ids: [W02], after: 2s, severity: critical }
            alarm_outputs: { mqtt_prefix: test/alarms, command_topic: test/alarms/command }
            """)
        chmod(daemon.dir.write("token.txt", token + "\n"), 0o600)
        let child = try daemon.start()
        let port = try #require(Self.port(child))
        #expect(!child.stderr.contains(token), "the token is never logged")
        let base = "http://127.0.0.1:\(port)"
        // W02 never reports: its no-data alarm becomes active.
        #expect(eventually(timeout: 30) { daemon.alerts.contains { $0["rule"] as? String == "silent" && $0["state"] as? String == "active" } })
        let body = #"{"rule": "silent", "scope": "well", "id": "W02", "by": "test"}"#
        for bad in [nil, "wrong-token-0123456789"] {
            let refused = Self.request(base + "/api/alarms/ack", method: "POST", body: body, token: bad)
            #expect(refused.status == 401, "\(refused)")
        }
        // Reads need no token (the status is the roll-up's latest snapshot: it comes at the cadence).
        var status = (status: 0, body: "")
        #expect(eventually(timeout: 30, interval: 0.5) {
            status = Self.request(base + "/api/status")
            return status.status == 200 && status.body.contains(#""rule":"silent""#)
        }, "\(status)")
        #expect(status.body.contains(#""acknowledged":false"#), "\(status.body)")
        #expect(!daemon.events.contains { $0["kind"] as? String == "alarm_command" })
        let taken = Self.request(base + "/api/alarms/ack", method: "POST", body: body, token: token)
        #expect(taken.status == 200, "\(taken)")
        #expect(eventually { Self.request(base + "/api/status").body.contains(#""acknowledged":true"#) })
        #expect(eventually { daemon.alerts.contains { $0["rule"] as? String == "silent" && $0["acknowledged"] as? Bool == true } })
        #expect(daemon.stop() == 0)
        let events = daemon.events.filter { $0["kind"] as? String == "alarm_command" }
        #expect(events.count == 1 && (events.first?["id"] as? String)?.contains("HTTP") == true, "\(events)")
    }

    @Test("SIGHUP with a new http.listen moves the server there; a new token takes effect at once")
    func reloadMoves() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        let old = try #require(Self.port(child))
        #expect(Self.request("http://127.0.0.1:\(old)/readyz").status == 200)
        let new = try freePort()
        let token = "reloaded-token-0123456789"
        chmod(daemon.dir.write("token.txt", token), 0o600)
        let yaml = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            .replacingOccurrences(of: #"http: { listen: "127.0.0.1:0" }"#, with: #"http: { listen: "127.0.0.1:\#(new)", token_file: token.txt }"#)
        try yaml.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        #expect(eventually { Self.request("http://127.0.0.1:\(new)/readyz").status == 200 })
        #expect(Self.request("http://127.0.0.1:\(old)/readyz").status == 0, "the old address no longer answers")
        let body = #"{"rule": "none", "scope": "well", "id": "W01"}"#
        #expect(Self.request("http://127.0.0.1:\(new)/api/alarms/ack", method: "POST", body: body).status == 401)
        #expect(daemon.stop() == 0)
    }

    @Test("a port that is taken is a startup error: exit 2 and a line that says which")
    func portTaken() throws {
        let broker = try MosquittoBroker()
        let first = Daemon(port: broker.port)
        let port = try #require(Self.port(try first.start()))
        let second = Daemon(port: broker.port, extra: #"http: { listen: "127.0.0.1:\#(port)" }"#)
        let child = try second.start(waitForSubscription: false)
        #expect(child.wait(timeout: 30) == 2)
        #expect(child.stderr.contains("cannot listen on 127.0.0.1:\(port)"), "\(child.stderr)")
        #expect(first.stop() == 0)
    }
}
