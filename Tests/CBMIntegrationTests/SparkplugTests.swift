import CBMTestSupport
import Foundation
import Testing

/// A real Sparkplug B edge node (pysparkplug, `Tests/Peers/sparkplug_edge_node.py`) through a
/// real mosquitto into the real binary.
@Suite("Sparkplug B end to end", .serialized)
struct SparkplugTests {
    static let subscriptions = """
        subscriptions:
          - topic: spBv1.0/field/+/rtu1/#
            format: sparkplug_b
            asset: "{device}"
            values:
              Gas/Total: { measurement: gas_total, unit: m3 }
              Gas/Flow: { measurement: gas_rate, unit: m3/h }
        """

    /// The edge node's devices (W01, W02, W03).
    static let devices = 3

    static let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers/sparkplug_edge_node.py").path

    /// The start of the hour three hours ago, plus five minutes, in milliseconds: the data's
    /// twenty minutes stay in one hour, which the watermark has passed.
    static var startMS: Int64 { (Int64(Date().timeIntervalSince1970) / 3600 - 3) * 3_600_000 + 300_000 }

    /// Runs the edge node to its end; returns what it printed.
    static func edgeNode(port: Int, start: Int64, count: Int, mode: String = "", dir: TemporaryDirectory) throws -> String {
        let node = try ChildProcess("/usr/bin/env", ["python3", peer, "\(port)", "\(start)", "\(count)", mode],
                                    directory: dir.path, name: "edge-node-\(mode)")
        let status = node.wait(timeout: 60) ?? node.stop(timeout: 2)
        #expect(status == 0, "edge node: \(node.stdout)\n\(node.stderr)")
        return node.stdout
    }

    /// The edge node started in `hold` mode: its births are in the daemon's journal, its data
    /// waits for the file `go` in the daemon's directory.
    static func heldEdgeNode(port: Int, count: Int, daemon: Daemon) throws -> ChildProcess {
        let node = try ChildProcess("/usr/bin/env", ["python3", peer, "\(port)", "\(startMS)", "\(count)", "hold", daemon.dir.file("go")],
                                    directory: daemon.dir.path, name: "edge-node-held")
        #expect(eventually { node.stdout.contains("births") && daemon.journaled >= 1 + Self.devices }, "\(node.stdout)\n\(node.stderr)")
        return node
    }

    /// The final gas volume of each well's hour starting at `hourStartMS`.
    static func wellHours(_ daemon: Daemon) -> [String: Double] {
        var out: [String: Double] = [:]
        for (key, fields) in finalFigures(daemon.totals) where key.hasPrefix("hour|") && key.contains("|well|") {
            out[String(key.split(separator: "|").last!)] = fields["gas_m3"]
        }
        return out
    }

    /// A replay of the daemon's journal gives the totals the daemon wrote live.
    static func expectReplayOfJournal(_ daemon: Daemon, _ what: String = "replay of the journal") throws {
        let replayed = daemon.dir.file("replayed")
        let journal = try FileManager.default.contentsOfDirectory(atPath: daemon.dir.file("journal"))
            .filter { $0.hasSuffix(".cbmj") }.sorted().map { daemon.dir.file("journal/\($0)") }
        let r = try daemon.replay(journal, output: replayed)
        #expect(r.status == 0, "\(r.stderr)")
        let live = finalTotals(daemon.totals)
        #expect(!live.isEmpty)
        expectSame(live, as: finalTotals(records(under: replayed + "/totals")), what)
    }

