import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// Damage never loses acknowledged data: bytes flipped in a real journal and real checkpoints
/// written by the daemon, then a restart; the totals are checked against the simulator's truth.
@Suite("Damaged journals and checkpoints", .serialized)
struct DamageTests {
    /// A simulated field of `wells` wells over `hours` hours that ended two hours ago, its
    /// recording split into `parts`, and the daemon configured for it.
    func field(_ daemon: Daemon, wells: Int = 30, hours: Int = 4, parts: Int, replacing: [(String, String)] = [])
        throws -> (sim: String, parts: [String], counts: [Int])
    {
        let sim = daemon.dir.file("sim")
        let start = (Int(Date().timeIntervalSince1970) / 3600 - hours - 2) * 3600
        let startText = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(start)))
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "\(wells)", "--hours", "\(hours)",
                                                   "--seed", "11", "--start", startText, "--out", sim])
        #expect(s.status == 0, "\(s.stderr)")
        try useSimulatedField(daemon, sim, replacing: replacing)
        let lines = try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8).split(separator: "\n")
        var paths: [String] = [], counts: [Int] = []
        for k in 0..<parts {
            let slice = lines[(lines.count * k / parts)..<(lines.count * (k + 1) / parts)]
            paths.append(daemon.dir.write("part-\(k).txt", slice.joined(separator: "\n") + "\n"))
            counts.append(lines.count * (k + 1) / parts)
        }
        return (sim, paths, counts)
    }

    func publish(_ daemon: Daemon, _ recording: String, until journaled: Int, speed: String? = nil) throws {
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish"] + (speed.map { ["--speed", $0] } ?? [])
                               + [recording], timeout: 120)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(eventually(timeout: 60) { Journal.highestSequence(in: daemon.dir.file("journal")) >= UInt64(journaled) })
    }

    func kill9(_ child: ChildProcess) {
        child.signal(SIGKILL)
        _ = child.wait(timeout: 10)
    }

    /// The records of the daemon's journal: (offset, length) of each, in its segments.
    func journalRecords(of segment: String) throws -> [(offset: Int, length: Int)] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        var out: [(Int, Int)] = []
        var p = 16
        while p + 8 <= bytes.count {
            let length = Int(bytes[p]) | Int(bytes[p + 1]) << 8 | Int(bytes[p + 2]) << 16 | Int(bytes[p + 3]) << 24
            out.append((p, length))
            p += 8 + length
        }
        return out
    }

    func flip(_ path: String, at offset: Int, with mask: UInt8 = 0x10) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[offset] ^= mask
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test("a flipped byte in the checkpoint header's sequence: refused, the previous checkpoint used, every message in the totals")
    func checkpointHeader() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, parts: 3, replacing: [("checkpoint_interval: 30s", "checkpoint_interval: 1h")])
        // Two clean stops (two checkpoint generations), then a crash after the third part.
        for k in 0..<2 {
            try daemon.start()
            try publish(daemon, f.parts[k], until: f.counts[k])
            #expect(daemon.stop() == 0)
        }
        let child = try daemon.start()
        try publish(daemon, f.parts[2], until: f.counts[2])
        kill9(child)
        let store = CheckpointStore(directory: daemon.dir.file("journal"))
        #expect(FileManager.default.fileExists(atPath: store.previousPath))
        try flip(store.path, at: 9)  // the sequence
        try daemon.start()
        #expect(eventually(timeout: 30) { daemon.events.contains { $0["kind"] as? String == "checkpoint_damaged" } })
        #expect(daemon.stop() == 0)
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
        let event = daemon.events.first { $0["kind"] as? String == "checkpoint_damaged" }
        #expect((event?["detail"] as? String)?.contains("checksum") == true)
        // The damaged one is kept in quarantine; the one used is the current one again.
        let kept = (try? FileManager.default.contentsOfDirectory(atPath: daemon.dir.file("journal/quarantine"))) ?? []
        #expect(kept.contains { $0.hasPrefix("checkpoint.") && $0.hasSuffix(".bin") }, "\(kept)")
    }

    @Test("a flipped byte in a journal record's length: the record is recovered, nothing is truncated, every message in the totals")
    func recordLength() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, parts: 1, replacing: [("checkpoint_interval: 30s", "checkpoint_interval: 1h")])
        let child = try daemon.start()
        try publish(daemon, f.parts[0], until: f.counts[0])
        kill9(child)
        let segment = try #require(Journal.segments(in: daemon.dir.file("journal")).first)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
        let all = try journalRecords(of: segment)
        #expect(all.count == f.counts[0])
        try flip(segment, at: all[all.count / 2].offset, with: 0x01)
        try flip(segment, at: all[all.count / 3].offset + 3, with: 0x40)  // a length far too long
        try daemon.start()
        #expect(eventually(timeout: 30) { daemon.events.filter { $0["kind"] as? String == "journal_record_repaired" }.count == 2 })
        #expect(daemon.stop() == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int == size)
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
    }

    @Test("a flipped byte in a record's body: that record alone is skipped and kept in quarantine; the rest of the segment is read")
    func recordBody() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, wells: 10, hours: 2, parts: 1, replacing: [("checkpoint_interval: 30s", "checkpoint_interval: 1h")])
        let child = try daemon.start()
        try publish(daemon, f.parts[0], until: f.counts[0])
        kill9(child)
        let segment = try #require(Journal.segments(in: daemon.dir.file("journal")).first)
        let all = try journalRecords(of: segment)
        let victim = all[all.count / 2]
        try flip(segment, at: victim.offset + 8 + victim.length - 2)
        let child2 = try daemon.start()
        #expect(child2.stderr.contains("journal.replayed=\(all.count - 1)"))
        #expect(daemon.stop() == 0)
        let skipped = try #require(daemon.events.first { $0["kind"] as? String == "journal_record_skipped" })
        #expect((skipped["detail"] as? String)?.contains("quarantine/") == true)
        let quarantine = daemon.dir.file("journal/quarantine")
        let kept = try FileManager.default.contentsOfDirectory(atPath: quarantine)
        #expect(kept.count == 1)
        #expect(try FileManager.default.attributesOfItem(atPath: quarantine + "/" + kept[0])[.size] as? Int == 8 + victim.length)
    }

    @Test("both checkpoints damaged after old segments were pruned: the windows it cannot rebuild are left as written, never undercut")
    func prunedAndDamaged() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, wells: 40, hours: 6, parts: 1, replacing: [
            ("checkpoint_interval: 30s", "checkpoint_interval: 1s"), ("segment_bytes: 64MiB", "segment_bytes: 64KiB"),
            ("retain: 7d ", "retain: 1s "),
        ])
        try daemon.start()
        // Spread over a few seconds, so that checkpoints come and old segments go.
        try publish(daemon, f.parts[0], until: f.counts[0], speed: "3000")
        Thread.sleep(forTimeInterval: 2.5)
        #expect(daemon.stop() == 0)
        let before = finalTotals(daemon.totals)
        let first = try #require(Journal.firstSequence(in: daemon.dir.file("journal")))
        #expect(first > 1, "no segment was pruned")
        let store = CheckpointStore(directory: daemon.dir.file("journal"))
        for file in [store.path, store.previousPath] { try flip(file, at: 40) }
        try daemon.start()
        #expect(eventually(timeout: 30) { daemon.events.contains { $0["kind"] as? String == "recovery_incomplete" } })
        #expect(daemon.stop() == 0)
        #expect(daemon.events.filter { $0["kind"] as? String == "checkpoint_damaged" }.count == 2)
        // Every window's final figures are still the truth: none was rewritten from partial data.
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
        let after = finalTotals(daemon.totals)
        #expect(after.keys.sorted() == before.keys.sorted())
    }

    /// The history archive's files, copied to `to` (after a clean stop: they are consistent).
    func copyArchive(_ daemon: Daemon, to: String) throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: to)
        try fm.copyItem(atPath: daemon.dir.file("journal/archive"), toPath: to)
    }

    func restoreArchive(_ daemon: Daemon, from: String) throws {
        let fm = FileManager.default
        try fm.removeItem(atPath: daemon.dir.file("journal/archive"))
        try fm.copyItem(atPath: from, toPath: daemon.dir.file("journal/archive"))
    }

    @Test("a checkpoint written but never committed with the archive (a stop between the two): the one before is used and kept as the fallback")
    func uncommittedCheckpoint() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, parts: 3, replacing: [("checkpoint_interval: 30s", "checkpoint_interval: 1h")])
        let store = CheckpointStore(directory: daemon.dir.file("journal"))
        let aside = daemon.dir.file("archive-aside")
        var sequences: [UInt64] = []
        for k in 0..<2 {
            try daemon.start()
            try publish(daemon, f.parts[k], until: f.counts[k])
            #expect(daemon.stop() == 0)
            if k == 0 { try copyArchive(daemon, to: aside) }
            sequences.append(try store.load().first.map { try $0.get().sequence } ?? 0)
        }
        // As if the second stop had come between writing its checkpoint and committing the archive.
        try restoreArchive(daemon, from: aside)
        let child = try daemon.start()
        #expect(child.stderr.contains("journal.checkpoint=\(sequences[0])"), "\(child.stderr)")
        // The checkpoint the archive matches is the current one again, with no other behind it:
        // the next checkpoint keeps it as the fallback, not the one that was never committed.
        #expect(try store.load().map { try $0.get().sequence } == [sequences[0]])
        try publish(daemon, f.parts[2], until: f.counts[2])
        kill9(child)
        try daemon.start()
        #expect(daemon.stop() == 0)
        #expect(!daemon.events.contains { $0["kind"] as? String == "recovery_incomplete" }, "\(daemon.events)")
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
    }

    @Test("an archive set back behind both checkpoints: reported, the windows it cannot recompute left as written, never undercut")
    func archiveBehind() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, parts: 3, replacing: [("checkpoint_interval: 30s", "checkpoint_interval: 1h")])
        let aside = daemon.dir.file("archive-aside")
        for k in 0..<3 {
            try daemon.start()
            try publish(daemon, f.parts[k], until: f.counts[k])
            #expect(daemon.stop() == 0)
            if k == 0 { try copyArchive(daemon, to: aside) }
        }
        let before = finalTotals(daemon.totals)
        try restoreArchive(daemon, from: aside)
        try daemon.start()
        #expect(eventually(timeout: 30) { daemon.events.contains { $0["kind"] as? String == "recovery_incomplete" } })
        #expect(daemon.stop() == 0)
        let event = daemon.events.first { $0["kind"] as? String == "recovery_incomplete" }
        #expect((event?["detail"] as? String)?.contains("left as they were written") == true, "\(String(describing: event))")
        // Nothing was rewritten from the partial archive: the final figures are still the truth.
        #expect(finalTotals(daemon.totals) == before)
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
    }

    @Test("after kill -9, readings, rejects, events and alerts written since the checkpoint are not written again")
    func exactlyOnce() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let f = try field(daemon, wells: 30, hours: 6, parts: 2, replacing: [
            ("checkpoint_interval: 30s", "checkpoint_interval: 1h"), ("well-low-output", "low"), ("below: 0.5 ", "below: 0.97 "),
            ("clear_above: 0.6 ", "clear_above: 0.98 "),
        ])
        try daemon.start()
        try publish(daemon, f.parts[0], until: f.counts[0])
        #expect(daemon.stop() == 0)
        let child = try daemon.start()
        try publish(daemon, f.parts[1], until: f.counts[1])
        Thread.sleep(forTimeInterval: 1)  // every acknowledgement out
        let written = ["readings", "rejects", "events", "alerts"].map { records(under: daemon.dir.file("out/\($0)")).count }
        kill9(child)
        try daemon.start()
        Thread.sleep(forTimeInterval: 1)
        #expect(daemon.stop() == 0)
        for (i, family) in ["readings", "rejects", "events", "alerts"].enumerated() {
            let lines = lines(under: daemon.dir.file("out/\(family)")).filter { !$0.contains("file_repaired") }
            #expect(Set(lines).count == lines.count, "\(family): \(lines.count - Set(lines).count) lines twice")
            #expect(lines.count >= written[i], "\(family)")
        }
        #expect(records(under: daemon.dir.file("out/alerts")).count > 0)
        #expect(records(under: daemon.dir.file("out/rejects")).count > 0)
        #expect(compareWithTruth(f.sim + "/truth.jsonl", with: daemon.totals, windows: ["hour"]) > 100)
    }
}
