import Foundation
import Testing
@testable import CBMCore

/// The roll-up's rules, driven one input at a time: lockstep, the lowest watermark, barriers.
@Suite("Roll-up coordinator")
struct RollupCoordinatorTests {
    static let settings = PipelineSettings(partitions: 2, register: AggregationHarness.field)
    static let start = ts("2026-11-28T06:00:00+08:00")

    func coordinator() -> RollupCoordinator {
        let s = PipelineCheckpoint.State(Self.settings)
        return RollupCoordinator(totals: s.totals, alerts: s.alerts, settings: Self.settings)
    }

    func hour(_ asset: String, _ h: Int64, gas: Double) -> AssetHour {
        let start = Self.start + h * 3_600_000_000
        return AssetHour(asset: asset, hour: WindowSpan(start: start, end: start + 3_600_000_000),
                         gas: FluidTotals(volume: gas, coveredUS: 3_600_000_000, samples: 12))
    }

    func feed(_ c: inout RollupCoordinator, _ p: Int, _ out: RollupCoordinator.PartitionOutput) -> [RollupCoordinator.Action] {
        var actions: [RollupCoordinator.Action] = []
        c.handle(.fromPartition(p, out), into: &actions)
        c.flush(into: &actions)
        return actions
    }

    func totals(_ actions: [RollupCoordinator.Action]) -> [TotalsRecord] {
        actions.flatMap { if case .totals(let t) = $0 { return t } else { return [] } }
    }

    @Test("a window closes only at the lowest watermark of all partitions")
    func lowestWatermark() {
        var c = coordinator()
        let past = Self.start + 2 * 3_600_000_000 + 600_000_000  // beyond the first hour and its lateness
        _ = feed(&c, 0, .hours([hour("W01", 0, gas: 50)]))
        #expect(totals(feed(&c, 0, .watermark(past))).isEmpty, "partition 1 has not got there")
        _ = feed(&c, 1, .hours([hour("W03", 0, gas: 20)]))
        let closed = totals(feed(&c, 1, .watermark(past)))
        let block = closed.first { $0.window == .hour && $0.scope == .field && $0.id == "F1" }
        #expect(block?.gasM3 == 70, "both partitions' hours are in the roll-up")
    }

    @Test("a partition that is a hand-on ahead waits: its later items are taken once the others catch up")
    func lockstep() {
        var c = coordinator()
        let w1 = Self.start + 30 * 60_000_000
        let w2 = Self.start + 2 * 3_600_000_000 + 600_000_000
        _ = feed(&c, 0, .watermark(w1))
        // Partition 0's second hand-on: it holds an hour that partition 1 has not reached.
        _ = feed(&c, 0, .hours([hour("W01", 0, gas: 50)]))
        #expect(c.totals.hours.isEmpty, "taken before partition 1 has handed on once")
        #expect(totals(feed(&c, 0, .watermark(w2))).isEmpty)
        _ = feed(&c, 1, .watermark(w1))
        #expect(!c.totals.hours.isEmpty, "taken once partition 1 is level")
        // Partition 1 catches up through its second hand-on: only then does the hour close, with W01 in it.
        let closed = totals(feed(&c, 1, .watermark(w2)))
        #expect(closed.first { $0.window == .hour && $0.scope == .well && $0.id == "W01" }?.gasM3 == 50)
    }

    @Test("a checkpoint is ready once every partition has passed the barrier, and holds each one's state")
    func checkpointBarrier() {
        var c = coordinator()
        let draft = CheckpointDraft(sequence: 42, decoder: [1, 2, 3])
        #expect(!feed(&c, 1, .checkpoint(draft, state: [9])).contains { if case .checkpoint = $0 { return true } else { return false } })
        // Behind the barrier, partition 1's next items wait.
        _ = feed(&c, 1, .hours([hour("W03", 0, gas: 20)]))
        let actions = feed(&c, 0, .checkpoint(draft, state: [7]))
        let ready = actions.compactMap { if case .checkpoint(let p) = $0 { return p } else { return nil } }
        #expect(ready == [PipelineCheckpoint(sequence: 42, decoder: [1, 2, 3], partitions: [[7], [9]], rollup: ready.first?.rollup ?? [])])
        // The state saved is that before the waiting hour: restored, it has no W03 figures.
        var restored = PipelineCheckpoint.State(Self.settings)
        var r = BinaryReader(ready[0].rollup)
        #expect(throws: Never.self) { try restored.totals.restore(from: &r) }
        #expect(restored.totals.hours.isEmpty)
        // Past the barrier the waiting hour is taken.
        #expect(!c.totals.hours.isEmpty)
    }

    @Test("a probe comes out once every partition has passed it; a command is answered under its ticket")
    func probesAndCommands() {
        var c = coordinator()
        #expect(!feed(&c, 0, .probe(5)).contains { if case .probe = $0 { return true } else { return false } })
        #expect(feed(&c, 1, .probe(5)).contains { if case .probe(5) = $0 { return true } else { return false } })
        var actions: [RollupCoordinator.Action] = []
        c.handle(.control(.command(.acknowledge(rule: "none", scope: .well, id: "W01", by: "test"), at: Self.start, ticket: 7)), into: &actions)
        #expect(actions.contains { if case .answer(7, let text) = $0 { return text != "ok" } else { return false } },
                "an ack of an alarm that does not exist is refused, and says why")
    }
}
