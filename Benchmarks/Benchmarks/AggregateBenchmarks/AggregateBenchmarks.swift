import Benchmark
import CBMCore
import Foundation

// The aggregate stage alone: readings into the per-asset aggregator, the watermark after every
// batch, hourly figures into the roll-up, totals out. One iteration is one minute of a field of
// 1,000 wells that each send a totalizer reading every minute (1,000 readings), so with
// `scalingFactor: .kilo` the figures marked `*` are per reading and `Throughput (K)` is thousands
// of readings per second. The field runs on for as many simulated minutes as the benchmark takes:
// hours, gas days and months close, and history is pruned at the horizon, as in a long run.
// Left out: the history archive (readings move to an in-memory one at the horizon, not SQLite),
// the pipeline's stages and the relay between threads, and the encoding of what comes out.

final class Field: @unchecked Sendable {
    static let wells = 1_000
    let ids = (0..<Field.wells).map { String(format: "W%04d", $0) }
    let register: AssetRegister
    var part: AssetAggregator
    var totals: TotalsAggregator
    var minute: Int64 = 0
    var totalizers: [Double]
    var records: [TotalsRecord] = []
    var events: [EventRecord] = []
    var hours: [AssetHour] = []
    let start = Timestamp(seconds: 1_795_996_800)  // a gas day start in Asia/Shanghai

    init(rate: Bool) {
        register = AssetRegister((0..<Field.wells).map { i in
            Asset(id: String(format: "W%04d", i), kind: .well, field: "F\(i % 4)", block: "B\(i % 40)")
        })
        var settings = AggregationSettings()
        settings.horizonUS = 6 * 3_600_000_000
        part = AssetAggregator(settings: settings, horizonUS: settings.horizonUS)
        totals = TotalsAggregator(settings: settings, factors: Factors(), register: register, horizonUS: settings.horizonUS)
        totalizers = (0..<Field.wells).map { Double($0) * 1000 }
        self.rate = rate
    }

    let rate: Bool

    /// One simulated minute of the field.
    @inline(never)
    func minuteOfReadings(_ benchmark: Benchmark) {
        let t = start + minute * 60_000_000
        minute += 1
        for i in benchmark.scaledIterations {
            totalizers[i] += Double(i % 7) + 0.5
            part.add(Reading(time: t, asset: ids[i], measurement: rate ? .gasRate : .gasTotal,
                             value: rate ? Double(i % 50) * 10 : totalizers[i]), events: &events)
        }
        part.advance(to: t, into: &hours)
        totals.receive(hours)
        hours.removeAll(keepingCapacity: true)
        totals.advance(to: t, into: &records)
        blackHole(records.count)
        records.removeAll(keepingCapacity: true)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 100_000
    )
    let totalizerField = Field(rate: false)
    Benchmark("Aggregate: totalizers, steady state") { benchmark in
        totalizerField.minuteOfReadings(benchmark)
    }
    let rateField = Field(rate: true)
    Benchmark("Aggregate: rates, steady state") { benchmark in
        rateField.minuteOfReadings(benchmark)
    }
}
