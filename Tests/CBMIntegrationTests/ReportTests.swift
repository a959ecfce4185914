import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// `cbm-ingest report` and `reindex` on what the real daemon wrote for a simulated field.
@Suite("Report and the index of final figures", .serialized)
struct ReportTests {
    /// `report` as JSON: its rows.
    static func report(_ daemon: Daemon, _ args: [String]) throws -> [[String: Any]] {
        let r = try runProgram(cbmIngestBinary(), ["report", "--config", daemon.configPath, "--format", "json"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "\(r.stdout)")
    }

    /// The simulator's truth for a gas day: field and sector volumes by id.
    static func truth(_ path: String, day: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let t = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  t["window"] as? String == "day", t["start"] as? String == day else { continue }
            switch t["scope"] as? String {
            case "field": out["field/\(t["id"]!)"] = t["gas_m3"] as? Double
            case "sector": out["sector/\(t["id"]!)"] = t["utilised_m3"] as? Double
            default: break
            }
        }
        return out
    }

    static func figures(_ rows: [[String: Any]]) -> [String: Double] {
        var out: [String: Double] = [:]
        for r in rows {
            let scope = r["scope"] as? String ?? ""
            out["\(scope)/\(r["id"]!)"] = (scope == "sector" ? r["utilised_m3"] : r["gas_m3"]) as? Double
        }
        return out
    }

    static func same(_ a: [String: Double], _ b: [String: Double]) -> Bool {
        a.keys.sorted() == b.keys.sorted() && a.allSatisfy { k, v in abs(v - b[k]!) <= 1e-9 * max(1, abs(v)) }
    }

