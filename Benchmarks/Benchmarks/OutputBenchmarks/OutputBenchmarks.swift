import Benchmark
import CBMCore
import CBMStorage
import Foundation

// Writing the totals family: encoding records as JSON Lines and appending them to rotating files
// (64 MiB, with the open-file marker and the atomic close of each file), as the file sink does.
// One iteration is 1,000 records, so with `scalingFactor: .kilo` the figures marked `*` are per
// record and `Throughput (K)` is thousands of records per second. A record is about 330 bytes;
// the benchmark prints the exact figure, for MB/s.
// Left out: the CSV encoder (the sink runs it only when `output.formats` has csv), fsync at
// checkpoints, and `latest.json`.

final class TotalsWriter: @unchecked Sendable {
    let directory = NSTemporaryDirectory() + "cbm-bench-output-\(UUID().uuidString.prefix(8))"
    let store: OutputStore
    var encoder = RecordEncoder(zone: ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!), basis: .c20)
    let records: [TotalsRecord]
    var bytesPerRecord = 0.0
    var t = Timestamp(seconds: 1_795_996_800)

    init(formats: [OutputStore.Format]) {
        var settings = OutputStore.Settings(directory: directory)
        settings.formats = formats
        settings.retention = RetentionPolicy(maxBytes: 2 << 30)
        store = OutputStore(settings: settings, onEvent: { _ in }, onError: { print($0) })
        let span = WindowSpan(start: t, end: t + 3_600_000_000)
        records = (0..<1_000).map { i in
            TotalsRecord(window: .hour, span: span, scope: .well, id: String(format: "W-SZ-%04d", i),
                         gasM3: Double(i) * 1.37 + 0.123456789, waterM3: Double(i % 9) * 0.21,
                         flowSeconds: 3600, coverage: 1, samples: 60, estimated: false, revision: 1)
        }
        for r in records { encoder.encode(r, factors: Factors()) }
        bytesPerRecord = Double(encoder.take().count) / Double(records.count)
    }

    @inline(never)
    func write(_ benchmark: Benchmark) {
        for i in benchmark.scaledIterations { encoder.encode(records[i], factors: Factors()) }
        t = t + 1_000_000
        try! store.append(encoder.take(), family: .totals, format: .jsonl, at: t)
    }

    deinit {
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 20_000
    )
    let writer = TotalsWriter(formats: [.jsonl])
    print("totals record: \(writer.bytesPerRecord) bytes on average")
    Benchmark("Output: totals records encoded and appended to rotating JSON Lines files") { benchmark in
        writer.write(benchmark)
    }
}
