import Testing
@testable import CBMCore

/// Asset numbers: one per id in the process, the id read back from it, whatever thread asks.
@Suite("Asset numbers")
struct AssetIDTests {
    @Test("an id has one number, another id another; the number gives the id back, directly and through a thread's names")
    func oneNumberPerID() async {
        let ids = (0..<200).map { "W-F\($0 % 3)-\(String(repeating: "x", count: $0 % 40))-\($0)" }
        // From several tasks at once: each id still gets one number.
        let numbers = await withTaskGroup(of: [Int32].self) { group in
            for _ in 0..<4 { group.addTask { ids.map { AssetID($0).number } } }
            var all: [[Int32]] = []
            for await n in group { all.append(n) }
            return all
        }
        #expect(Set(numbers.map { $0 }).count == 1)
        #expect(Set(numbers[0]).count == ids.count)
        var names = AssetNames()
        for id in ids.shuffled() {
            #expect(AssetID(id).name == id)
            #expect(names(AssetID(id)) == id)
        }
        #expect(Reading(time: Timestamp(seconds: 1), asset: ids[7], measurement: .gasRate, value: 1).asset == ids[7])
    }
}