    @Test("report --gas-day equals the simulator's truth by field and sector, also after a backfill revises the day; reindex gives the sink's index; a deleted index is rebuilt")
    func gasDayAgainstTruth() throws {
        // 40 wells over the 50 hours before the last whole hour: yesterday's gas day whole;
        // ten wells hold the first 40 hours back and send them after the live stream.
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let sim = daemon.dir.file("sim")
        let start = (Int(Date().timeIntervalSince1970) / 3600 - 50) * 3600
        let s = try runProgram(cbmIngestBinary(), ["simulate", "--config", daemon.configPath, "--wells", "40", "--hours", "50", "--interval", "600",
                                                   "--seed", "23", "--outages", "0", "--backfill-wells", "10", "--backfill-hours", "40", "--out", sim,
                                                   "--start", ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(start)))])
        #expect(s.status == 0, "\(s.stderr)")
        try useSimulatedField(daemon, sim, replacing: [("flush_interval: 10s", "flush_interval: 2s")])
        let lines = try String(contentsOfFile: sim + "/recording.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        // The backfill is what was received after the live stream ended.
        let liveEnd = Double(start + 50 * 3600)
        let live = lines.prefix { Double($0.prefix { $0 != " " })! <= liveEnd }
        try daemon.start()
        func publish(_ part: ArraySlice<String>, _ name: String) throws {
            let p = try runProgram(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish",
                                                       daemon.dir.write("\(name).txt", part.joined(separator: "\n") + "\n")], timeout: 300)
            #expect(p.status == 0, "\(p.stderr)")
        }
        try publish(live[...], "live")
        #expect(eventually(timeout: 60) { daemon.journaled == live.count })
        // Yesterday's gas day, as the configured zone and day start say.
        var zone = Calendar(identifier: .gregorian)
        zone.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let todayStart = zone.date(bySettingHour: 8, minute: 0, second: 0, of: Date().addingTimeInterval(-8 * 3600))!
        let dayStart = todayStart.addingTimeInterval(-86_400)
        let format = DateFormatter()
        format.timeZone = zone.timeZone
        format.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxx"
        let day = format.string(from: dayStart)
        format.dateFormat = "yyyy-MM-dd"
        let date = format.string(from: dayStart)
        let truth = Self.truth(sim + "/truth.jsonl", day: day)
        #expect(truth.count > 6, "\(truth)")
        // Before the backfill: the day is short of the held-back wells' gas.
        Thread.sleep(forTimeInterval: 4)
        let before = Self.figures(try Self.report(daemon, ["--gas-day", date, "--scope", "field"]))
        #expect(!before.isEmpty && (before["field/F1"] ?? 0) < (truth["field/F1"] ?? 0) - 1, "\(before) \(truth)")
        try publish(lines[live.count...], "backfill")
        #expect(eventually(timeout: 60) { daemon.journaled == lines.count })
        var rows: [[String: Any]] = []
        #expect(eventually(timeout: 60, interval: 1) {
            rows = ((try? Self.report(daemon, ["--gas-day", date, "--scope", "field"])) ?? [])
                + ((try? Self.report(daemon, ["--gas-day", date, "--scope", "sector"])) ?? [])
            return Self.same(Self.figures(rows), truth)
        }, "\(Self.figures(rows)) against \(truth)")
        // The fields' days were revised by the backfill (the meters were not held back).
        #expect(rows.filter { $0["scope"] as? String == "field" }.allSatisfy { ($0["revision"] as? Int ?? 0) >= 2 }, "\(rows)")
        #expect(daemon.stop() == 0)

        // The sink's index and one rebuilt from the files hold the same rows.
        let path = daemon.dir.file("out/index.sqlite")
        let kept = try TotalsIndex(path: path, folder: daemon.dir.file("out/totals")).dump()
        #expect(kept.count > 1000)
        let r = try runProgram(cbmIngestBinary(), ["reindex", "--config", daemon.configPath])
        #expect(r.status == 0, "\(r.stderr)")
        let rebuilt = try TotalsIndex(path: path, folder: daemon.dir.file("out/totals")).dump()
        #expect(rebuilt == kept)
        // No index at all: the report builds it from the files.
        try FileManager.default.removeItem(atPath: path)
        let again = Self.figures(try Self.report(daemon, ["--gas-day", date, "--scope", "field"]))
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(Self.same(again, truth.filter { $0.key.hasPrefix("field/") }), "\(again)")
        // A damaged one is set aside and rebuilt.
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: path))
        let damaged = Self.figures(try Self.report(daemon, ["--gas-day", date, "--scope", "field"]))
        #expect(damaged == again)
        #expect(try TotalsIndex(path: path, folder: daemon.dir.file("out/totals")).dump() == kept)
        // --from/--to by the hour, in local time: the day's hours of each field add up to its day.
        format.dateFormat = "yyyy-MM-dd HH:mm"
        let hourly = try Self.report(daemon, ["--from", format.string(from: dayStart), "--to", format.string(from: dayStart.addingTimeInterval(86_400)),
                                              "--window", "hour", "--scope", "field"])
        var days: [String: Double] = [:]
        for r in hourly where r["window"] as? String == "hour" { days["field/\(r["id"]!)", default: 0] += r["gas_m3"] as? Double ?? 0 }
        #expect(hourly.filter { $0["window"] as? String == "hour" }.count == 24 * days.count, "\(hourly.count) rows")
        #expect(Self.same(days, truth.filter { $0.key.hasPrefix("field/") }), "\(days) against \(truth)")
        // The morning report names the day and its fields.
        let morning = try runProgram(cbmIngestBinary(), ["report", "--config", daemon.configPath])
        #expect(morning.status == 0, "\(morning.stderr)")
        #expect(morning.stdout.contains("Morning report: gas day \(date)") && morning.stdout.contains("Production by field and block"), "\(morning.stdout)")
        // Its events are the day's (a totalizer's reset is at its reading's time), though they
        // were written today (the whole field was published now): in a file of today's gas day,
        // which the report reads too.
        let dayEnd = dayStart.addingTimeInterval(86_400)
        var codes: [String: Int] = [:]
        for r in daemon.events {
            guard let t = (r["time"] as? String).flatMap({ ISO8601DateFormatter.withFraction.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) }),
                  t >= dayStart, t < dayEnd else { continue }
            codes[r["kind"] as? String ?? "?", default: 0] += 1
        }
        #expect(!codes.isEmpty, "the simulated field's totalizers roll over, reset and step back")
        let line = "Events: " + codes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        #expect(morning.stdout.contains(line), "\(line) in \(morning.stdout)")
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, as the records write them.
    static var withFraction: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
