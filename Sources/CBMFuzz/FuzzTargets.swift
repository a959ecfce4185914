import CBMCore
import CBMStorage
import Foundation

/// What the fuzzers drive: each target takes arbitrary bytes and runs one reader of untrusted
/// input over them. Nothing here may trap, whatever the bytes; a target that finds a way is a
/// bug, and the input that found it is kept under `Tests/Fuzz/regressions/<target>/`, where the
/// tests run it again.
public enum FuzzTargets {
    /// The targets by name.
    public static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("decode", decode), ("topic", topic), ("recording", recording), ("journal", journal), ("checkpoint", checkpoint),
        ("sparkplug", sparkplug),
    ]

    static let register = AssetRegister([
        Asset(id: "W1", kind: .well, field: "F", block: "B", expectedGasM3d: 1_200),
        Asset(id: "M1", kind: .delivery, sector: .power),
    ])

    static func mapping(_ unit: String, _ m: CBMCore.Measurement, rollover: Double? = nil) -> DecodeRule.ValueMapping {
        guard case .success(let u) = MeasurementUnit.parse(unit, for: m.dimension) else { fatalError(unit) }
        return DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u, meterBasis: .c0, reportingBasis: .c20), rollover: rollover)
    }

    static func rule(_ filter: String, _ template: String, _ format: DecodeRule.Format) -> DecodeRule {
        guard case .success(let f) = TopicFilter.parse(filter), case .success(let t) = TopicTemplate.parse(template) else { fatalError() }
        return DecodeRule(filter: f, template: t, format: format)
    }

    static let rules = [
        rule("t/+/json", "t/{asset}/json", .json(.init(timeKey: "ts", values: [
            (key: "g", mapping: mapping("1e4m3/d", .gasRate)), (key: "c", mapping: mapping("Nm3", .gasTotal, rollover: 1e9)),
            (key: "p", mapping: mapping("MPa", .casingPressure)), (key: "f", mapping: mapping("%", .methaneFraction)),
        ]))),
        rule("t/+/batch", "t/{x}/batch", .json(.init(timeKey: "time", timeFormat: .rfc3339, assetKey: "dev", values: [
            (key: "w", mapping: mapping("bbl/d", .waterRate)),
        ]))),
        rule("t/+/+", "t/{asset}/{measurement}", .value(.init(values: [
            "gas_rate": mapping("m3/h", .gasRate), "gas_total": mapping("scf", .gasTotal), "temperature": mapping("degF", .temperature),
        ]))),
    ]

    /// Inputs to start from, by target: well-formed ones of every kind each reader knows, so that
    /// the fuzzer begins deep inside the formats. The tests run them too.
    public static func seeds() -> [(target: String, name: String, bytes: [UInt8])] {
        var out: [(String, String, [UInt8])] = []
        func add(_ target: String, _ name: String, _ bytes: [UInt8]) { out.append((target, name, bytes)) }
        func add(_ target: String, _ name: String, _ text: String) { add(target, name, Array(text.utf8)) }
        let payloads: [(UInt8, String)] = [
            (0, #"{"ts":1796140800,"g":1.25,"c":123456.5,"p":0.8,"f":92.5}"#),
            (0, #"{"ts":"2026-12-01T08:00:00+08:00","g":0.9}"# + "\n" + #"{"ts":1796140861,"c":1e9}"#),
            (2, #"{"time":"2026-12-01T00:00:00.250Z","dev":"W1","w":12.5}"#),
            (2, #"[{"time":"2026-12-01T00:00:00Z","dev":"W1","w":1},{"time":"2026-12-01T00:01:00Z","dev":"M1","w":2}]"#),
            (3, "52.5"), (4, "1234567.25"), (5, "68.0"), (6, #"{"ts":1796140800,"g":1}"#), (7, "x"),
        ]
        for (i, (topic, payload)) in payloads.enumerated() { add("decode", "payload-\(i)", [topic] + Array(payload.utf8)) }
        add("topic", "well", "t/+/json\nt/{asset}/json\nt/W1/json")
        add("topic", "deep", "sites/#\nsites/{field}/{block}/{asset}/{measurement}\nsites/F/B/W1/gas_rate")
        add("topic", "shared", "$share/g/t/+\nt/{asset}\nt/W1")
        let messages = [
            InboundMessage(topic: "t/W1/json", payload: Array(payloads[0].1.utf8), receivedAt: Timestamp(seconds: 1_796_140_800)),
            InboundMessage(topic: "t/W1/gas_rate", payload: Array("52.5".utf8),
                           receivedAt: Timestamp(microseconds: 1_796_140_801_250_000), qos: 1, retained: true),
            InboundMessage(topic: "t/x/batch", payload: Array(payloads[2].1.utf8), receivedAt: Timestamp(seconds: 1_796_140_802)),
        ]
        add("recording", "text", messages.map { "\($0.receivedAt.microseconds / 1_000_000) \($0.topic) \(String(decoding: $0.payload, as: UTF8.self))" }
            .joined(separator: "\n"))
        add("recording", "json", #"{"tst":"2026-11-29T07:16:51.854359Z+0000","topic":"t/W1/gas_rate","qos":1,"retain":0,"payloadlen":4,"payload":"52.5"}"#
            + "\n" + #"{"tst":"2026-11-29T07:16:52.000001Z+0000","topic":"t/W1/json","qos":0,"retain":1,"payloadlen":7,"payload":"{\"g\":1}"}"#)
        let segment = Journal.segment(messages, from: 41)
        add("journal", "segment", segment)
        add("journal", "torn", Array(segment.dropLast(5)))
        add("recording", "journal", segment)
        // The states of a pipeline that has seen some readings, each alone and in a checkpoint.
        var decoder = TelemetryDecoder(rules: rules, register: register, limits: DecodeLimits())
        var aggregator = AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)
        var totals = TotalsAggregator(settings: AggregationSettings(), factors: Factors(), register: register, horizonUS: 86_400_000_000)
        var alerts = AlertEngine(rules: [AlertRule(name: "s", kind: .noData(afterUS: 60_000_000), scope: .well)], register: register)
        var events: [EventRecord] = [], hours: [AssetHour] = [], records: [TotalsRecord] = [], raised: [AlertRecord] = []
        for hour in 0..<3 {
            var readings: [Reading] = [], rejects: [Reject] = []
            for m in messages {
                var n = m
                n.receivedAt = Timestamp(microseconds: m.receivedAt.microseconds + Int64(hour) * 3_600_000_000)
                decoder.decode(n, readings: &readings, rejects: &rejects)
            }
            aggregator.add(readings, events: &events)
            aggregator.advance(to: Timestamp(seconds: 1_796_140_800 + Int64(hour) * 3_600), into: &hours)
            totals.receive(hours)
            hours.removeAll()
            totals.advance(to: Timestamp(seconds: 1_796_140_800 + Int64(hour) * 3_600), into: &records)
            alerts.evaluate(records, into: &raised)
        }
        var w = BinaryWriter()
        decoder.save(into: &w)
        let states: [(String, [UInt8])] = [("decoder", w.bytes), ("aggregator", { var w = BinaryWriter(); aggregator.save(into: &w); return w.bytes }()),
                                           ("totals", { var w = BinaryWriter(); totals.save(into: &w); return w.bytes }()),
                                           ("alerts", { var w = BinaryWriter(); alerts.save(into: &w); return w.bytes }())]
        for (name, state) in states {
            add("checkpoint", name, state)
            add("checkpoint", name + ".cbmc", CheckpointStore.encode(sequence: 43, state: state, outputs: [1, 2, 3]))
        }
        for (name, bytes) in sparkplugSeeds() { add("sparkplug", name, bytes) }
        return out
    }

    /// Payloads through the decoder, then the readings through the aggregation and the alarms.
    /// The first byte picks the topic and moves the receive time; the rest is the payload.
    public static func decode(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let topics = ["t/W1/json", "t/M1/json", "t/x/batch", "t/W1/gas_rate", "t/W1/gas_total", "t/W1/temperature", "t/W9/json", "u/v"]
        var step = DecodeStep(decoder: TelemetryDecoder(rules: rules, register: register, limits: DecodeLimits()), partitions: 2,
                              settings: AggregationSettings(), silenceAfterUS: 60_000_000)
        var aggregators = [AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000),
                           AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)]
        var totals = TotalsAggregator(settings: AggregationSettings(), factors: Factors(), register: register, horizonUS: 86_400_000_000)
        var alerts = AlertEngine(rules: [AlertRule(name: "s", kind: .noData(afterUS: 60_000_000), scope: .well),
                                         AlertRule(name: "l", kind: .lowOutput(.fractionOfExpected(below: 0.5, clearAbove: 0.6)), scope: .well)],
                                 register: register)
        var records: [TotalsRecord] = [], out: [AlertRecord] = [], events: [EventRecord] = []
        // The payload once, then as the lines of a batch of messages.
        let payload = Array(bytes.dropFirst())
        var messages = [InboundMessage(topic: topics[Int(first) % topics.count], payload: payload,
                                       receivedAt: Timestamp(seconds: 1_796_140_800 + Int64(first) * 37))]
        for (i, line) in payload.split(separator: 10).prefix(64).enumerated() {
            messages.append(InboundMessage(topic: topics[(Int(first) + i) % topics.count], payload: Array(line),
                                           receivedAt: Timestamp(seconds: 1_796_140_800 + Int64(i) * 61)))
        }
        // The flat scanner and the parser read every payload alike.
        var scanned = TelemetryDecoder(rules: rules, register: register, limits: DecodeLimits())
        var parsed = scanned
        parsed.scansFlatPayloads = false
        for m in messages {
            var a: ([Reading], [Reject]) = ([], []), b: ([Reading], [Reject]) = ([], [])
            scanned.decode(m, readings: &a.0, rejects: &a.1)
            parsed.decode(m, readings: &b.0, rejects: &b.1)
            precondition(a.0 == b.0 && a.1 == b.1, "the flat scanner and the parser disagree")
        }
        for m in messages {
            _ = step.take(m)
            let h = step.handOn()
            for p in 0..<2 {
                aggregators[p].add(h.readings[p], events: &events)
                var hours: [AssetHour] = []
                aggregators[p].advance(to: h.watermark, into: &hours)
                totals.receive(hours)
            }
            if let heard = h.heard { alerts.heard(heard, into: &out) }
            totals.advance(to: h.watermark, into: &records)
            alerts.evaluate(records, into: &out)
            records.removeAll()
        }
        step.finish()
        var encoder = RecordEncoder(zone: ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!), basis: .c20)
        var csv = CSVRecordEncoder(zone: ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!), basis: .c20, factors: Factors())
        for r in step.handOn().rejects {
            encoder.encode(r)
            csv.encode(r)
        }
        for e in events { encoder.encode(e) }
        for a in out { encoder.encode(a) }
    }

    /// Topic filters, templates and topics: the lines of the input.
    public static func topic(_ bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3 else { return }
        if case .success(let f) = TopicFilter.parse(lines[0]) {
            _ = f.matches(lines[2])
            if case .success(let g) = TopicFilter.parse(lines[1]) { _ = f.covers(g) }
        }
        if case .success(let t) = TopicTemplate.parse(lines[1]) {
            _ = t.match(lines[2])
            if case .success(let f) = TopicFilter.parse(lines[0]) { _ = t.check(against: f) }
        }
    }

    /// Recording lines in both text formats, and a recording file streamed in pieces.
    public static func recording(_ bytes: [UInt8]) {
        for line in bytes.split(separator: 10, omittingEmptySubsequences: false) {
            _ = Recording.parseTextLine(line)
            _ = Recording.parseJSONLine(line)
        }
    }

    /// Journal segments: whole, and fed in pieces of a size the input chooses.
    public static func journal(_ bytes: [UInt8]) {
        var whole = JournalScanner(name: "fuzz")
        whole.feed(bytes)
        var sequences: [UInt64] = []
        while let item = whole.next(atEnd: true) {
            if case .record(let r) = item { sequences.append(r.sequence) }
            if case .damage(let d) = item, case .skipped(_, let offset, let count, _) = d { _ = whole.bytes(offset: offset, count: count) }
        }
        let piece = max(1, Int(bytes.first ?? 1))
        var parts = JournalScanner(name: "fuzz")
        var streamed: [UInt64] = []
        var i = 0
        while true {
            let atEnd = i >= bytes.count
            if !atEnd { parts.feed(Array(bytes[i..<min(i + piece, bytes.count)])) }
            while let item = parts.next(atEnd: atEnd) { if case .record(let r) = item { streamed.append(r.sequence) } }
            if atEnd { break }
            i += piece
        }
        // Pieces or whole, the same records.
        precondition(sequences == streamed, "the scanner reads differently in pieces")
    }

    /// Checkpoint files and the states inside them, at every version.
    public static func checkpoint(_ bytes: [UInt8]) {
        if case .success(let c) = CheckpointStore.parse(bytes, file: "fuzz") { states(c.state) }
        states(bytes)
    }

    static func states(_ bytes: [UInt8]) {
        for version in 1...BinaryReader.currentVersion {
            var d = TelemetryDecoder(rules: rules, register: register, limits: DecodeLimits())
            var r = BinaryReader(bytes, version: version)
            try? d.restore(from: &r)
            var a = AssetAggregator(settings: AggregationSettings(), horizonUS: 86_400_000_000)
            r = BinaryReader(bytes, version: version)
            try? a.restore(from: &r, belongs: { _ in true })
            var hours: [AssetHour] = []
            // A state can say that an asset was last heard of centuries ago: advancing it walks
            // every hour since, as it should. That is time, not a fault; the fuzzer skips it.
            let now = Timestamp(seconds: 1_796_140_800)
            if a.pendingSpanUS(through: now) < 400 * 86_400_000_000 { a.advance(to: now, into: &hours) }
            var t = TotalsAggregator(settings: AggregationSettings(), factors: Factors(), register: register, horizonUS: 86_400_000_000)
            r = BinaryReader(bytes, version: version)
            try? t.restore(from: &r)
            var records: [TotalsRecord] = []
            t.receive(hours)
            t.advance(to: Timestamp(seconds: 1_796_140_800), into: &records)
            var e = AlertEngine(rules: [AlertRule(name: "s", kind: .noData(afterUS: 60_000_000), scope: .well)], register: register)
            r = BinaryReader(bytes, version: version)
            try? e.restore(from: &r)
            var out: [AlertRecord] = []
            e.advance(to: Timestamp(seconds: 1_796_140_800), into: &out)
        }
    }
}

