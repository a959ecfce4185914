import Foundation
import Testing
@testable import CBMCore

/// Sparkplug B payloads as an edge node sends them: births declare metrics with aliases and
/// units, data names them by alias; out-of-order messages are rejected with a reason and ask
/// for a rebirth.
@Suite("Sparkplug B decoding")
struct SparkplugDecoderTests {
    typealias Payload = Cbm_Sparkplug_Payload

    static let register = AssetRegister([
        Asset(id: "W-001", kind: .well, field: "f", block: "b"),
        Asset(id: "W-002", kind: .well, field: "f", block: "b"),
        Asset(id: "rtu1", kind: .well, field: "f", block: "b"),
    ])
    static let t0 = UInt64(Ref.nov28 * 1000)  // milliseconds

    static func decoder(values: [String: DecodeRule.SparkplugValue]? = nil, asset template: String = "{device}") -> TelemetryDecoder {
        guard case .success(let f) = TopicFilter.parse("spBv1.0/field/+/rtu1/#"),
              case .success(let asset) = SparkplugAssetTemplate.parse(template) else { fatalError() }
        func value(_ m: CBMCore.Measurement, _ unit: String?) -> DecodeRule.SparkplugValue {
            let u = unit.map { try! MeasurementUnit.parse($0, for: m.dimension).get() }
            let mapping = DecodeRule.ValueMapping(measurement: m, conversion: Conversion(unit: u ?? (try! MeasurementUnit.parse(m.dimension.reportingUnit, for: m.dimension).get()),
                                                                                          meterBasis: .c20, reportingBasis: .c20))
            return .init(mapping: mapping, unit: u, meterBasis: .c20, reportingBasis: .c20)
        }
        let values = values ?? [
            "Gas/Flow": value(.gasRate, nil),  // the unit from engUnit
            "Gas/Total": value(.gasTotal, "m3"),
            "Status": value(.casingPressure, "kPa"),  // mapped, but a string: rejected
            "Gas/Rate": value(.gasRate, "m3/d"),
        ]
        let rule = DecodeRule(filter: f, template: nil, format: .sparkplugB(.init(asset: asset, values: values)))
        return TelemetryDecoder(rules: [rule], register: register, limits: DecodeLimits())
    }

    static func metric(_ name: String?, alias: UInt64?, datatype: UInt32? = nil, double: Double? = nil, long: UInt64? = nil,
                       string: String? = nil, engUnit: String? = nil, ms: UInt64? = nil) -> Payload.Metric {
        var m = Payload.Metric()
        if let name { m.name = name }
        if let alias { m.alias = alias }
        if let datatype { m.datatype = datatype }
        if let double { m.doubleValue = double }
        if let long { m.longValue = long }
        if let string { m.stringValue = string }
        if let ms { m.timestamp = ms }
        if let engUnit {
            var p = Payload.PropertyValue()
            p.type = 12
            p.stringValue = engUnit
            m.properties.keys = ["engUnit"]
            m.properties.values = [p]
        }
        return m
    }

    static func payload(seq: UInt64, ms: UInt64, _ metrics: [Payload.Metric]) -> [UInt8] {
        var p = Payload()
        p.seq = seq
        p.timestamp = ms
        p.metrics = metrics
        return try! p.serializedBytes()
    }

    struct Out {
        var readings: [Reading] = []
        var rejects: [Reject] = []
        var codes: [String] { rejects.map(\.reason.code) }
    }

    static func send(_ d: inout TelemetryDecoder, _ type: String, device: String? = nil, _ bytes: [UInt8], at ms: UInt64) -> Out {
        var out = Out()
        let topic = "spBv1.0/field/\(type)/rtu1" + (device.map { "/\($0)" } ?? "")
        d.decode(InboundMessage(topic: topic, payload: bytes, receivedAt: Timestamp(microseconds: Int64(ms) * 1000 + 20_000)),
                 readings: &out.readings, rejects: &out.rejects)
        return out
    }

