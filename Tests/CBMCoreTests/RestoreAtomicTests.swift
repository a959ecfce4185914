import Foundation
import Testing
@testable import CBMCore

/// A state that fails to read leaves what it was read into as it was: a half-restored aggregator
/// (an asset from 1970 with a last reading centuries ahead, say) could otherwise be advanced
/// over every hour between. The fuzzer's checkpoint target found that one.
@Suite("Restores are all or nothing")
struct RestoreAtomicTests {
    static let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/regressions/checkpoint/oom-b9ba1064962f8e1f9131ea7631ff9cc935c3741f")

    @Test("a refused state leaves every step's state untouched")
    func refusedLeavesUntouched() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.input))
        for version in 1...BinaryReader.currentVersion {
            var a = AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)
            var r = BinaryReader(bytes, version: version)
            #expect(throws: BinaryReader.Malformed.self) { try a.restore(from: &r, belongs: { _ in true }) }
            #expect(a.table.isEmpty && a.ids.isEmpty, "version \(version): \(a.ids)")
            var hours: [AssetHour] = []
            a.advance(to: Timestamp(seconds: 1_796_140_800), into: &hours)
            #expect(hours.isEmpty)
        }
        // The same for a decoder that had seen a series: a refused state does not take it away.
        var d = TelemetryDecoder(rules: [], register: AssetRegister(), limits: DecodeLimits())
        var w = BinaryWriter()
        d.save(into: &w)
        let before = w.bytes
        var r = BinaryReader(bytes)
        #expect(throws: BinaryReader.Malformed.self) { try d.restore(from: &r) }
        var after = BinaryWriter()
        d.save(into: &after)
        #expect(after.bytes == before)
    }
}