extension FuzzTargets {
    /// A `sparkplug_b` rule for the edge node `g/n`: devices are the assets.
    static let sparkplugRules: [DecodeRule] = {
        guard case .success(let f) = TopicFilter.parse("spBv1.0/g/+/n/#"), case .success(let asset) = SparkplugAssetTemplate.parse("{device}"),
              case .success(let unit) = MeasurementUnit.parse("m3/h", for: CBMCore.Measurement.gasRate.dimension) else { fatalError() }
        let m = DecodeRule.ValueMapping(measurement: .gasRate, conversion: Conversion(unit: unit, meterBasis: .c20, reportingBasis: .c20))
        let total = mapping("m3", .gasTotal, rollover: 1e9)
        return [DecodeRule(filter: f, template: nil, format: .sparkplugB(.init(asset: asset, values: [
            "flow": .init(mapping: m, unit: nil, meterBasis: .c20, reportingBasis: .c20),
            "total": .init(mapping: total, unit: try? MeasurementUnit.parse("m3", for: total.measurement.dimension).get(),
                           meterBasis: .c20, reportingBasis: .c20),
        ])))]
    }()

    static let sparkplugTopics = ["spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/W1", "spBv1.0/g/DDATA/n/W1", "spBv1.0/g/NDATA/n",
                                  "spBv1.0/g/DDEATH/n/W1", "spBv1.0/g/NDEATH/n", "spBv1.0/STATE/h", "spBv1.0/g/XDATA/n"]

