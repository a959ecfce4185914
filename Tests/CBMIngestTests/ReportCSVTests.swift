import CBMCore
@testable import CBMIngest
import CBMStorage
import CBMTestSupport
import Foundation
import Logging
import Testing

@Suite("Report CSV")
struct ReportCSVTests {
    let dir = TemporaryDirectory("report-csv")

    /// A field with one well of Chinese name, and the given `output:` section.
    func configuration(output: String) throws -> Configuration {
        dir.write("assets.csv", "id,kind,field,block,sector,expected_gas_m3d\n石庄-01,well,石庄,石庄A,,1200\n")
        let file = dir.write("c.yaml", """
            broker: { url: "mqtt://127.0.0.1:1883" }
            subscriptions:
              - topic: cbm/+/+/+/telemetry
                template: cbm/{field}/{block}/{asset}/telemetry
                format: json
                values: { gas_m3h: { measurement: gas_rate, unit: m3/h } }
            assets: assets.csv
            output: \(output)
            """)
        return try ConfigurationLoader.load(file: file).get()
    }

    @Test("with the byte-order mark, Python's csv module (utf-8-sig) reads the Chinese names, local times and numbers back")
    func byteOrderMark() throws {
        let c = try configuration(output: "{ directory: out }")
        var encoder = RecordEncoder(zone: ZoneOffsets(zone: c.aggregation.timeZone), basis: c.aggregation.basis)
        let start = try RFC3339.parse("2026-12-03T08:00:00+08:00").get()
        for (rev, gas) in [(1, 1000.5), (2, 1234.25)] {
            encoder.encode(TotalsRecord(window: .day, span: WindowSpan(start: start, end: start + Int64(86_400_000_000)), scope: .field,
                                        id: "石庄", gasM3: gas, flowSeconds: 86_400, coverage: 1, samples: 288, estimated: false, revision: rev),
                           factors: c.factors)
        }
        try FileManager.default.createDirectory(atPath: dir.file("out/totals"), withIntermediateDirectories: true)
        dir.write("out/totals/totals-20261203T000000+0800-001.jsonl", String(decoding: encoder.take(), as: UTF8.self))
        var report = Report(configuration: c, now: start + Int64(2 * 86_400_000_000))
        report.byteOrderMark = true
        let text = try report.figures(.gasDay(start), scope: .field, ids: ["石*"], format: .csv)
        #expect(text.hasPrefix("\u{FEFF}window,start,"))
        let csv = dir.write("report.csv", text)
        let read = try runProgram(which("python3")!, ["-c", """
            import csv, json, sys
            rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8-sig", newline="")))
            print(json.dumps(rows, ensure_ascii=False))
            """, csv])
        #expect(read.status == 0, "\(read.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [[String: String]])
        #expect(rows.count == 2, "\(rows)")  // the record (its final revision) and the field's total
        #expect(rows.first?["id"] == "石庄" && rows.first?["start"] == "2026-12-03 08:00" && rows.first?["gas_m3"] == "1234.250")
        #expect(rows.first?["revision"] == "2")
        #expect(rows.last?["window"] == "total" && rows.last?["gas_m3"] == "1234.250")
    }

    @Test("output CSV with csv: { bom, local_times }: a byte-order mark, and local times in columns of their own, read back by Python's csv module")
    func outputFiles() throws {
        let c = try configuration(output: "{ directory: out, formats: [jsonl, csv], csv: { bom: true, local_times: true } }")
        #expect(c.output.csv == CSVRecordEncoder.Style(byteOrderMark: true, localTimes: true))
        let start = try RFC3339.parse("2026-12-03T08:00:00+08:00").get()
        let sink = FileSink(configuration: c, now: { start + 3_600_000_000 }, logger: Logger(label: "test"))
        sink.write(.totals([TotalsRecord(window: .hour, span: WindowSpan(start: start, end: start + 3_600_000_000), scope: .well,
                                         id: "石庄-01", gasM3: 50.25, flowSeconds: 3600, coverage: 1, samples: 60, estimated: false, revision: 1)]))
        sink.write(.events([EventRecord(time: start + 1_250_000, kind: .fileRepaired, id: "石庄-01", detail: "例")]))
        sink.close()
        func onlyCSV(_ family: String) throws -> String {
            let folder = dir.file("out/\(family)")
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".csv") }
            try #require(names.count == 1, "\(names)")
            return folder + "/" + names[0]
        }
        let totals = try onlyCSV("totals"), events = try onlyCSV("events")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: totals)).prefix(3)) == [0xEF, 0xBB, 0xBF])
        let read = try runProgram(which("python3")!, ["-c", """
            import csv, json, sys
            print(json.dumps([list(csv.DictReader(open(p, encoding="utf-8-sig", newline=""))) for p in sys.argv[1:]], ensure_ascii=False))
            """, totals, events])
        #expect(read.status == 0, "\(read.stderr)")
        let files = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [[[String: String]]])
        let t = try #require(files.first?.first)
        #expect(t["id"] == "石庄-01" && t["start"] == "2026-12-03T08:00:00+08:00" && t["start_local"] == "2026-12-03 08:00:00")
        #expect(t["end_local"] == "2026-12-03 09:00:00" && t["gas_m3"] == "50.25")
        let e = try #require(files.last?.first)
        #expect(e["time_local"] == "2026-12-03 08:00:01.250" && e["detail"] == "例")
    }
}
