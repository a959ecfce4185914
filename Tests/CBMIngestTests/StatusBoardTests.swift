import CBMCore
@testable import CBMIngest
import CBMTestSupport
import Foundation
import Testing

/// The status board: the fields' hours for the chart (from the totals files at a start, then as
/// the roll-up writes them), and the wells' states from a snapshot.
@Suite("Status board")
struct StatusBoardTests {
    let dir = TemporaryDirectory("board")

    func configuration() throws -> Configuration {
        dir.write("assets.csv", "id,kind,field,block,sector,expected_gas_m3d\nW01,well,F1,B1,,2400\nW02,well,F1,B1,,2400\nW03,well,F1,B1,,2400\nM01,delivery,,,power,\n")
        let file = dir.write("c.yaml", """
            broker: { url: "mqtt://127.0.0.1:1883" }
            subscriptions:
              - topic: cbm/+/+/+/telemetry
                template: cbm/{field}/{block}/{asset}/telemetry
                format: json
                values: { gas_m3h: { measurement: gas_rate, unit: m3/h } }
            assets: assets.csv
            alerts:
              - { name: quiet, kind: no_data, scope: well, ids: [W02], after: 10m, severity: critical }
            """)
        return try ConfigurationLoader.load(file: file).get()
    }

    func hour(_ start: Timestamp, _ id: String, _ gas: Double, revision: Int, scope: TotalsRecord.Scope = .field) -> TotalsRecord {
        TotalsRecord(window: .hour, span: WindowSpan(start: start, end: start + Int64(3_600_000_000)), scope: scope, id: id, gasM3: gas,
                     flowSeconds: 3600, coverage: 1, samples: 12, estimated: false, revision: revision)
    }

    @Test("hours from the files at a start, the highest revision kept; later ones as written; the 48 hours before the open one")
    func chartHours() throws {
        let c = try configuration()
        let now = Timestamp(seconds: Int64(Date().timeIntervalSince1970) / 3600 * 3600 + 1800)
        let h = now + Int64(-1_800_000_000)  // the open hour's start
        var encoder = RecordEncoder(zone: ZoneOffsets(zone: c.aggregation.timeZone), basis: c.aggregation.basis)
        for r in [hour(h + Int64(-7_200_000_000), "F1", 10, revision: 1), hour(h + Int64(-7_200_000_000), "F1", 12, revision: 2),
                  hour(h + Int64(-7_200_000_000), "W01", 99, revision: 1, scope: .well), hour(h + Int64(-50 * 3_600_000_000), "F1", 5, revision: 1)] {
            encoder.encode(r, factors: c.factors)
        }
        try FileManager.default.createDirectory(atPath: dir.file("totals"), withIntermediateDirectories: true)
        dir.write("totals/totals-1.jsonl", String(decoding: encoder.take(), as: UTF8.self))
        let board = StatusBoard()
        board.seed(totalsDirectory: dir.file("totals"), now: now)
        board.record([hour(h + Int64(-3_600_000_000), "F1", 20, revision: 1)])
        let v = board.view(c, ready: true, connected: true, messagesPerSecond: 0, rejects: [:], now: now)
        #expect(v.hourly.map(\.gasM3) == [12, 20], "\(v.hourly)")
        #expect(v.hourly.allSatisfy { !$0.open && $0.field == "F1" })
    }

    @Test("wells: silent past their own no-data rule's after, low against expected so far, maintenance; silent and low first")
    func wellStates() throws {
        let c = try configuration()
        let board = StatusBoard()
        var calendar = WindowCalendar(zone: c.aggregation.timeZone, dayStartMinutes: c.aggregation.dayStartMinutes)
        let day = calendar.day(containing: Timestamp(seconds: Int64(Date().timeIntervalSince1970)))
        let now = day.start + Int64(12 * 3_600_000_000)  // half the gas day: 1200 m3 expected so far of each well
        func dayRecord(_ id: String, _ gas: Double) -> TotalsRecord {
            TotalsRecord(window: .day, span: day, scope: .well, id: id, gasM3: gas, flowSeconds: 0, coverage: 1, samples: 1, estimated: false, revision: 0)
        }
        let seen = now.microseconds - 20 * 60_000_000  // 20 minutes ago
        board.update(FieldStatus(generatedAt: now, watermark: now, open: [dayRecord("W01", 400), dayRecord("W02", 1500)], lastHour: [], lastDay: [],
                                 rates: [AssetRate(asset: "W01", time: seen, m3h: 33)],
                                 alarms: AlertEngine.Status(active: [], lastSeen: ["W01": seen, "W02": seen], inMaintenance: ["W03"])))
        let v = board.view(c, ready: true, connected: true, messagesPerSecond: 0, rejects: [:], now: now)
        let states = Dictionary(uniqueKeysWithValues: v.wells.map { ($0.id, $0.state) })
        // W01: heard 20 minutes ago (no rule of its own: an hour allowed), 400 of 1200 m3 so far;
        // W02 past its rule's 10 minutes; W03 never heard, but in maintenance.
        #expect(states == ["W01": .low, "W02": .silent, "W03": .maintenance])
        #expect(v.wells.map(\.id) == ["W02", "W01", "W03"])
        let w01 = try #require(v.wells.first { $0.id == "W01" })
        #expect(w01.lastRateM3h == 33 && w01.expectedSoFarM3 == 1200 && abs((w01.ofExpected ?? 0) - 1.0 / 3) < 1e-12)
        #expect(v.total.expectedDayM3 == 7200)
    }
}