    static func births(_ d: inout TelemetryDecoder, bdSeq: UInt64 = 3) {
        let nb = send(&d, "NBIRTH", payload(seq: 0, ms: t0, [metric("bdSeq", alias: nil, datatype: 4, long: bdSeq),
                                                              metric("Node Control/Rebirth", alias: 100, datatype: 11)]), at: t0)
        #expect(nb.rejects.isEmpty && nb.readings.isEmpty)
        for (i, w) in ["W-001", "W-002"].enumerated() {
            let db = send(&d, "DBIRTH", device: w, payload(seq: UInt64(1 + i), ms: t0, [
                metric("Gas/Flow", alias: 1, datatype: 10, double: 10, engUnit: "m3/d"),
                metric("Gas/Total", alias: 2, datatype: 8, long: 5000),
                metric("Status", alias: 3, datatype: 12, string: "running"),
                metric("Casing/Temp", alias: 4, datatype: 9, engUnit: "degC"),
                metric("Gas/Rate", alias: 5, datatype: 10),  // declared without a value: nothing to take
            ]), at: t0)
            // The birth's values are readings too; the mapped string is rejected.
            #expect(db.readings.count == 2 && db.codes == ["sparkplug_wrong_datatype"], "\(db.rejects)")
        }
    }

    @Test("births declare aliases and units; data by alias gives readings at the metric's time, in the birth's unit")
    func dataByAlias() {
        var d = Self.decoder()
        Self.births(&d)
        let ms = Self.t0 + 60_000
        let out = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 3, ms: ms + 500, [
            Self.metric(nil, alias: 1, double: 240, ms: ms),
            Self.metric(nil, alias: 2, long: 5010, ms: ms),
            Self.metric(nil, alias: 4, ms: ms),  // not mapped: ignored
        ]), at: ms + 500)
        #expect(out.rejects.isEmpty, "\(out.rejects)")
        #expect(out.readings.map(\.asset) == ["W-001", "W-001"])
        #expect(out.readings.map(\.measurement) == [.gasRate, .gasTotal])
        // 240 m3/d from engUnit: the reporting unit of gas rate is m3/d.
        #expect(out.readings.map(\.value) == [240, 5010])
        #expect(out.readings.allSatisfy { $0.time.microseconds == Int64(ms) * 1000 })
        #expect(d.takeRebirths().isEmpty)
    }

    @Test("data before any birth, an alias the birth did not declare, and a seq gap are rejected and ask for a rebirth")
    func outOfOrder() {
        var d = Self.decoder()
        let early = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 7, ms: Self.t0, [Self.metric(nil, alias: 1, double: 1)]), at: Self.t0)
        #expect(early.codes == ["sparkplug_no_birth"] && early.readings.isEmpty)
        #expect(d.takeRebirths() == ["field/rtu1"])
        Self.births(&d)
        let unknown = Self.send(&d, "DDATA", device: "W-002", Self.payload(seq: 3, ms: Self.t0 + 1000, [
            Self.metric(nil, alias: 1, double: 12), Self.metric(nil, alias: 9, double: 1),
        ]), at: Self.t0 + 1000)
        #expect(unknown.codes == ["sparkplug_unknown_metric"] && unknown.readings.count == 1)
        #expect(unknown.rejects.first?.reason.description.contains("alias 9") == true)
        // Asked again within ten seconds: not repeated.
        #expect(d.takeRebirths().isEmpty)
        let gap = Self.send(&d, "DDATA", device: "W-002", Self.payload(seq: 9, ms: Self.t0 + 20_000, [Self.metric(nil, alias: 1, double: 12)]),
                            at: Self.t0 + 20_000)
        #expect(gap.codes == ["sparkplug_seq_gap"] && gap.readings.isEmpty)
        #expect(gap.rejects.first?.reason == .sparkplugSeqGap(source: "field/rtu1/W-002", expected: 4, got: 9))
        #expect(d.takeRebirths() == ["field/rtu1"])
        // The next in order is taken.
        let next = Self.send(&d, "DDATA", device: "W-002", Self.payload(seq: 10, ms: Self.t0 + 21_000, [Self.metric(nil, alias: 1, double: 13)]),
                             at: Self.t0 + 21_000)
        #expect(next.rejects.isEmpty && next.readings.map(\.value) == [13])
    }

    @Test("a death of an older session is ignored; the session's own death ends it until the next birth")
    func deaths() {
        var d = Self.decoder()
        Self.births(&d, bdSeq: 5)
        let stale = Self.send(&d, "NDEATH", Self.payload(seq: 0, ms: Self.t0 + 1000, [Self.metric("bdSeq", alias: nil, datatype: 4, long: 4)]),
                              at: Self.t0 + 1000)
        #expect(stale.rejects.isEmpty)
        let alive = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 3, ms: Self.t0 + 2000, [Self.metric(nil, alias: 1, double: 7)]),
                              at: Self.t0 + 2000)
        #expect(alive.rejects.isEmpty && alive.readings.count == 1)
        _ = Self.send(&d, "NDEATH", Self.payload(seq: 0, ms: Self.t0 + 3000, [Self.metric("bdSeq", alias: nil, datatype: 4, long: 5)]),
                      at: Self.t0 + 3000)
        let after = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 4, ms: Self.t0 + 4000, [Self.metric(nil, alias: 1, double: 7)]),
                              at: Self.t0 + 4000)
        #expect(after.codes == ["sparkplug_no_birth"])
        Self.births(&d, bdSeq: 6)
        let reborn = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 3, ms: Self.t0 + 5000, [Self.metric(nil, alias: 1, double: 7)]),
                               at: Self.t0 + 5000)
        #expect(reborn.rejects.isEmpty && reborn.readings.count == 1)
    }

    @Test("a device's death (DDEATH) takes that device offline and ends its table, not its node's; its next birth brings it back")
    func deviceDeath() {
        var d = Self.decoder()
        Self.births(&d)
        let death = Self.send(&d, "DDEATH", device: "W-001", Self.payload(seq: 3, ms: Self.t0 + 1000, []), at: Self.t0 + 1000)
        #expect(death.rejects.isEmpty && death.readings.isEmpty)
        #expect(d.takeOffline().map(\.asset) == ["W-001"])
        let gone = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 4, ms: Self.t0 + 2000, [Self.metric(nil, alias: 2, long: 5001)]),
                             at: Self.t0 + 2000)
        #expect(gone.codes == ["sparkplug_no_birth"] && gone.readings.isEmpty)
        #expect(d.takeRebirths() == ["field/rtu1"])
        // The other device is still in session (the rejected message kept the seq).
        let other = Self.send(&d, "DDATA", device: "W-002", Self.payload(seq: 5, ms: Self.t0 + 3000, [Self.metric(nil, alias: 2, long: 5002)]),
                              at: Self.t0 + 3000)
        #expect(other.rejects.isEmpty && other.readings.map(\.value) == [5002])
        // A death of a device with no session says nothing more.
        _ = Self.send(&d, "DDEATH", device: "W-001", Self.payload(seq: 6, ms: Self.t0 + 4000, []), at: Self.t0 + 4000)
        #expect(d.takeOffline().isEmpty)
        let reborn = Self.send(&d, "DBIRTH", device: "W-001", Self.payload(seq: 7, ms: Self.t0 + 5000, [
            Self.metric("Gas/Total", alias: 2, datatype: 8, long: 5003),
        ]), at: Self.t0 + 5000)
        #expect(reborn.rejects.isEmpty && reborn.readings.map(\.value) == [5003])
        let back = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 8, ms: Self.t0 + 6000, [Self.metric(nil, alias: 2, long: 5004)]),
                             at: Self.t0 + 6000)
        #expect(back.rejects.isEmpty && back.readings.map(\.value) == [5004])
    }

    @Test("node data (NDATA) by alias, with the asset from the edge node's name")
    func nodeData() {
        var d = Self.decoder(asset: "{edge_node}")
        let birth = Self.send(&d, "NBIRTH", Self.payload(seq: 0, ms: Self.t0, [
            Self.metric("bdSeq", alias: nil, datatype: 4, long: 1),
            Self.metric("Gas/Total", alias: 7, datatype: 10, double: 100),
        ]), at: Self.t0)
        #expect(birth.rejects.isEmpty && birth.readings.map(\.asset) == ["rtu1"])
        let data = Self.send(&d, "NDATA", Self.payload(seq: 1, ms: Self.t0 + 60_000, [Self.metric(nil, alias: 7, double: 104.5)]),
                             at: Self.t0 + 60_000)
        #expect(data.rejects.isEmpty, "\(data.rejects)")
        #expect(data.readings.map(\.asset) == ["rtu1"] && data.readings.map(\.value) == [104.5])
        #expect(data.readings.first?.time.microseconds == Int64(Self.t0 + 60_000) * 1000)  // the payload's time: the metric has none
    }

    @Test("a mapping without a unit takes the birth's engUnit: none, or one of another dimension, is rejected with its reason")
    func engUnits() {
        for (engUnit, code) in [(nil, "sparkplug_no_unit"), ("kPa", "sparkplug_bad_unit")] as [(String?, String)] {
            var d = Self.decoder()
            _ = Self.send(&d, "NBIRTH", Self.payload(seq: 0, ms: Self.t0, [Self.metric("bdSeq", alias: nil, datatype: 4, long: 1)]), at: Self.t0)
            let birth = Self.send(&d, "DBIRTH", device: "W-001", Self.payload(seq: 1, ms: Self.t0, [
                Self.metric("Gas/Flow", alias: 1, datatype: 10, engUnit: engUnit),
            ]), at: Self.t0)
            #expect(birth.rejects.isEmpty)
            let data = Self.send(&d, "DDATA", device: "W-001", Self.payload(seq: 2, ms: Self.t0 + 1000, [Self.metric(nil, alias: 1, double: 240)]),
                                 at: Self.t0 + 1000)
            #expect(data.codes == [code] && data.readings.isEmpty, "\(engUnit ?? "none"): \(data.rejects)")
            #expect(data.rejects.first?.reason.description.contains(engUnit ?? "gas_rate") == true, "\(data.rejects)")
        }
    }

    @Test("damaged payloads and topics are rejected with a reason: truncated, random bytes, wrong levels; none crashes")
    func damage() {
        var d = Self.decoder()
        Self.births(&d)
        let good = Self.payload(seq: 3, ms: Self.t0 + 1000, [Self.metric(nil, alias: 1, double: 240, ms: Self.t0 + 1000)])
        var codes = Set<String>()
        for cut in 1..<good.count {
            let out = Self.send(&d, "DDATA", device: "W-001", Array(good.prefix(cut)), at: Self.t0 + 1000)
            codes.formUnion(out.codes)
            // A prefix can be a valid payload of its own (protobuf has no length): never with the value.
            #expect(out.readings.allSatisfy { $0.value == 240 })
        }
        #expect(codes.contains("not_sparkplug"))
        var rng = SplitMix64(state: 7)
        for _ in 0..<2000 {
            let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = Self.send(&d, "DDATA", device: "W-002", bytes, at: Self.t0 + 2000)
        }
        var out = Out()
        d.decode(InboundMessage(topic: "spBv1.0/field/XDATA/rtu1", payload: good, receivedAt: Timestamp(microseconds: Int64(Self.t0) * 1000)),
                 readings: &out.readings, rejects: &out.rejects)
        #expect(out.codes == ["sparkplug_topic"])
    }

    @Test("the sessions are in the checkpoint: a restored decoder reads data by alias without a rebirth")
    func checkpointed() throws {
        var d = Self.decoder()
        Self.births(&d, bdSeq: 9)
        var w = BinaryWriter()
        d.save(into: &w)
        var restored = Self.decoder()
        var r = BinaryReader(w.bytes)
        try restored.restore(from: &r)
        #expect(restored.sparkplug == d.sparkplug)
        #expect(restored.sparkplug.nodes["field/rtu1"]?.devices.keys.sorted() == ["W-001", "W-002"])
        let out = Self.send(&restored, "DDATA", device: "W-002", Self.payload(seq: 3, ms: Self.t0 + 1000, [Self.metric(nil, alias: 1, double: 48)]),
                            at: Self.t0 + 1000)
        #expect(out.rejects.isEmpty && out.readings.map(\.value) == [48], "\(out.rejects)")
        #expect(restored.takeRebirths().isEmpty)
        // A checkpoint of the version before has no sessions: they start empty.
        var old = BinaryReader(w.bytes, version: 4)
        var fresh = Self.decoder()
        try fresh.restore(from: &old)
        #expect(fresh.sparkplug.nodes.isEmpty)
    }

    @Test("a death puts its devices' no_data alarms on at the death's receive time, without waiting for after, with an event; the next birth clears them")
    func deathRaisesSilence() {
        let d = Self.decoder()
        let rule = d.rules[0]
        let silent = AlertRule(name: "silent", kind: .noData(afterUS: 30 * 60_000_000), severity: "critical", scope: .well)
        let s = PipelineSettings(partitions: 2, rules: [rule], register: Self.register, alerts: [silent])
        var driver = StepDriver(settings: s, state: PipelineCheckpoint.State(s))
        func send(_ type: String, device: String? = nil, _ bytes: [UInt8], at ms: UInt64) {
            let topic = "spBv1.0/field/\(type)/rtu1" + (device.map { "/\($0)" } ?? "")
            driver.take([.message(InboundMessage(topic: topic, payload: bytes, receivedAt: Timestamp(microseconds: Int64(ms) * 1000)))],
                        handOnAtEnd: true)
        }
        func births(seq: UInt64, bdSeq: UInt64, at ms: UInt64) {
            send("NBIRTH", Self.payload(seq: 0, ms: ms, [Self.metric("bdSeq", alias: nil, datatype: 4, long: bdSeq)]), at: ms)
            for (i, w) in ["W-001", "W-002"].enumerated() {
                send("DBIRTH", device: w, Self.payload(seq: UInt64(1 + i), ms: ms, [Self.metric("Gas/Total", alias: 2, datatype: 10, double: 100, ms: ms)]),
                     at: ms)
            }
        }
        births(seq: 0, bdSeq: 1, at: Self.t0)
        // A minute later the node dies (its will): both wells are offline at once.
        let death = Self.t0 + 60_000
        send("NDEATH", Self.payload(seq: 0, ms: death, [Self.metric("bdSeq", alias: nil, datatype: 4, long: 1)]), at: death)
        let active = driver.alarms.filter { $0.state == .active }
        #expect(active.map(\.id).sorted() == ["W-001", "W-002"], "\(driver.alarms)")
        #expect(active.allSatisfy { $0.time.microseconds == Int64(death) * 1000 && $0.message.contains("offline") })
        #expect(driver.events.filter { $0.kind == .sparkplugOffline }.map(\.id).sorted() == ["W-001", "W-002"])
        // Reborn two minutes later: cleared when each reports again.
        let reborn = death + 120_000
        births(seq: 0, bdSeq: 2, at: reborn)
        let cleared = driver.alarms.filter { $0.state == .cleared }
        #expect(cleared.map(\.id).sorted() == ["W-001", "W-002"], "\(driver.alarms)")
        #expect(cleared.allSatisfy { $0.time.microseconds == Int64(reborn) * 1000 })
    }
}
