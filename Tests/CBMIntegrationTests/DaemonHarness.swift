import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// A `cbm-ingest run` child process against a test broker, with its configuration and output in
/// a temporary directory.
final class Daemon {
    let dir: TemporaryDirectory
    let configPath: String
    private(set) var child: ChildProcess?
    private var runs = 0

    /// The register every test uses: three wells in two blocks, a delivery meter, a flare.
    static let assets = """
        id,kind,field,block,sector,expected_gas_m3d
        W01,well,F1,B1,,1200
        W02,well,F1,B1,,800
        W03,well,F1,B2,,400
        M01,delivery,,,power,
        FL1,flare,F1,,,
        """

    /// The subscriptions every test uses unless it gives its own: JSON and value payloads.
    static let subscriptions = """
        subscriptions:
          - topic: cbm/+/+/+/telemetry
            template: cbm/{field}/{block}/{asset}/telemetry
            format: json
            time: ts
            values:
              gas_m3h: { measurement: gas_rate, unit: m3/h }
              gas_total: { measurement: gas_total, unit: 1e4m3, rollover: 100000 }
              casing_mpa: { measurement: casing_pressure, unit: MPa }
          - topic: cbm/+/+/+/+
            template: cbm/{field}/{block}/{asset}/{measurement}
            format: value
            basis: 0C
            units: { gas_rate: m3/h, water_rate: m3/d, temperature: degC }
        """

    /// Writes a configuration for the broker on `port`; `broker` and `extra` add YAML, and
    /// `subscriptions` replaces ``subscriptions``.
    init(port: Int, scheme: String = "mqtt", protocolVersion: String = "5", broker: String = "", extra: String = "",
         limits: String = "limits: { max_payload: 1KiB, max_future: 5m, max_past: 30d }",
         output: String = "output: { directory: out, readings: true }", journal: String = "journal: { directory: journal }",
         subscriptions: String? = nil) {
        dir = TemporaryDirectory("daemon")
        dir.write("assets.csv", Self.assets)
        configPath = dir.write("cbm-ingest.yaml", """
            broker:
              url: \(scheme)://127.0.0.1:\(port)
              client_id: cbm-test-\(UUID().uuidString.prefix(8))
              protocol: "\(protocolVersion)"
              reconnect: { min: 1s, max: 2s }
            \(broker)
            \(subscriptions ?? Self.subscriptions)
            assets: assets.csv
            \(limits)
            \(output)
            \(journal)
            \(extra.contains("http:") ? "" : "http: { listen: \"127.0.0.1:0\" }")
            \(extra)
            """)
    }

    var out: String { dir.file("out") }
    var readings: [[String: Any]] { records(under: dir.file("out/readings")) }
    var rejects: [[String: Any]] { records(under: dir.file("out/rejects")) }
    var totals: [[String: Any]] { records(under: dir.file("out/totals")) }
    var events: [[String: Any]] { records(under: dir.file("out/events")) }
    var alerts: [[String: Any]] { records(under: dir.file("out/alerts")) }
    /// How many messages its journal holds (it has received them).
    var journaled: Int {
        var n = 0
        _ = try? Journal.read(directory: dir.file("journal"), repair: false, damage: { _ in }) { _ in n += 1 }
        return n
    }

    /// Starts the daemon and, unless told otherwise, waits until it has subscribed.
    @discardableResult
    func start(waitForSubscription: Bool = true, environment: [String: String]? = nil, wrapper: [String] = [],
               timeout: Double = 20) throws -> ChildProcess {
        runs += 1
        let command = wrapper + [cbmIngestBinary(), "run", "--config", configPath, "--log-level", "debug"]
        let c = try ChildProcess(command[0], Array(command.dropFirst()),
                                 directory: dir.path, name: "daemon-\(runs)", environment: environment)
        child = c
        if waitForSubscription {
            guard eventually(timeout: timeout, { c.stderr.contains("subscription granted") || !c.isRunning }) else {
                throw BrokerError(message: "the daemon did not subscribe: \(c.stderr)")
            }
        }
        return c
    }

    /// SIGTERM; returns the exit status. It may take as long as the systemd unit allows
    /// (`TimeoutStopSec=60s`): a stop writes what a backfill left to correct, and a busy machine
    /// running the whole suite made that take longer than 20 s.
    @discardableResult
    func stop() -> Int32? {
        defer { child = nil }
        return child?.stop(timeout: 60)
    }
}

extension Daemon {
    /// Runs `cbm-ingest replay` with this daemon's configuration into `output`; returns its status
    /// and output.
    @discardableResult
    func replay(_ recordings: [String], output: String, extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProgram(cbmIngestBinary(), ["replay", "--config", configPath, "--output", output] + extra + recordings, timeout: 120)
    }
}

/// The final figures of totals records: the highest revision of each (window, start, scope, id),
/// without the revision number.
func finalTotals(_ records: [[String: Any]]) -> [String: String] {
    var best: [String: (Int, [String: Any])] = [:]
    for r in records {
        let key = "\(r["window"]!) \(r["start"]!) \(r["scope"]!) \(r["id"]!)"
        let rev = r["revision"] as? Int ?? 0
        if (best[key]?.0 ?? -1) < rev { best[key] = (rev, r) }
    }
    return best.mapValues { entry in
        var r = entry.1
        r["revision"] = nil
        return r.keys.sorted().map { "\($0)=\(r[$0]!)" }.joined(separator: ",")
    }
}

