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

/// Counter rules by number: what a reading carries instead of the rules themselves.
@Suite("Counter rule numbers")
struct CounterRuleNumberTests {
    @Test("equal rules have one number, other rules another; a reading gives its rules back; a series takes a reading's rules")
    func oneNumberPerRules() {
        let a = CounterRules(rollover: 1e6, maxRateM3d: 24_000)
        let b = CounterRules(rollover: 1e6, maxRateM3d: 24_001)
        #expect(CounterRules.number(of: a) == CounterRules.number(of: CounterRules(rollover: 1e6, maxRateM3d: 24_000)))
        #expect(CounterRules.number(of: a) != CounterRules.number(of: b))
        #expect(CounterRules.number(of: nil) == .none)
        #expect(CounterRules.rules(CounterRules.number(of: b)) == b)
        var r = Reading(time: Timestamp(seconds: 1), asset: "W-1", measurement: .gasTotal, value: 5, counter: a)
        #expect(r.counter == a)
        r.counter = b
        #expect(r.counter == b && r.counterNumber == CounterRules.number(of: b))
        #expect(Reading(time: Timestamp(seconds: 1), asset: "W-1", measurement: .gasRate, value: 5).counter == nil)
        // A series holds the rules of the latest reading that carried some, even after its rules
        // were set otherwise (a checkpoint restored) to other ones.
        var h = SeriesHistory()
        h.take(CounterRules.number(of: a))
        #expect(h.counter == a)
        h.counter = b
        h.take(CounterRules.number(of: a))
        #expect(h.counter == a)
        h.take(.none)
        #expect(h.counter == a)
    }
}
