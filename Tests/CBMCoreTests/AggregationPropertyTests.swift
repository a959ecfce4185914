import Foundation
import Testing
@testable import CBMCore

/// The core's deterministic generator, so a failing seed can be replayed.
typealias SplitMix = SplitMix64

@Suite("Aggregation: the same readings give the same totals")
struct AggregationPropertyTests {
    /// Random telemetry of a small field over eight hours across a gas-day boundary: totalizers
    /// (with rollovers and resets), rates (with gaps longer than max_gap), several per asset.
    static func telemetry(_ rng: inout SplitMix) -> [Reading] {
        let start = ts("2026-11-28T04:00:00+08:00").microseconds
        let end = start + 8 * 3_600_000_000
        var out: [Reading] = []
        let series: [(String, CBMCore.Measurement, Double?)] = [
            ("W01", .gasTotal, 1_000_000), ("W01", .waterRate, nil), ("W02", .gasRate, nil), ("W03", .gasTotal, nil),
            ("W04", .gasRate, nil), ("W04", .gasTotal, 50_000), ("M01", .gasTotal, nil), ("M02", .gasRate, nil),
            ("FL1", .gasRate, nil), ("X99", .gasTotal, nil),
        ]
        for (asset, m, rollover) in series {
            var t = start + Int64.random(in: 0..<1_200_000_000, using: &rng)
            var total = Double(Int.random(in: 0..<40_000, using: &rng))
            while t < end {
                let value: Double
                if m.isTotalizer {
                    total += Double.random(in: 0..<400, using: &rng)
                    if let r = rollover, total >= r { total -= r }
                    if Int.random(in: 0..<60, using: &rng) == 0 { total = Double.random(in: 0..<10, using: &rng) }  // reset
                    value = total
                } else {
                    value = Int.random(in: 0..<10, using: &rng) == 0 ? 0 : Double.random(in: 100..<3000, using: &rng)
                }
                out.append(Reading(time: Timestamp(microseconds: t), asset: asset, measurement: m, value: value, rollover: rollover))
                // Mostly every few minutes, sometimes a gap longer than max_gap.
                t += Int.random(in: 0..<12, using: &rng) == 0 ? Int64.random(in: 1_200_000_000...5_400_000_000, using: &rng)
                    : Int64.random(in: 30_000_000...600_000_000, using: &rng)
            }
        }
        return out.sorted { ($0.time, $0.asset, $0.measurement.rawValue) < ($1.time, $1.asset, $1.measurement.rawValue) }
    }

    static func finalFigures(_ r: AggregationHarness.Result) -> [TotalsRecord.Key: TotalsRecord] {
        r.final.mapValues { var x = $0; x.revision = 0; return x }
    }

    @Test("random batching, partitioning and reordering (within the lateness, and late beyond it) give identical final records",
          arguments: 0..<12)
    func sameTotals(seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 7919 &+ 17)
        var h = AggregationHarness()
        h.register = AssetRegister(AggregationHarness.field.assets)
        let readings = Self.telemetry(&rng)
        let baseline = Self.finalFigures(h.run([readings]))
        #expect(baseline.count > 100)

        // Arrival order: each reading delayed by a random amount, mostly within the allowed
        // lateness, some by up to three hours (they come as corrections); random batches and
        // partition counts.
        let lateness = Double(h.settings.allowedLatenessUS)
        let arrival = readings.map { r -> (Double, Reading) in
            let delay = Int.random(in: 0..<20, using: &rng) == 0 ? Double.random(in: 0..<1.08e10, using: &rng)
                : Double.random(in: 0..<(lateness * 0.9), using: &rng)
            return (Double(r.time.microseconds) + delay, r)
        }.sorted { $0.0 < $1.0 }.map(\.1)
        var batches: [[Reading]] = []
        var i = 0
        while i < arrival.count {
            let n = Int.random(in: 1...60, using: &rng)
            batches.append(Array(arrival[i..<min(i + n, arrival.count)]))
            i += n
        }
        let partitions = Int.random(in: 1...4, using: &rng)
        let shuffled = h.run(batches, partitions: partitions)
        let got = Self.finalFigures(shuffled)
        #expect(got.count == baseline.count, "partitions \(partitions)")
        var differing = 0
        for (k, v) in baseline where got[k] != v {
            differing += 1
            if differing <= 3 { Issue.record("\(k): \(String(describing: got[k])) != \(v)") }
        }
        #expect(differing == 0)
        // Corrections really happened, so the revision path was exercised.
        #expect(shuffled.records.contains { $0.revision > 1 } || batches.count < 3)
    }
}
