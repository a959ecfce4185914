import CBMCore
import Foundation

/// The benchmarks' data: a register of 1,000 wells, the rules a configuration would build, and
/// pools of messages built once, before anything is measured.
///
/// A pool holds `roundsPerWell` messages of every well, each with its own time and values, so the
/// decoder never sees one cached string over and over. Iterations walk through the pool batch by
/// batch.
enum Fixtures {
    /// Messages decoded (or encoded) per benchmark iteration: `Benchmark.scaledIterations` with
    /// `scalingFactor: .kilo`, so the scaled figures read per message.
    static let batch = 1_000
    /// Registered wells.
    static let wellCount = 1_000
    /// Messages per well in a pool.
    static let roundsPerWell = 10
    /// 2025-11-29T00:00:00Z, the first `ts` of the JSON pool.
    static let t0: Int64 = 1_764_374_400
    /// How long after its `ts` a message is received.
    static let receiveDelay: Int64 = 2

    // MARK: the register

    /// JSON wells: 10 blocks of the Shizhuang field (SZ-A … SZ-J), 100 wells each, W-SZ-A01 … W-SZ-J100.
    static let jsonWells: [(block: String, id: String)] = (0..<wellCount).map { i in
        let block = "SZ-" + String(UnicodeScalar(UInt8(ascii: "A") + UInt8(i / 100)))
        let n = i % 100 + 1
        return (block, "W-" + block + (n < 10 ? "0\(n)" : "\(n)"))
    }

    /// `value` wells: W0001 … W1000 in field f, block b.
    static let valueWells: [String] = (1...wellCount).map { n in
        "W" + String(repeating: "0", count: 4 - String(n).count) + String(n)
    }

    static let register = AssetRegister(
        jsonWells.map { Asset(id: $0.id, kind: .well, field: "shizhuang", block: $0.block, expectedGasM3d: 1_200) }
            + valueWells.map { Asset(id: $0, kind: .well, field: "f", block: "b") }
    )

    // MARK: the rules

    static func mapping(_ unit: String, _ m: CBMCore.Measurement, rollover: Double? = nil) -> DecodeRule.ValueMapping {
        guard case .success(let u) = MeasurementUnit.parse(unit, for: m.dimension) else { fatalError("unit \(unit)") }
        return DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u, meterBasis: .c20, reportingBasis: .c20),
                                       rollover: rollover)
    }

    static func filter(_ s: String) -> TopicFilter {
        guard case .success(let f) = TopicFilter.parse(s) else { fatalError(s) }
        return f
    }

    static func template(_ s: String) -> TopicTemplate {
        guard case .success(let t) = TopicTemplate.parse(s) else { fatalError(s) }
        return t
    }

    /// `json` telemetry: `cbm/{field}/{block}/{asset}/telemetry`, four keys.
    static let jsonRule = DecodeRule(
        filter: filter("cbm/+/+/+/telemetry"),
        template: template("cbm/{field}/{block}/{asset}/telemetry"),
        format: .json(.init(timeKey: "ts", timeFormat: .auto, values: [
            (key: "gas_m3h", mapping: mapping("m3/h", .gasRate)),
            (key: "gas_total", mapping: mapping("m3", .gasTotal, rollover: 1e9)),
            (key: "water_m3d", mapping: mapping("m3/d", .waterRate)),
            (key: "casing_kpa", mapping: mapping("kPa", .casingPressure)),
        ])))

    /// `value` telemetry: `cbm/{field}/{block}/{asset}/{measurement}`, one number per message.
    static let valueRule = DecodeRule(
        filter: filter("cbm/+/+/+/+"),
        template: template("cbm/{field}/{block}/{asset}/{measurement}"),
        format: .value(.init(values: [
            "gas_rate": mapping("m3/h", .gasRate),
            "gas_total": mapping("Nm3", .gasTotal, rollover: 1e8),
            "casing_pressure": mapping("kPa", .casingPressure),
        ])))

    // MARK: the messages

    /// `{"ts":1764374400,"gas_m3h":48.657,"gas_total":359074.3,"water_m3d":1.17,"casing_kpa":752.2}`
    /// from every well, every minute for `roundsPerWell` minutes; rounds are interleaved as a
    /// broker would deliver them.
    static func jsonMessages() -> [InboundMessage] {
        var rng = SplitMix64(state: 0x5A_2025)
        var totals = jsonWells.map { _ in rng.next(50_000, 900_000) }
        var out: [InboundMessage] = []
        out.reserveCapacity(wellCount * roundsPerWell)
        for round in 0..<roundsPerWell {
            for (w, well) in jsonWells.enumerated() {
                let ts = t0 + Int64(round * 60 + w % 60)
                let rate = rng.next(20, 120)  // m³/h
                totals[w] += rate / 60
                let payload = "{\"ts\":\(ts),\"gas_m3h\":\(String(format: "%.3f", rate)),"
                    + "\"gas_total\":\(String(format: "%.1f", totals[w])),"
                    + "\"water_m3d\":\(String(format: "%.2f", rng.next(0.2, 6))),"
                    + "\"casing_kpa\":\(String(format: "%.1f", rng.next(300, 1_500)))}"
                out.append(InboundMessage(topic: "cbm/shizhuang/\(well.block)/\(well.id)/telemetry",
                                          payload: Array(payload.utf8),
                                          receivedAt: Timestamp(seconds: ts + receiveDelay)))
            }
        }
        return out
    }

    /// `cbm/f/b/W0001/gas_rate` with payload `12.5` (received now: `value` payloads carry no time).
    static func valueMessages() -> [InboundMessage] {
        var rng = SplitMix64(state: 0x7A1_2025)
        var out: [InboundMessage] = []
        out.reserveCapacity(wellCount * roundsPerWell)
        for round in 0..<roundsPerWell {
            for (w, well) in valueWells.enumerated() {
                let payload = String(format: "%.2f", rng.next(0.5, 60))
                out.append(InboundMessage(topic: "cbm/f/b/\(well)/gas_rate", payload: Array(payload.utf8),
                                          receivedAt: Timestamp(seconds: t0 + Int64(round * 60 + w % 60))))
            }
        }
        return out
    }

    /// A decoder that has already seen every series of `messages` (the steady state of a running
    /// daemon), after checking that each message decodes to `readingsPerMessage` readings and no
    /// reject. Returns the readings too, grouped by message.
    static func warmedDecoder(rule: DecodeRule, messages: [InboundMessage], readingsPerMessage: Int)
        -> (decoder: TelemetryDecoder, readings: [[Reading]])
    {
        var decoder = TelemetryDecoder(rules: [rule], register: register, limits: DecodeLimits())
        var all: [[Reading]] = []
        all.reserveCapacity(messages.count)
        for m in messages {
            var readings: [Reading] = []
            var rejects: [Reject] = []
            decoder.decode(m, readings: &readings, rejects: &rejects)
            guard rejects.isEmpty, readings.count == readingsPerMessage else {
                fatalError("fixture \(m.topic) \(String(decoding: m.payload, as: UTF8.self)): "
                           + "\(readings.count) readings, rejects \(rejects.map(\.reason))")
            }
            all.append(readings)
        }
        return (decoder, all)
    }

    /// The reporting zone of the field's records.
    static let zone = TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3_600)!
}

