import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// The simulator's ground truth against the ingester's totals.
@Suite("Simulator", .serialized)
struct SimulatorTests {
    @Test("replay of a simulated field: every hour, gas day and gas month of every scope equals the simulator's truth")
    func replayEqualsTruth() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let sim = daemon.dir.file("sim")
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "120", "--hours", "30",
                                                   "--start", "2026-11-27T20:00:00+08:00", "--seed", "7", "--out", sim])
        #expect(s.status == 0, "\(s.stderr)")
        try useSimulatedField(daemon, sim)
        let r = try daemon.replay([sim + "/recording.txt"], output: daemon.dir.file("replayed"))
        #expect(r.status == 0, "\(r.stderr)")
        let checked = compareWithTruth( sim + "/truth.jsonl", with: records(under: daemon.dir.file("replayed/totals")), windows: ["hour", "day", "month"])
        #expect(checked > 3000)
        // The junk it sent was rejected, each with a reason; nothing else was.
        let rejects = records(under: daemon.dir.file("replayed/rejects"))
        #expect(!rejects.isEmpty && rejects.allSatisfy { ["not_a_number", "unknown_asset", "not_json"].contains($0["code"] as? String ?? "") })
        // Rollovers, resets and step-backs (of wells, and of sales meters in 10^4 m3, some counters
        // above half their rollover value) happened and were recognised as such.
        let events = records(under: daemon.dir.file("replayed/events"))
        let kinds = Set(events.compactMap { $0["kind"] as? String })
        #expect(kinds.contains("totalizer_rollover") && kinds.contains("totalizer_reset") && kinds.contains("totalizer_step_back"))
        let stepBacks = events.filter { $0["kind"] as? String == "totalizer_step_back" }.compactMap { $0["id"] as? String }
        #expect(stepBacks.contains { $0.hasPrefix("W-") } && stepBacks.contains { $0.hasPrefix("M-") })
        #expect(!kinds.contains("totalizer_jump"))
        // The same seed gives the same field.
        let again = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "120", "--hours", "30",
                                                       "--start", "2026-11-27T20:00:00+08:00", "--seed", "7", "--out", sim + "-again"])
        #expect(again.status == 0)
        #expect(FileManager.default.contents(atPath: sim + "/recording.txt") == FileManager.default.contents(atPath: sim + "-again/recording.txt"))
    }

    @Test("the same field from Sparkplug B edge nodes, recorded in hex and replayed with --hex: the same truth, and births before data")
    func sparkplugReplayEqualsTruth() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let sim = daemon.dir.file("sim")
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "60", "--hours", "30",
                                                   "--start", "2026-11-27T20:00:00+08:00", "--seed", "7", "--format", "sparkplug_b", "--out", sim])
        #expect(s.status == 0, "\(s.stderr)")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let subscription = try String(contentsOf: repo.appendingPathComponent("config/sparkplug-subscription.yaml"), encoding: .utf8)
        try useSimulatedField(daemon, sim, replacing: [("subscriptions:\n", "subscriptions:\n" + subscription)])
        let lines = try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8).split(separator: "\n")
        var types: [String] = []
        for line in lines {
            let topic = line.split(separator: " ")[1].split(separator: "/")
            if topic.first == "spBv1.0" { types.append(String(topic[2])) }
        }
        #expect(types.first == "NBIRTH" && types.contains("DBIRTH") && types.filter { $0 == "DDATA" }.count > 60 * 300)
        let r = try daemon.replay([sim + "/recording.txt"], output: daemon.dir.file("replayed"), extra: ["--hex"])
        #expect(r.status == 0, "\(r.stderr)")
        let checked = compareWithTruth(sim + "/truth.jsonl", with: records(under: daemon.dir.file("replayed/totals")), windows: ["hour", "day", "month"])
        #expect(checked > 1000)
        // Only the junk (still JSON) was rejected: no Sparkplug reason at all.
        let rejects = records(under: daemon.dir.file("replayed/rejects"))
        #expect(rejects.allSatisfy { ["not_a_number", "unknown_asset", "not_json"].contains($0["code"] as? String ?? "") }, "\(rejects.prefix(3))")
    }

    @Test("live through a real broker, late buffered history included: the closed hours equal the truth")
    func liveEqualsTruth() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let sim = daemon.dir.file("sim")
        // Four hours that ended two hours ago: every hour of them is closed by the wall clock.
        let start = (Int(Date().timeIntervalSince1970) / 3600 - 6) * 3600
        let startText = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(start)))
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "40", "--hours", "4", "--seed", "3",
                                                   "--start", startText, "--out", sim])
        #expect(s.status == 0, "\(s.stderr)")
        try useSimulatedField(daemon, sim)
        try daemon.start()
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", sim + "/recording.txt"], timeout: 120)
        #expect(p.status == 0, "\(p.stderr)")
        let lines = (try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8)).split(separator: "\n").count
        // Every message in the journal (the daemon has received it), then a stop drains the rest.
        #expect(eventually(timeout: 60) { daemon.journaled >= lines })
        #expect(daemon.stop() == 0)
        let checked = compareWithTruth( sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"])
        #expect(checked > 200)
    }
}
