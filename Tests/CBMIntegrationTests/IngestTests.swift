import CBMCore
import CBMTestSupport
import Foundation
import Testing

/// The real binary and a real mosquitto: messages in, readings and rejects out.
@Suite("Ingest end to end", .serialized)
struct IngestTests {
    @Test("JSON and value messages arrive as readings with asset, measurement, converted value and time")
    func readingsArrive() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        try daemon.start()
        // The last whole hour: within the limits whenever the test runs.
        let hour = Int64(Date().timeIntervalSince1970) / 3600 * 3600 - 3600
        let local = RFC3339.format(Timestamp(seconds: hour), offsetSeconds: 8 * 3600)
        let halfPast = RFC3339.format(Timestamp(microseconds: hour * 1_000_000 + 500_000), offsetSeconds: 8 * 3600)
        try broker.publish("cbm/F1/B1/W01/telemetry",
                           #"{"ts": "\#(local)", "gas_m3h": 50, "gas_total": 12.5, "casing_mpa": 0.8}"#)
        try broker.publish("cbm/F1/B1/W02/telemetry",
                           #"[{"ts": \#(hour), "gas_m3h": 10}, {"ts": \#(hour * 1000 + 500), "gas_m3h": 11}]"#)
        try broker.publish("cbm/F1/B2/W03/gas_rate", "27.315")
        #expect(eventually { daemon.readings.count >= 6 })
        #expect(daemon.stop() == 0)
        let r = daemon.readings
        func find(_ asset: String, _ m: String) -> [[String: Any]] {
            r.filter { $0["asset"] as? String == asset && $0["measurement"] as? String == m }
        }
        let w01rate = try #require(find("W01", "gas_rate").first)
        #expect(w01rate["value"] as? Double == 1200)  // 50 m3/h = 1200 m3/d
        #expect(w01rate["unit"] as? String == "m3/d")
        #expect(w01rate["basis"] as? String == "20C")
        #expect(w01rate["time"] as? String == local)
        #expect(local.hasSuffix(":00:00+08:00"))
        #expect(find("W01", "gas_total").first?["value"] as? Double == 125_000)  // 12.5 × 10^4 m3
        #expect(find("W01", "casing_pressure").first?["value"] as? Double == 800)  // 0.8 MPa
        let w02 = find("W02", "gas_rate").compactMap { $0["time"] as? String }
        #expect(w02 == [local, halfPast])
        #expect(halfPast.hasSuffix(":00:00.500+08:00"))
        // value format at 0 °C: 27.315 m3/h × 24 × 293.15 / 273.15 (to 20 °C)
        let w03 = try #require(find("W03", "gas_rate").first)
        let expected = 27.315 * 24 * 293.15 / 273.15
        #expect(abs((w03["value"] as? Double ?? 0) - expected) < 1e-9)
        #expect(daemon.rejects.isEmpty)
    }

    @Test("every kind of bad message lands in rejects/ with its reason, and good ones after it still arrive")
    func rejectsAndGoodAfter() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: """
            unknown_assets: { accept: false }
            """)
        try daemon.start()
        let now = Int(Date().timeIntervalSince1970)
        let bad: [(topic: String, payload: String, code: String)] = [
            ("cbm/F1/B1/W01/telemetry", String(repeating: "x", count: 2000), "payload_too_large"),
            ("cbm/F1/B1/W01/telemetry", "{not json", "not_json"),
            ("cbm/F1/B1/W01/telemetry", #"{"gas_m3h": 5}"#, "missing_time"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": "yesterday", "gas_m3h": 5}"#, "bad_time"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now + 3600), "gas_m3h": 5}"#, "time_in_future"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now - 40 * 86400), "gas_m3h": 5}"#, "time_too_old"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now), "gas_m3h": "lots"}"#, "not_a_number"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now), "gas_m3h": "NaN"}"#, "not_finite"),
            ("cbm/F1/B1/W99/telemetry", #"{"ts": \#(now), "gas_m3h": 5}"#, "unknown_asset"),
            ("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now), "oil_bpd": 5}"#, "no_measurement"),
            ("cbm/F1/B1/W01/oil_rate", "5", "unknown_measurement"),
            ("cbm/F1/B1/W01/gas_rate", "five", "not_a_number"),
            ("cbm/F1/B1/W01/gas_rate", "", "empty_payload"),
            ("cbm/F1/B1/W01/telemetry", "[1, 2]", "not_an_object"),
        ]
        for b in bad { try broker.publish(b.topic, b.payload) }
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(now), "gas_m3h": 42}"#)
        #expect(eventually { daemon.readings.count >= 1 && daemon.rejects.count >= bad.count + 1 })
        #expect(daemon.stop() == 0)
        let rejects = daemon.rejects
        let codes = rejects.compactMap { $0["code"] as? String }
        for b in bad { #expect(codes.contains(b.code), "missing reject \(b.code)") }
        for r in rejects {
            #expect((r["reason"] as? String)?.isEmpty == false)
            #expect(r["topic"] is String)
            #expect(r["time"] is String)
        }
        let tooLarge = try #require(rejects.first { $0["code"] as? String == "payload_too_large" })
        #expect(tooLarge["payload_bytes"] as? Int == 2000)
        #expect(tooLarge["truncated"] as? Bool == true)
        let good = daemon.readings.filter { $0["asset"] as? String == "W01" }
        #expect(good.count == 1)
        #expect(good.first?["value"] as? Double == Double(42 * 24))
    }

    @Test("SIGTERM drains the pipeline, closes the files and exits 0")
    func cleanStop() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        try daemon.start()
        let t0 = Int(Date().timeIntervalSince1970) - 600
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (0..<500).map { #"{"ts": \#(t0 + $0), "gas_m3h": \#($0)}"# })
        #expect(eventually { daemon.readings.count == 500 })
        let child = try #require(daemon.child)
        #expect(daemon.stop() == 0)
        #expect(child.stderr.contains("stopped"))
        #expect(daemon.readings.count == 500)
    }
}