    @Test("births, then data by alias: the hour's totals are what the node's totalizers counted; a replay of the journal, and of a hex text recording, gives the same")
    func birthsAndData() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, subscriptions: Self.subscriptions)
        try daemon.start()
        let count = 20
        // A recording of the session as mosquitto_sub writes binary payloads: in hexadecimal.
        // (Births, data, and the node's death at its disconnect.)
        let recording = daemon.dir.file("session.txt")
        let recorder = try ChildProcess("/bin/sh", ["-c", "exec \(which("mosquitto_sub")!) -h 127.0.0.1 -p \(broker.port) -q 1 "
                                                     + "-t 'spBv1.0/field/#' -F '%U %t %x' -C \(1 + Self.devices + Self.devices * count + 1) > \(recording)"],
                                        directory: daemon.dir.path, name: "recorder")
        Thread.sleep(forTimeInterval: 0.5)
        let said = try Self.edgeNode(port: broker.port, start: Self.startMS, count: count, dir: daemon.dir)
        #expect(said.contains("sent \(Self.devices * count)"))
        #expect(recorder.wait(timeout: 20) == 0, "\(recorder.stderr)")
        // Births (three devices, three metrics, two mapped) and the data.
        #expect(eventually { daemon.readings.count >= Self.devices * 2 + Self.devices * count }, "\(daemon.readings.count) readings")
        #expect(daemon.stop() == 0)
        // The totalizers counted 7.5, 2.25 and 1.25 m3 a minute for twenty minutes.
        let hours = Self.wellHours(daemon)
        #expect(abs((hours["W01"] ?? -1) - 7.5 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W02"] ?? -1) - 2.25 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W03"] ?? -1) - 1.25 * Double(count)) < 1e-9, "\(hours)")
        // The status string is not mapped: ignored, not rejected. Nothing else was refused.
        #expect(daemon.rejects.isEmpty, "\(daemon.rejects)")
        // The journal holds the session as it came: births before data.
        try Self.expectReplayOfJournal(daemon)
        let live = finalTotals(daemon.totals)
        // And the hex text recording gives them too.
        let fromText = daemon.dir.file("replayed-text")
        let t = try daemon.replay([recording], output: fromText, extra: ["--hex"])
        #expect(t.status == 0 && t.stdout.contains("replayed \(1 + Self.devices + Self.devices * count + 1) messages"), "\(t.stdout)\n\(t.stderr)")
        expectSame(live, as: finalTotals(records(under: fromText + "/totals")), "replay of the hex recording")
    }

    @Test("a seq gap and an unknown alias: the daemon asks for a rebirth, the node answers, and the data after it is totalled")
    func rebirth() throws {
        for mode in ["gap", "unknown"] {
            let broker = try MosquittoBroker()
            let daemon = Daemon(port: broker.port, subscriptions: Self.subscriptions)
            let child = try daemon.start()
            let count = 20
            let said = try Self.edgeNode(port: broker.port, start: Self.startMS, count: count, mode: mode, dir: daemon.dir)
            #expect(said.contains("rebirth asked") && said.contains("reborn"), "\(mode): \(said)")
            #expect(eventually { daemon.readings.count >= 2 * Self.devices * 2 + Self.devices * count - 1 }, "\(mode): \(daemon.readings.count) readings")
            #expect(daemon.stop() == 0)
            let codes = daemon.rejects.compactMap { $0["code"] as? String }
            #expect(codes == [mode == "gap" ? "sparkplug_seq_gap" : "sparkplug_unknown_metric"], "\(mode): \(daemon.rejects)")
            #expect(child.stderr.contains("asked a Sparkplug edge node for a rebirth"), "\(mode): \(child.stderr.suffix(2000))")
            // The last reading of each hour came after the rebirth: the hour is whole.
            let hours = Self.wellHours(daemon)
            #expect(abs((hours["W01"] ?? -1) - 7.5 * Double(count)) < 1e-9, "\(mode): \(hours)")
            #expect(abs((hours["W02"] ?? -1) - 2.25 * Double(count)) < 1e-9, "\(mode): \(hours)")
            #expect(abs((hours["W03"] ?? -1) - 1.25 * Double(count)) < 1e-9, "\(mode): \(hours)")
            // The journal holds both sessions, the rejected message between them.
            try Self.expectReplayOfJournal(daemon, "\(mode): replay of the journal")
        }
    }

    @Test("damaged payloads from a real edge node (cut inside a metric, random bytes): each rejected with its reason, the daemon goes on, the data around them is totalled")
    func damagedPayloads() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, subscriptions: Self.subscriptions)
        let child = try daemon.start()
        let count = 10
        let said = try Self.edgeNode(port: broker.port, start: Self.startMS, count: count, mode: "damage", dir: daemon.dir)
        let damaged = try #require(said.split(separator: "\n").first { $0.hasPrefix("damaged ") }.flatMap { Int($0.dropFirst(8)) }, "\(said)")
        #expect(damaged > 100)
        #expect(eventually { daemon.rejects.count >= damaged && daemon.readings.count >= Self.devices * 2 + Self.devices * count }, "\(daemon.rejects.count) rejects")
        #expect(child.isRunning)
        #expect(daemon.stop() == 0)
        let rejects = daemon.rejects
        #expect(rejects.count == damaged)
        #expect(rejects.allSatisfy { $0["code"] as? String == "not_sparkplug" && !(($0["reason"] as? String) ?? "").isEmpty },
                "\(rejects.filter { $0["code"] as? String != "not_sparkplug" })")
        #expect(rejects.allSatisfy { $0["topic"] as? String == "spBv1.0/field/DDATA/rtu1/W01" })
        // No seq was taken from a damaged payload: no rebirth was needed, and the hour is whole.
        #expect(!said.contains("rebirth asked"), "\(said)")
        let hours = Self.wellHours(daemon)
        #expect(abs((hours["W01"] ?? -1) - 7.5 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W02"] ?? -1) - 2.25 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W03"] ?? -1) - 1.25 * Double(count)) < 1e-9, "\(hours)")
    }

    @Test("the daemon killed with kill -9 between the births and the data: after its restart the data by alias is decoded, with no rebirth")
    func killedBetweenBirthAndData() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, journal: "journal: { directory: journal, checkpoint_interval: 1s }",
                            subscriptions: Self.subscriptions)
        let first = try daemon.start()
        let count = 10
        let node = try Self.heldEdgeNode(port: broker.port, count: count, daemon: daemon)
        // Two checkpoints after the births are journaled: the later one was taken after them.
        let before = first.stderr.components(separatedBy: "checkpoint written").count
        #expect(eventually { first.stderr.components(separatedBy: "checkpoint written").count >= before + 2 }, "\(first.stderr.suffix(2000))")
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) == 128 + SIGKILL)
        let second = try daemon.start()
        // Nothing of the journal was replayed: the births' alias tables came from the checkpoint.
        #expect(second.stderr.contains("journal.replayed=0"), "\(second.stderr.suffix(2000))")
        // Only now the data: alias-only messages, after no birth this daemon process has heard live.
        daemon.dir.write("go", "")
        #expect(node.wait(timeout: 60) == 0, "\(node.stdout)\n\(node.stderr)")
        #expect(node.stdout.contains("sent \(Self.devices * count)") && !node.stdout.contains("rebirth asked"), "\(node.stdout)")
        #expect(eventually { daemon.readings.count >= Self.devices * 2 + Self.devices * count }, "\(daemon.readings.count) readings")
        #expect(daemon.stop() == 0)
        #expect(!second.stderr.contains("asked a Sparkplug edge node for a rebirth"))
        #expect(daemon.rejects.isEmpty, "\(daemon.rejects)")
        let hours = Self.wellHours(daemon)
        #expect(abs((hours["W01"] ?? -1) - 7.5 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W02"] ?? -1) - 2.25 * Double(count)) < 1e-9, "\(hours)")
        #expect(abs((hours["W03"] ?? -1) - 1.25 * Double(count)) < 1e-9, "\(hours)")
        // The journal of the two runs replays to the same totals.
        try Self.expectReplayOfJournal(daemon)
    }

    @Test("the edge node killed with kill -9: its will (NDEATH) arrives, the wells' no_data alarms go on at once, and clear on its next birth")
    func deathRaisesAlarms() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: """
            alerts:
              - { name: silent, kind: no_data, scope: well, after: 30m, severity: critical }
            """, subscriptions: Self.subscriptions)
        try daemon.start()
        let node = try Self.heldEdgeNode(port: broker.port, count: 1, daemon: daemon)
        node.signal(SIGKILL)
        _ = node.wait(timeout: 10)
        func alarms(_ state: String) -> [String] {
            daemon.alerts.filter { $0["rule"] as? String == "silent" && $0["state"] as? String == state }.compactMap { $0["id"] as? String }.sorted()
        }
        // Long before the rule's 30 minutes: the death says so (and says it is a death).
        #expect(eventually(timeout: 15) { alarms("active") == ["W01", "W02", "W03"] }, "\(daemon.alerts)")
        #expect(daemon.alerts.filter { $0["state"] as? String == "active" }.allSatisfy { ($0["message"] as? String ?? "").contains("offline") })
        #expect(eventually { daemon.events.contains { $0["kind"] as? String == "sparkplug_offline" && $0["id"] as? String == "W02" } })
        // The node comes back: new births, and the alarms clear.
        let said = try Self.edgeNode(port: broker.port, start: Self.startMS, count: 2, dir: daemon.dir)
        #expect(said.contains("sent \(Self.devices * 2)"))
        #expect(eventually(timeout: 15) { alarms("cleared") == ["W01", "W02", "W03"] }, "\(daemon.alerts)")
        #expect(daemon.stop() == 0)
    }

    @Test("the host STATE: retained online while the daemon runs, offline at a clean stop, offline by its will after kill -9")
    func hostState() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, broker: "  sparkplug_host_id: cbm-field-1", subscriptions: Self.subscriptions)
        func state() -> [String: Any] {
            let out = (try? runProgram(which("mosquitto_sub")!, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "spBv1.0/STATE/cbm-field-1",
                                                                 "-C", "1", "-W", "3"]))?.stdout ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]) ?? [:]
        }
        try daemon.start()
        #expect(eventually { state()["online"] as? Bool == true })
        let stamp = state()["timestamp"] as? Int ?? 0
        #expect(abs(stamp - Int(Date().timeIntervalSince1970 * 1000)) < 60_000, "\(state())")
        #expect(daemon.stop() == 0)
        #expect(state()["online"] as? Bool == false)
        let child = try daemon.start()
        #expect(eventually { state()["online"] as? Bool == true })
        child.signal(SIGKILL)
        _ = child.wait(timeout: 10)
        #expect(eventually(timeout: 10) { state()["online"] as? Bool == false }, "\(state())")
    }
}