// MARK: Sparkplug B

extension Fixtures {
    /// The JSON wells as Sparkplug B devices: the field a group, each block an edge node, the
    /// same four values a message as DDATA by alias.
    static let sparkplugRule: DecodeRule = {
        guard case .success(let f) = TopicFilter.parse("spBv1.0/shizhuang/+/+/#"),
              case .success(let asset) = SparkplugAssetTemplate.parse("{device}") else { fatalError() }
        func value(_ unit: String, _ m: CBMCore.Measurement, rollover: Double? = nil) -> DecodeRule.SparkplugValue {
            .init(mapping: mapping(unit, m, rollover: rollover), unit: try? MeasurementUnit.parse(unit, for: m.dimension).get(),
                  meterBasis: .c20, reportingBasis: .c20)
        }
        return DecodeRule(filter: f, template: nil, format: .sparkplugB(.init(asset: asset, values: [
            "Gas/Flow": value("m3/h", .gasRate), "Gas/Total": value("m3", .gasTotal, rollover: 1e9),
            "Water/Flow": value("m3/d", .waterRate), "Casing/Pressure": value("kPa", .casingPressure),
        ])))
    }()

    static let sparkplugNames = ["Gas/Flow", "Gas/Total", "Water/Flow", "Casing/Pressure"]

    /// Rounds a pool of Sparkplug data holds: 100 devices a node × 256 rounds is a whole number of
    /// `seq` cycles, so the pool can be sent again and again with no gap.
    static let sparkplugRounds = 256

    /// The births (an NBIRTH a node, a DBIRTH a device), then the data pool. Each node's births
    /// take `seq` 0 to 100; its data goes on from 101.
    static func sparkplugMessages() -> (births: [InboundMessage], data: [InboundMessage]) {
        var rng = SplitMix64(state: 0x5B_2025)
        var seq: [String: Int] = [:]
        func next(_ node: String) -> Int {
            let s = seq[node] ?? 0
            seq[node] = (s + 1) % 256
            return s
        }
        let received = Timestamp(seconds: t0 + receiveDelay)
        var births: [InboundMessage] = []
        for block in Set(jsonWells.map(\.block)).sorted() {
            births.append(InboundMessage(topic: "spBv1.0/shizhuang/NBIRTH/\(block)", payload: SparkplugEncoding.payload(
                seq: next(block), timestamp: t0 * 1000, metrics: [.init(name: "bdSeq", datatype: 4, long: 0)]), receivedAt: received))
            for well in jsonWells where well.block == block {
                births.append(InboundMessage(topic: "spBv1.0/shizhuang/DBIRTH/\(block)/\(well.id)", payload: SparkplugEncoding.payload(
                    seq: next(block), timestamp: t0 * 1000,
                    metrics: sparkplugNames.enumerated().map { .init(name: $1, alias: UInt64($0 + 1), datatype: 10) }), receivedAt: received))
            }
        }
        var totals = jsonWells.map { _ in rng.next(50_000, 900_000) }
        var data: [InboundMessage] = []
        data.reserveCapacity(wellCount * sparkplugRounds)
        for round in 0..<sparkplugRounds {
            for (w, well) in jsonWells.enumerated() {
                let ts = t0 + Int64(round * 60 + w % 60)
                let rate = rng.next(20, 120)
                totals[w] += rate / 60
                let values = [rate, totals[w], rng.next(0.2, 6), rng.next(300, 1_500)]
                data.append(InboundMessage(topic: "spBv1.0/shizhuang/DDATA/\(well.block)/\(well.id)", payload: SparkplugEncoding.payload(
                    seq: next(well.block), timestamp: ts * 1000,
                    metrics: values.enumerated().map { .init(alias: UInt64($0 + 1), datatype: 10, double: $1, timestamp: ts * 1000) }),
                    receivedAt: Timestamp(seconds: ts + receiveDelay)))
            }
        }
        return (births, data)
    }
}