    /// A node and its device born, as the other messages find them.
    static func sparkplugBirths(at ms: Int64) -> [(Int, [UInt8])] {
        [(0, SparkplugEncoding.payload(seq: 0, timestamp: ms, metrics: [.init(name: "bdSeq", datatype: 4, long: 3, timestamp: ms)])),
         (1, SparkplugEncoding.payload(seq: 1, timestamp: ms, metrics: [
            .init(name: "flow", alias: 1, datatype: 10, double: 12.5, timestamp: ms, engUnit: "m3/h"),
            .init(name: "total", alias: 2, datatype: 10, double: 1000, timestamp: ms),
            .init(name: "status", alias: 3, datatype: 11, bool: true, timestamp: ms),
         ]))]
    }

    /// Sparkplug B payloads after a birth: the first byte picks the message type (and moves the
    /// receive time), the rest is the payload; then the decoder's sessions through a checkpoint.
    public static func sparkplug(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let t0: Int64 = 1_796_140_800_000
        var decoder = TelemetryDecoder(rules: sparkplugRules, register: register, limits: DecodeLimits())
        var readings: [Reading] = [], rejects: [Reject] = []
        for (topic, payload) in sparkplugBirths(at: t0) {
            decoder.decode(InboundMessage(topic: sparkplugTopics[topic], payload: payload, receivedAt: Timestamp(microseconds: t0 * 1000)),
                           readings: &readings, rejects: &rejects)
        }
        precondition(rejects.isEmpty, "the births are rejected: \(rejects)")
        let m = InboundMessage(topic: sparkplugTopics[Int(first) % sparkplugTopics.count], payload: Array(bytes.dropFirst()),
                               receivedAt: Timestamp(microseconds: (t0 + Int64(first) * 1000) * 1000))
        decoder.decode(m, readings: &readings, rejects: &rejects)
        _ = decoder.takeRebirths()
        _ = decoder.takeOffline()
        var w = BinaryWriter()
        decoder.save(into: &w)
        var restored = TelemetryDecoder(rules: sparkplugRules, register: register, limits: DecodeLimits())
        var r = BinaryReader(w.bytes)
        do { try restored.restore(from: &r) } catch { preconditionFailure("the decoder's own checkpoint does not restore: \(error)") }
        precondition(restored.sparkplug == decoder.sparkplug, "the sessions change through a checkpoint")
    }

    /// Seeds of the Sparkplug target: a data message by alias, a birth, a death.
    static func sparkplugSeeds() -> [(String, [UInt8])] {
        let ms: Int64 = 1_796_140_860_000
        return [
            ("ddata", [2] + SparkplugEncoding.payload(seq: 2, timestamp: ms, metrics: [.init(alias: 1, datatype: 10, double: 13, timestamp: ms)])),
            ("dbirth", [1] + sparkplugBirths(at: ms)[1].1),
            ("ndeath", [5] + SparkplugEncoding.payload(seq: nil, timestamp: ms, metrics: [.init(name: "bdSeq", datatype: 4, long: 3)])),
        ]
    }
}
