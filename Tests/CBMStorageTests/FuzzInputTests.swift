import CBMCore
import CBMFuzz
import CBMStorage
import Foundation
import Testing

/// The fuzz targets over their seeds and over every input a fuzzer ever found a fault with
/// (`Tests/Fuzz/regressions/<target>/`, kept by `scripts/fuzz.sh`): none may trap again.
@Suite("Fuzzing: the seeds and the inputs that once found a fault")
struct FuzzInputTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/regressions").path

    static func target(_ name: String) -> (@Sendable ([UInt8]) -> Void)? { FuzzTargets.all.first { $0.name == name }?.run }

    @Test("every seed runs through its target, and the seeds are what the readers take as good")
    func seeds() throws {
        let seeds = FuzzTargets.seeds()
        #expect(Set(seeds.map(\.target)) == Set(FuzzTargets.all.map(\.name)))
        for seed in seeds {
            let run = try #require(Self.target(seed.target), "\(seed.target)")
            run(seed.bytes)
        }
        // The seeds start the fuzzer inside the formats, not at their first check.
        for seed in seeds where seed.target == "journal" {
            var s = JournalScanner(name: seed.name)
            s.feed(seed.bytes)
            var records = 0
            while let item = s.next(atEnd: true) { if case .record = item { records += 1 } }
            #expect(records == (seed.name == "torn" ? 2 : 3), "\(seed.name)")
        }
        for seed in seeds where seed.target == "checkpoint" && seed.name.hasSuffix(".cbmc") {
            let c = try CheckpointStore.parse(seed.bytes, file: seed.name).get()
            #expect(c.sequence == 43 && c.outputs == [1, 2, 3] && !c.state.isEmpty)
        }
        for seed in seeds where seed.target == "recording" && seed.name != "journal" {
            let lines = seed.bytes.split(separator: 10)
            let parsed = lines.filter { line in
                if case .success = seed.name == "json" ? Recording.parseJSONLine(line) : Recording.parseTextLine(line) { return true }
                return false
            }
            #expect(parsed.count == lines.count && !lines.isEmpty, "\(seed.name)")
        }
    }

    @Test("every input kept from a fuzzer's find runs through its target without a fault")
    func regressionInputs() throws {
        var targets: [String] = []
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: Self.regressions)) ?? [] {
            let run = try #require(Self.target(folder), "Tests/Fuzz/regressions/\(folder) names no fuzz target")
            let dir = (Self.regressions as NSString).appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: dir) where !file.hasPrefix(".") {
                let data = try #require(FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent(file)))
                run([UInt8](data))
                targets.append(folder)
            }
        }
        // A fault would have stopped the process before this; every input was a target's.
        #expect(targets.allSatisfy { name in FuzzTargets.all.contains { $0.name == name } })
    }
}
