import CBMCore
import CBMTestSupport
import Foundation
import Testing

/// Readings published to a real broker come out of the real binary as hourly, daily and monthly
/// totals in `totals/`.
@Suite("Totals end to end")
struct TotalsEndToEndTests {
    @Test("a small field's readings give the expected hour, gas-day and gas-month totals")
    func totals() throws {
        // The last gas day of a gas month that ended at least two days ago, so every window of it
        // is closed by the wall clock.
        var calendar = WindowCalendar(zone: TimeZone(identifier: "Asia/Shanghai")!, dayStartMinutes: 8 * 60)
        let reference = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6) - 2 * 86_400_000_000)
        let month = calendar.month(containing: Timestamp(microseconds: calendar.month(containing: reference).start.microseconds - 1))
        let day = calendar.day(containing: Timestamp(microseconds: month.end.microseconds - 1))
        let t0 = day.start.microseconds / 1000  // epoch milliseconds
        let hour = 3_600_000
        func local(_ t: Timestamp) -> String { RFC3339.format(t, offsetSeconds: 8 * 3600) }

        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: """
            aggregation: { horizon: 80d }
            """, limits: "limits: { max_past: 80d }")
        try daemon.start()
        var lines: [(String, String)] = []
        // W01: a totalizer in 10^4 m3: 600 m3 an hour for two hours.
        for (i, v) in [0.0, 0.06, 0.12].enumerated() {
            lines.append(("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t0 + Int64(i * hour)), "gas_total": \#(v)}"#))
        }
        // W02: a rate of 50 m3/h every ten minutes for two hours.
        for i in 0...12 {
            lines.append(("cbm/F1/B1/W02/telemetry", #"{"ts": \#(t0 + Int64(i * hour / 6)), "gas_m3h": 50}"#))
        }
        // M01 delivers 150 m3 an hour to a power plant.
        for (i, v) in [0.0, 0.015, 0.03].enumerated() {
            lines.append(("cbm/x/y/M01/telemetry", #"{"ts": \#(t0 + Int64(i * hour)), "gas_total": \#(v)}"#))
        }
        for (topic, payload) in lines { try broker.publish(topic, payload) }

        func find(_ window: String, _ start: Timestamp, _ scope: String, _ id: String) -> [String: Any]? {
            daemon.totals.last { $0["window"] as? String == window && $0["start"] as? String == local(start)
                && $0["scope"] as? String == scope && $0["id"] as? String == id }
        }
        // Every reading in, then a stop: the corrections of closed windows are written on the way out.
        #expect(eventually(timeout: 30) { daemon.readings.count == lines.count })
        #expect(daemon.stop() == 0)
        #expect(daemon.rejects.isEmpty, "\(daemon.rejects)")

        let start = day.start
        let h0 = try #require(find("hour", start, "well", "W01"))
        #expect(abs((h0["gas_m3"] as! Double) - 600) < 1e-6)
        #expect(h0["end"] as? String == local(Timestamp(microseconds: start.microseconds + 3_600_000_000)))
        #expect((h0["revision"] as? Int ?? 0) >= 1)  // old data closes its windows at once; later readings correct them
        #expect(h0["basis"] as? String == "20C")
        #expect(h0["estimated"] as? Bool == false)
        let w02 = try #require(find("hour", start, "well", "W02"))
        #expect(abs((w02["gas_m3"] as! Double) - 50) < 1e-9)
        #expect(w02["estimated"] as? Bool == true)
        #expect(w02["coverage"] as? Double == 1)
        #expect(abs((find("hour", start, "block", "B1")?["gas_m3"] as! Double) - 650) < 1e-6)
        #expect(abs((find("hour", start, "meter", "M01")?["utilised_m3"] as! Double) - 150) < 1e-6)

        let dayAll = try #require(find("day", day.start, "all", "all"))
        #expect(dayAll["end"] as? String == local(day.end))
        #expect(abs((dayAll["gas_m3"] as! Double) - 1300) < 1e-6)
        #expect(abs((dayAll["utilised_m3"] as! Double) - 300) < 1e-6)
        #expect(abs((dayAll["utilisation_rate"] as! Double) - 300.0 / 1300) < 1e-9)
        #expect(abs((dayAll["coal_t"] as! Double) - 0.36) < 1e-9)
        #expect(abs((dayAll["co2e_t"] as! Double) - 4.5) < 1e-9)
        #expect(dayAll["coal_kgce_per_m3"] as? Double == 1.2)
        #expect(abs((find("day", day.start, "field", "F1")?["gas_m3"] as! Double) - 1300) < 1e-6)
        #expect(abs((find("day", day.start, "sector", "power")?["utilised_m3"] as! Double) - 300) < 1e-6)

        let monthAll = try #require(find("month", month.start, "all", "all"))
        #expect(monthAll["end"] as? String == local(month.end))
        #expect(abs((monthAll["gas_m3"] as! Double) - 1300) < 1e-6)
        #expect(abs((find("month", month.start, "well", "W01")?["gas_m3"] as! Double) - 1200) < 1e-6)
        // Silent registered wells are reported, with no coverage.
        let w03 = try #require(find("day", day.start, "well", "W03"))
        #expect(w03["gas_m3"] as? Double == 0 && w03["coverage"] as? Double == 0)
    }
}
