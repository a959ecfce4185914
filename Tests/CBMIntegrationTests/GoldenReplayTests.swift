import CBMStorage
import CBMTestSupport
import Crypto
import Foundation
import Testing

/// A replay writes exactly the tree it wrote before: every file, byte for byte, against a manifest
/// recorded with an earlier build (`Tests/Golden/replay-tree.txt`). Reshaping the pipeline must
/// not change one byte of what it writes. After a change that is meant to change the output, run
/// the test with `CBM_UPDATE_GOLDEN=1` to record the new manifest, and say why in the commit.
@Suite("Golden replay")
struct GoldenReplayTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let manifestPath = repository.appendingPathComponent("Tests/Golden/replay-tree.txt").path

    /// The example configuration, writing both formats and the readings, with three partitions and
    /// alarm thresholds that the simulated field crosses.
    func configuration(_ dir: TemporaryDirectory) throws -> String {
        var yaml = try String(contentsOf: Self.repository.appendingPathComponent("config/cbm-ingest.yaml"), encoding: .utf8)
        for (a, b) in [("directory: /var/lib/cbm-ingest/out", "directory: out"), ("directory: /var/lib/cbm-ingest/journal", "directory: journal"),
                       ("readings: false", "readings: true"), ("formats: [jsonl]", "formats: [jsonl, csv]"),
                       ("assets: assets.csv", "assets: sim/assets.csv"), ("below: 0.5 ", "below: 0.97"), ("clear_above: 0.6 ", "clear_above: 0.98"),
                       ("below: 0.7\n", "below: 0.99\n"), ("clear_above: 0.75\n", "clear_above: 0.995\n"), ("partitions: 2 ", "partitions: 3 ")] {
            #expect(yaml.contains(a), "the example configuration no longer has \(a)")
            yaml = yaml.replacingOccurrences(of: a, with: b)
        }
        return dir.write("cbm-ingest.yaml", yaml)
    }

    /// A simulated field of 24 wells over 30 hours, one well silent for four hours, and lines that
    /// exercise the other paths: late data, bad JSON, an unknown asset, a totalizer reset and an
    /// implausible value.
    func recording(_ dir: TemporaryDirectory, config: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir.file("sim"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repository.appendingPathComponent("config/assets.csv").path, toPath: dir.file("sim/assets.csv"))
        let sim = try runProgram(cbmIngestBinary(), ["simulate", "--config", config, "--wells", "24", "--fields", "2", "--hours", "30",
                                                     "--interval", "300", "--seed", "7", "--start", "2026-03-01T00:00:00Z", "--out", dir.file("sim")])
        #expect(sim.status == 0, "\(sim.stderr)")
        let start = 1_772_323_200
        var lines = try String(contentsOfFile: dir.file("sim/recording.txt"), encoding: .utf8).split(separator: "\n").filter { line in
            let parts = line.split(separator: " ", maxSplits: 2)
            let t = Int(Double(parts[0])!)
            return !(parts[1].contains("-0003/") && t > start + 36_000 && t < start + 50_400)
        }.map(String.init)
        lines += [
            "1772431200.000000 cbm/F1/F1-B1/W-F1-0000/telemetry {\"ts\":1772330000,\"gas_m3h\":5}",
            "1772431201.000000 cbm/F1/F1-B1/W-F1-0000/telemetry not json",
            "1772431202.000000 cbm/F9/F9-B1/W-NOPE/telemetry {\"ts\":1772431202,\"gas_m3h\":5}",
            "1772431203.000000 cbm/F1/F1-B1/W-F1-0002/telemetry {\"ts\":1772431203,\"gas_total\":100}",
            "1772431204.000000 cbm/F1/F1-B1/W-F1-0000/telemetry {\"ts\":1772431204,\"gas_m3h\":-5}",
        ]
        return dir.write("recording.txt", lines.joined(separator: "\n") + "\n")
    }

    /// `path size sha256` of every file under `root`, sorted; the first line is the recording's.
    func manifest(root: String, recording: String) throws -> [String] {
        func line(_ name: String, _ path: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return "\(name) \(data.count) \(SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())"
        }
        var out = [try line("recording", recording)]
        // The index of final figures is a database derived from totals/, not a record: left out
        // (the report tests compare it with one rebuilt from the files).
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { name in
            guard name != "index.sqlite" else { return false }
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(root)/\(name)", isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
        for f in files { out.append(try line(f, "\(root)/\(f)")) }
        return out
    }

    @Test("a replay of a simulated field with hostile lines writes the recorded tree, byte for byte")
    func sameTree() throws {
        let dir = TemporaryDirectory("golden")
        let config = try configuration(dir)
        let recording = try recording(dir, config: config)
        let p = try runProgram(cbmIngestBinary(), ["replay", "--config", config, "--output", dir.file("out"), recording], timeout: 300)
        #expect(p.status == 0, "\(p.stderr)")
        // What the field raised: a low well, low utilisation, the silent well.
        #expect(p.stdout.contains("alarms raised by well-silent: 1"), "\(p.stdout)")
        #expect(p.stdout.contains("alarms raised by utilisation-low: 1"), "\(p.stdout)")
        let got = try manifest(root: dir.file("out"), recording: recording)
        if ProcessInfo.processInfo.environment["CBM_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(atPath: (Self.manifestPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (got.joined(separator: "\n") + "\n").write(toFile: Self.manifestPath, atomically: true, encoding: .utf8)
            return
        }
        let want = try String(contentsOfFile: Self.manifestPath, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(got.first == want.first, "the simulated recording itself changed: the simulator or the test's edits differ")
        #expect(got.count == want.count, "files: \(got.count) written, \(want.count) recorded")
        for (g, w) in zip(got, want) where g != w {
            Issue.record("differs:\n  written:  \(g)\n  recorded: \(w)")
        }
        #expect(got.count > 15)
        // The index the replay built beside its files (on a thread of its own, as totals were
        // written) has the rows that one rebuilt from those files has.
        let index = dir.file("out/index.sqlite")
        let built = try TotalsIndex(path: index, folder: dir.file("out/totals")).dump()
        #expect(built.count > 100)
        let rebuilt = try TotalsIndex.rebuild(path: dir.file("rebuilt.sqlite"), folder: dir.file("out/totals")).dump()
        #expect(built == rebuilt)
    }
}
