import CBMCore
import CBMStorage
import Foundation

extension Report {
    /// The last gas day closed by now (its end and the allowed lateness past).
    public var lastClosedGasDay: Timestamp {
        var cal = calendar
        let today = cal.day(containing: now + Int64(-configuration.aggregation.allowedLatenessUS))
        return cal.day(containing: today.start + Int64(-1)).start
    }

    /// The morning report of a gas day: production by field and block against the day before, the
    /// wells furthest below expected, utilisation by sector, flared volume, the utilisation rate,
    /// standard coal and CO₂e, the rejects, events and alarms of the day.
    public func morning(_ day: Timestamp, wells: Int = 10) throws(Failure) -> String {
        var cal = calendar
        let span = cal.day(containing: day)
        let before = cal.day(containing: span.start + Int64(-1))
        let index = try self.index()
        func figures(_ d: WindowSpan) throws(Failure) -> [TotalsRecord] {
            do { return try index.records(window: .day, from: d.start, to: d.start + Int64(1)) } catch { throw Failure(description: "\(error)") }
        }
        let today = try figures(span), yesterday = try figures(before)
        func find(_ rs: [TotalsRecord], _ scope: TotalsRecord.Scope, _ id: String) -> TotalsRecord? {
            rs.first { $0.scope == scope && $0.id == id }
        }
        var offsets = ZoneOffsets(zone: configuration.aggregation.timeZone)
        let basis = configuration.aggregation.basis.name
        func n(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        func change(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b != 0 else { return "–" }
            return String(format: "%+.1f %%", (a - b) / b * 100)
        }
        var out = "Morning report: gas day \(Self.local(span.start, &offsets).prefix(10)) "
            + "(\(Self.local(span.start, &offsets)) to \(Self.local(span.end, &offsets)), \(configuration.aggregation.timeZone.identifier))\n"
            + "volumes in m³ at \(basis), 101.325 kPa; final figures as of \(Self.local(now, &offsets))\n"
        guard !today.isEmpty else {
            return out + "\nno figures for this gas day in the totals files (\(index.folder))\n"
        }
        let all = find(today, .all, "all")
        out += "\nProduced \(n(all?.gasM3)) m³ (the day before \(n(find(yesterday, .all, "all")?.gasM3)) m³, \(change(all?.gasM3, find(yesterday, .all, "all")?.gasM3))); "
            + "utilised \(n(all?.utilisedM3)) m³, flared \(n(all?.flaredM3)) m³, utilisation rate \(all?.utilisationRate.map { String(format: "%.1f %%", $0 * 100) } ?? "–"); "
            + "coverage \(n((all?.coverage).map { $0 * 100 })) %\(all?.estimated == true ? ", partly estimated from rates" : "")\n"
        out += "Standard coal saved \(n(all?.coalT, 2)) t, CO₂e avoided \(n(all?.co2eT, 2)) t (factors: \(configuration.factors.coalKgcePerM3) kgce and "
            + "\(configuration.factors.co2eKgPerM3) kg CO₂e per m³ utilised)\n"

        // Production by field and block.
        var rows: [[String]] = []
        for scope in [TotalsRecord.Scope.field, .block] {
            for r in today.filter({ $0.scope == scope }) {
                let prior = find(yesterday, scope, r.id)
                rows.append([scope.rawValue, r.id, n(r.gasM3), n(prior?.gasM3), change(r.gasM3, prior?.gasM3), n(r.coverage * 100), "\(r.revision)"])
            }
        }
        out += "\nProduction by field and block\n" + Self.table(["scope", "id", "gas m³", "day before m³", "change", "coverage %", "revision"], rows, note: "")

        // The wells furthest below expected.
        var below: [(id: String, gas: Double, expected: Double)] = []
        for asset in configuration.register.assets where asset.kind == .well {
            guard let expected = asset.expectedGasM3d, expected > 0 else { continue }
            let dayLength = Double(span.end.microseconds - span.start.microseconds) / 86_400_000_000
            below.append((asset.id, find(today, .well, asset.id)?.gasM3 ?? 0, expected * dayLength))
        }
        below.sort { ($0.gas / $0.expected, $0.id) < ($1.gas / $1.expected, $1.id) }
        out += "\nThe \(min(wells, below.count)) wells furthest below expected\n" + Self.table(
            ["well", "gas m³", "expected m³", "of expected %"],
            below.prefix(wells).map { [$0.id, n($0.gas), n($0.expected), n($0.gas / $0.expected * 100)] }, note: "")

        // Utilisation by sector.
        let sectors = today.filter { $0.scope == .sector }
        out += "\nUtilisation by sector\n" + Self.table(["sector", "utilised m³", "day before m³", "change"], sectors.map { r in
            let prior = find(yesterday, .sector, r.id)
            return [r.id, n(r.utilisedM3), n(prior?.utilisedM3), change(r.utilisedM3, prior?.utilisedM3)]
        } + [["all", n(all?.utilisedM3), n(find(yesterday, .all, "all")?.utilisedM3), change(all?.utilisedM3, find(yesterday, .all, "all")?.utilisedM3)]], note: "")
        let flares = today.filter { $0.scope == .flare }
        if !flares.isEmpty {
            out += "\nFlared\n" + Self.table(["flare", "flared m³"], flares.map { [$0.id, n($0.flaredM3 ?? $0.gasM3)] }, note: "")
        }

        // What else happened that day: rejects, events, alarms.
        let rejects = records(.rejects, in: span), events = records(.events, in: span), alerts = records(.alerts, in: span)
        func counts(_ rs: [[String: Any]], _ key: String) -> String {
            var c: [String: Int] = [:]
            for r in rs { c[(r[key] as? String) ?? "?", default: 0] += 1 }
            return c.isEmpty ? "none" : c.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        out += "\nRejected messages: \(counts(rejects, "code"))\nEvents: \(counts(events, "kind"))\n"
        let raised = alerts.filter { $0["state"] as? String == "active" }
        out += "Alarms raised: \(raised.count)\n"
        for a in raised.prefix(20) {
            out += "  \(((a["time"] as? String) ?? "").prefix(16).replacingOccurrences(of: "T", with: " "))  \((a["severity"] as? String) ?? "")  \((a["message"] as? String) ?? "")\n"
        }
        if raised.count > 20 { out += "  … and \(raised.count - 20) more in alerts/\n" }
        return out
    }

    /// The records of a family whose time is in the span, from the files whose period can hold it.
    func records(_ family: RecordFamily, in span: WindowSpan) -> [[String: Any]] {
        let folder = (configuration.output.directory as NSString).appendingPathComponent(family.rawValue)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.contains(".jsonl") }.sorted()
        var out: [[String: Any]] = []
        // Files are cut by the time records are written, which is at or after the records' own
        // times (give or take a reading's allowed lead, `max_future`): a file whose period (a
        // day at most) ended before the span began holds nothing of it; any later file may (a
        // backfill, a replay, the records of a day written once it has closed).
        let from = span.start.microseconds - 86_400_000_000 - configuration.limits.maxFutureUS
        for name in names {
            if let parts = RotationSchedule.parse(name), let start = Self.stampTime(parts.stamp), start < from { continue }
            let path = (folder as NSString).appendingPathComponent(name)
            guard let bytes = OutputStore.contents(ofRecordFile: path) else { continue }
            for line in splitLines(bytes) {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let t = (o["time"] as? String).flatMap({ if case .success(let t) = RFC3339.parse($0) { t } else { nil } }),
                      span.contains(t) else { continue }
                out.append(o)
            }
        }
        return out
    }

    /// `20261128T080000+0800` as a time (µs).
    static func stampTime(_ stamp: String) -> Int64? {
        let c = Array(stamp)
        guard c.count == 20 else { return nil }
        let text = "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\(String(c[13..<15]))"
            + "\(String(c[15..<18])):\(String(c[18..<20]))"
        if case .success(let t) = RFC3339.parse(text) { return t.microseconds }
        return nil
    }
}