/// Every closed window of `live` has the same final figures in `reference`, and both have the
/// same hours.
func expectSame(_ live: [String: String], as reference: [String: String], _ what: String) {
    #expect(!live.isEmpty)
    var differing = 0
    for (k, v) in live where reference[k] != v {
        differing += 1
        if differing <= 3 { Issue.record("\(what): \(k)\n  live: \(v)\n  reference: \(reference[k] ?? "missing")") }
    }
    #expect(differing == 0, "\(what): \(differing) windows differ")
    let hours = { (d: [String: String]) in Set(d.keys.filter { $0.hasPrefix("hour ") }) }
    #expect(hours(live) == hours(reference), "\(what): different hours")
}

/// A recording in `mosquitto_sub -F '%U %t %p'` form: JSON telemetry of two wells and a delivery
/// meter, `count` messages over the nine hours before the last one, one every `step` seconds.
func fieldRecording(count: Int, endingAgo: Int = 7200) -> String {
    let end = Int(Date().timeIntervalSince1970) - endingAgo
    let start = end - 9 * 3600
    var lines: [String] = []
    for i in 0..<count {
        let t = start + i * 9 * 3600 / count
        let fraction = String(format: "%06d", (i * 7919) % 1_000_000)
        switch i % 3 {
        case 0: lines.append("\(t).\(fraction) cbm/F1/B1/W01/telemetry {\"ts\": \(t), \"gas_total\": \(Double(i) * 0.0123)}")
        case 1: lines.append("\(t).\(fraction) cbm/F1/B1/W02/telemetry {\"ts\": \(t), \"gas_m3h\": \(40 + i % 17)}")
        default: lines.append("\(t).\(fraction) cbm/x/y/M01/telemetry {\"ts\": \(t), \"gas_total\": \(Double(i) * 0.0061)}")
        }
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The final figure of every totals record: (window, start, scope, id) → field → value.
func finalFigures(_ records: [[String: Any]]) -> [String: [String: Double]] {
    var best: [String: (Int, [String: Any])] = [:]
    for r in records {
        let key = "\(r["window"]!)|\(r["start"]!)|\(r["scope"]!)|\(r["id"]!)"
        let rev = r["revision"] as? Int ?? 0
        if (best[key]?.0 ?? -1) < rev { best[key] = (rev, r) }
    }
    return best.mapValues { $0.1.compactMapValues { $0 as? Double } }
}

/// Compares the truth with the totals; returns how many truth values were checked.
@discardableResult
func compareWithTruth(_ path: String, with totals: [[String: Any]], windows: Set<String>) -> Int {
    let final = finalFigures(totals)
    var checked = 0, differing = 0
    for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
        guard let t = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let window = t["window"] as? String, windows.contains(window) else { continue }
        let key = "\(window)|\(t["start"]!)|\(t["scope"]!)|\(t["id"]!)"
        for field in ["gas_m3", "utilised_m3", "flared_m3"] {
            guard let expected = t[field] as? Double else { continue }
            checked += 1
            let got = final[key]?[field]
            if got == nil || abs(got! - expected) > 1e-9 * max(1, abs(expected)) {
                differing += 1
                if differing <= 3 { Issue.record("\(key) \(field): truth \(expected), ingester \(String(describing: got))") }
            }
        }
    }
    #expect(differing == 0, "\(differing) of \(checked) figures differ")
    return checked
}

func useSimulatedField(_ daemon: Daemon, _ dir: String, replacing extra: [(String, String)] = []) throws {
    // The daemon's harness configuration with the simulated register and the example's layouts.
    let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/cbm-ingest.yaml")
    var yaml = try String(contentsOf: example, encoding: .utf8)
    let port = (try String(contentsOfFile: daemon.configPath, encoding: .utf8)).components(separatedBy: "mqtt://127.0.0.1:")[1].prefix { $0.isNumber }
    yaml = yaml.replacingOccurrences(of: "url: mqtt://127.0.0.1:1883", with: "url: mqtt://127.0.0.1:\(port)")
        .replacingOccurrences(of: "client_id: cbm-ingest-jinzhong", with: "client_id: cbm-sim-\(UUID().uuidString.prefix(6))")
        .replacingOccurrences(of: "assets: assets.csv", with: "assets: \(dir)/assets.csv")
        .replacingOccurrences(of: "directory: /var/lib/cbm-ingest/out", with: "directory: out")
        .replacingOccurrences(of: "directory: /var/lib/cbm-ingest/journal", with: "directory: journal")
        .replacingOccurrences(of: "readings: false", with: "readings: true ")
        .replacingOccurrences(of: "listen: 127.0.0.1:9108", with: "listen: \"127.0.0.1:0\"")
    for (a, b) in extra { yaml = yaml.replacingOccurrences(of: a, with: b) }
    try yaml.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
}
