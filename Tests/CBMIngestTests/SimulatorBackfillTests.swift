import CBMCore
@testable import CBMIngest
import Testing

@Suite("Simulator: store and forward")
struct SimulatorBackfillTests {
    @Test("held-back wells' history arrives after the live stream, in order; the rest and the truth are unchanged")
    func backfill() {
        var o = FieldSimulator.Options()
        o.wells = 30
        o.hours = 6
        o.seed = 5
        o.start = Timestamp(seconds: 1_772_323_200)
        var plainField = FieldSimulator(o)
        let (plain, plainTruth) = plainField.generate()
        o.backfillWells = 5
        o.backfillHours = 4
        var heldField = FieldSimulator(o)
        let (held, heldTruth) = heldField.generate()
        #expect(plainTruth == heldTruth)
        #expect(plain.count == held.count)
        func well(_ m: FieldSimulator.Message) -> String { m.topic.split(separator: "/").count >= 4 ? String(m.topic.split(separator: "/")[3]) : "" }
        let ids = Set(heldField.assets.filter { $0.kind == .well }.prefix(5).map(\.id))
        let cut = o.start + 4 * 3_600_000_000
        let end = o.start + Int64(6 * 3600 + 300) * 1_000_000
        let expectedHeld = plain.filter { ids.contains(well($0)) && $0.time < cut }
        let tail = held.filter { $0.time >= end }
        #expect(!expectedHeld.isEmpty)
        #expect(tail.map { $0.topic + " " + $0.payload } == expectedHeld.map { $0.topic + " " + $0.payload }, "held in order")
        #expect(tail.map(\.time) == tail.map(\.time).sorted())
        #expect(Array(held.suffix(tail.count)).map(\.time) == tail.map(\.time), "after everything else")
        let live = plain.filter { !(ids.contains(well($0)) && $0.time < cut) }
        #expect(held.prefix(held.count - tail.count).map { $0.topic + " " + $0.payload } == live.map { $0.topic + " " + $0.payload })
    }
}
