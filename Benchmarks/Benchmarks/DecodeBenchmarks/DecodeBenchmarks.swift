import Benchmark
import CBMCore
import CBMStorage

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

    init(decoder: TelemetryDecoder, messages: [InboundMessage]) {
        self.messages = messages
        self.decoder = decoder
        readings = []
    }

    static let json = DecodeCase(rule: Fixtures.jsonRule, messages: Fixtures.jsonMessages(), readingsPerMessage: 4)
    /// Sparkplug B DDATA by alias, after the births (and one pass over the pool).
    static let sparkplug: DecodeCase = {
        let (births, data) = Fixtures.sparkplugMessages()
        var decoder = TelemetryDecoder(rules: [Fixtures.sparkplugRule], register: Fixtures.register, limits: DecodeLimits())
        var readings: [Reading] = [], rejects: [Reject] = []
        for m in births + data { decoder.decode(m, readings: &readings, rejects: &rejects) }
        precondition(rejects.isEmpty && readings.count == 4 * data.count, "\(rejects.count) rejects, first: \(rejects.first.map { "\($0.reason)" } ?? "-")")
        _ = decoder.takeRebirths()
        return DecodeCase(decoder: decoder, messages: data)
    }()
    static let value = DecodeCase(rule: Fixtures.valueRule, messages: Fixtures.valueMessages(), readingsPerMessage: 1)
}

/// The json messages as the lines of a text recording (`mosquitto_sub -F '%U %t %p'`), and a
/// decode step that has seen them all once; with a preparer, the lines' routes and flat payloads
/// are read first, as a replay's reading thread does.
final class LinesCase: @unchecked Sendable {
    let text: [UInt8]
    /// Where each batch of `Fixtures.batch` lines starts in `text`.
    let starts: [Int]
    var step: DecodeStep
    var preparer: LinePreparer?
    private var next = 0

    init(prepared: Bool) {
        preparer = prepared ? LinePreparer(settings: PipelineSettings(rules: [Fixtures.jsonRule], register: Fixtures.register)) : nil
        let messages = Fixtures.jsonMessages()
        var text: [UInt8] = [], starts: [Int] = []
        for (i, m) in messages.enumerated() {
            if i % Fixtures.batch == 0 { starts.append(text.count) }
            let t = m.receivedAt.microseconds
            text += Array("\(t / 1_000_000).\(String(format: "%06d", t % 1_000_000)) \(m.topic) ".utf8) + m.payload + [10]
        }
        starts.append(text.count)
        self.text = text
        self.starts = starts
        let decoder = TelemetryDecoder(rules: [Fixtures.jsonRule], register: Fixtures.register, limits: DecodeLimits())
        step = DecodeStep(decoder: decoder, partitions: 2, settings: AggregationSettings(), silenceAfterUS: nil)
        for b in 0..<(starts.count - 1) { _ = batch(b) }
    }

    /// Splits, decodes and hands on batch `b`; the readings handed on.
    func batch(_ b: Int) -> Int {
        var lines = MessageBatch()
        let buffer = lines.add(buffer: text)
        var start = starts[b]
        while start < starts[b + 1], let nl = Recording.newline(in: text, from: start) {
            if case .success(let (time, topic, payload)) = Recording.textLineFields(text[start..<nl]) {
                lines.add(receivedAt: time, buffer: buffer, topic: topic, payload: payload)
            }
            start = nl + 1
        }
        preparer?.prepare(&lines)
        var actions: [DecodeStep.Action] = []
        step.handle(.lines(lines), into: &actions)
        step.forward(into: &actions)
        var readings = 0
        for case .partition(_, .readings(let r)) in actions { readings += r.count }
        for case .rejects(let r) in actions { precondition(r.isEmpty, "\(r.count) rejects, first: \(r[0].reason)") }
        precondition(readings == 4 * Fixtures.batch, "\(readings) readings")
        return readings
    }

    /// One batch an iteration: with `scalingFactor: .kilo`, the figures are per line.
    func run(_ benchmark: Benchmark) {
        precondition(benchmark.scaledIterations.count == Fixtures.batch)
        blackHole(batch(next))
        next = (next + 1) % (starts.count - 1)
    }

    static let plain = LinesCase(prepared: false)
    static let prepared = LinesCase(prepared: true)
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

    // spBv1.0/shizhuang/DDATA/SZ-A/W-SZ-A01, a protobuf payload of four Double metrics by alias
    // with their timestamps (the JSON case's values): swift-protobuf's decoding, the alias table,
    // then the same admission and plausibility.
    Benchmark(
        "Decode Sparkplug B DDATA (4 metrics by alias), 1,000 devices",
        configuration: .init(setup: { _ = DecodeCase.sparkplug })
    ) { benchmark in
        decodeBatch(DecodeCase.sparkplug, benchmark, readingsPerMessage: 4)
    }

    // cbm/f/b/W0001/gas_rate  12.5
    Benchmark(
        "Decode value, 1,000 wells",
        configuration: .init(setup: { _ = DecodeCase.value })
    ) { benchmark in
        decodeBatch(DecodeCase.value, benchmark, readingsPerMessage: 1)
    }

    // What a replay does with a text recording's lines, short of reading the file: split at line
    // feeds, each line's time, topic and payload found (`Recording.textLineFields`), its route and
    // flat payload read (`LinePreparer`: in a replay, on the reading thread), then decoded where it
    // lies by the pipeline's decode step (admission, plausibility, totalizers), readings handed on
    // to two partitions: here all on one thread, the sum of both threads' work. Left out: the file
    // read and decompression, the hand-offs between the threads, the relay to the aggregation
    // thread (AggregateBenchmarks has aggregation), and the encoders (below and in
    // OutputBenchmarks; CSV is encoded only when configured). The second, without the preparer,
    // is the decode step routing and scanning for itself (a daemon's messages).
    Benchmark(
        "Replay: text lines split, prepared and decoded in place (json, 4 values), 1,000 wells",
        configuration: .init(setup: { _ = LinesCase.prepared })
    ) { benchmark in
        LinesCase.prepared.run(benchmark)
    }

    Benchmark(
        "Replay decode step: text lines in place, not prepared (json, 4 values), 1,000 wells",
        configuration: .init(setup: { _ = LinesCase.plain })
    ) { benchmark in
        LinesCase.plain.run(benchmark)
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
