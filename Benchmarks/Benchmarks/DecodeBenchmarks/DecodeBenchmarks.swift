import Benchmark
import CBMCore

// The decoder and the record encoder, on realistic telemetry (see Fixtures.swift).
//
// Every iteration handles one batch of `Fixtures.batch` (1,000) messages, walking through a pool
// of 10,000 messages built before the first iteration (in the benchmark's setup, outside the
// measured region). With `scalingFactor: .kilo` the figures the tool marks `*` are per message
// (wall-clock ns per message, mallocs per message), and `Throughput (# / s) (K)` is batches per
// second, which is thousands of messages per second.

/// State a benchmark carries from one iteration to the next. Benchmarks run one at a time on one
/// thread, so it needs no lock.
final class DecodeCase: @unchecked Sendable {
    let messages: [InboundMessage]
    /// Readings of each message, in pool order.
    let readings: [[Reading]]
    var decoder: TelemetryDecoder
    var encoder = RecordEncoder(zone: ZoneOffsets(zone: Fixtures.zone), basis: .c20)
    private var next = 0

    init(rule: DecodeRule, messages: [InboundMessage], readingsPerMessage: Int) {
        precondition(messages.count % Fixtures.batch == 0)
        self.messages = messages
        (decoder, readings) = Fixtures.warmedDecoder(rule: rule, messages: messages, readingsPerMessage: readingsPerMessage)
    }

    /// The pool index of the next batch's first message.
    func nextBatch() -> Int {
        let start = next
        next = (next + Fixtures.batch) % messages.count
        return start
    }

    static let json = DecodeCase(rule: Fixtures.jsonRule, messages: Fixtures.jsonMessages(), readingsPerMessage: 4)
    static let value = DecodeCase(rule: Fixtures.valueRule, messages: Fixtures.valueMessages(), readingsPerMessage: 1)
}

/// Decodes one batch as the pipeline's decode stage does: a fresh readings array per batch.
@inline(never)
func decodeBatch(_ c: DecodeCase, _ benchmark: Benchmark, readingsPerMessage: Int) {
    let start = c.nextBatch()
    var readings: [Reading] = []
    var rejects: [Reject] = []
    readings.reserveCapacity(Fixtures.batch * readingsPerMessage)
    c.messages.withUnsafeBufferPointer { messages in
        for i in benchmark.scaledIterations {
            c.decoder.decode(messages[start + i], readings: &readings, rejects: &rejects)
        }
    }
    // A change to the decoder that turned these messages into rejects would otherwise be measured
    // silently as the reject path.
    precondition(rejects.isEmpty && readings.count == Fixtures.batch * readingsPerMessage,
                 "\(rejects.count) rejects, first: \(rejects.first.map { "\($0.reason)" } ?? "-")")
    blackHole(readings)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 100_000
    )

    // cbm/shizhuang/SZ-A/W-SZ-A01/telemetry
    // {"ts":1764374400,"gas_m3h":48.657,"gas_total":359074.3,"water_m3d":1.17,"casing_kpa":752.2}
    Benchmark(
        "Decode json (4 values), 1,000 wells",
        configuration: .init(setup: { _ = DecodeCase.json })
    ) { benchmark in
        decodeBatch(DecodeCase.json, benchmark, readingsPerMessage: 4)
    }

    // cbm/f/b/W0001/gas_rate  12.5
    Benchmark(
        "Decode value, 1,000 wells",
        configuration: .init(setup: { _ = DecodeCase.value })
    ) { benchmark in
        decodeBatch(DecodeCase.value, benchmark, readingsPerMessage: 1)
    }

    // The readings of the json messages (4 a message) as `readings` JSON lines, taken per batch
    // as the file sink does.
    Benchmark(
        "Encode readings of json messages (4 lines a message)",
        configuration: .init(setup: { _ = DecodeCase.json })
    ) { benchmark in
        let c = DecodeCase.json
        let start = c.nextBatch()
        c.readings.withUnsafeBufferPointer { readings in
            for i in benchmark.scaledIterations {
                for r in readings[start + i] { c.encoder.encode(r) }
            }
        }
        blackHole(c.encoder.take())
    }
}
