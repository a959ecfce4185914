import CBMStorage
import CBMTestSupport
import Foundation
import Testing

@Suite("Checkpoint generations")
struct CheckpointStoreTests {
    let dir = TemporaryDirectory("checkpoints")

    func sequences(_ store: CheckpointStore) throws -> [UInt64] {
        try store.load().map { try $0.get().sequence }
    }

    @Test("the current checkpoint becomes the fallback, except one never committed: it is replaced, or dropped for the one before")
    func generations() throws {
        let store = CheckpointStore(directory: dir.path)
        #expect(try store.write(sequence: 10, state: [1]) == nil)
        #expect(try store.write(sequence: 20, state: [2]) == 10)
        #expect(try sequences(store) == [20, 10])
        // 20 was never committed with the archive: 30 replaces it, 10 stays behind.
        #expect(try store.write(sequence: 30, state: [3], keepPrevious: true) == 10)
        #expect(try sequences(store) == [30, 10])
        // Recovery resumed from 10: it is the current one again, with nothing behind it.
        #expect(try store.dropCurrent(damaged: false) == nil)
        #expect(try sequences(store) == [10])
        #expect(try store.load().first?.get().state == [1])
        #expect(try store.write(sequence: 40, state: [4]) == 10)
        #expect(try sequences(store) == [40, 10])
        // A damaged current one is kept aside, in quarantine.
        try Data([0x43, 0x42]).write(to: URL(fileURLWithPath: store.path))
        let kept = try #require(try store.dropCurrent(damaged: true))
        #expect(kept.hasPrefix(dir.path + "/quarantine/checkpoint."))
        #expect(FileManager.default.contents(atPath: kept) == Data([0x43, 0x42]))
        #expect(try sequences(store) == [10])
    }
}
