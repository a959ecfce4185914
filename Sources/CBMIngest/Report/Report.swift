import CBMCore
import CBMStorage
import Foundation

/// `cbm-ingest report`: final figures from the index of the totals files (caught up from the
/// files first, rebuilt when it cannot be used), with times in the configured zone and units in
/// the header; or, with no period given, the morning report of the last closed gas day.
public struct Report {
    public let configuration: Configuration
    public let now: Timestamp
    /// CSV for spreadsheets: a UTF-8 byte-order mark first, so that Excel and WPS read the
    /// characters (Chinese names) right; times are local, without their offset, already.
    public var byteOrderMark = false

    public init(configuration: Configuration, now: Timestamp) {
        self.configuration = configuration
        self.now = now
    }

    public enum Period: Sendable, Equatable {
        case gasDay(Timestamp)
        case month(Timestamp)
        case range(WindowKind, from: Timestamp, to: Timestamp)
    }

    public enum Format: String, Sendable, CaseIterable {
        case table, csv, json
    }

    /// Why a report cannot be made.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Where the index lives: beside the family folders of the output.
    public static func indexPath(_ c: Configuration) -> String {
        (c.output.directory as NSString).appendingPathComponent("index.sqlite")
    }

    /// Builds the index again from the files; where it is, what it read, how many rows.
    public static func reindex(_ c: Configuration) throws -> (path: String, folder: String, rows: Int) {
        let folder = (c.output.directory as NSString).appendingPathComponent("totals")
        let index = try TotalsIndex.rebuild(path: indexPath(c), folder: folder)
        return (index.path, folder, try index.dump().count)
    }

    /// The index, caught up with the files.
    public func index() throws(Failure) -> TotalsIndex {
        let folder = (configuration.output.directory as NSString).appendingPathComponent("totals")
        do {
            let index = try TotalsIndex(path: Self.indexPath(configuration), folder: folder)
            try index.catchUp()
            return index
        } catch {
            throw Failure(description: "cannot read the index of \(folder): \(error)")
        }
    }

    // MARK: periods

    var calendar: WindowCalendar { WindowCalendar(zone: configuration.aggregation.timeZone, dayStartMinutes: configuration.aggregation.dayStartMinutes) }

    /// `YYYY-MM-DD` (the gas day that begins on that date at `day_start`), `yesterday` or `today`.
    public func gasDay(_ text: String) -> Timestamp? {
        var cal = calendar
        let today = cal.day(containing: now)
        switch text {
        case "today": return today.start
        case "yesterday": return cal.day(containing: today.start + Int64(-1)).start
        default:
            guard let midnight = Self.localMidnight(text, zone: configuration.aggregation.timeZone) else { return nil }
            return cal.day(containing: midnight + Int64(configuration.aggregation.dayStartMinutes) * 60_000_000).start
        }
    }

    /// `YYYY-MM`: the gas month that begins on its first day at `day_start`.
    public func month(_ text: String) -> Timestamp? {
        guard let midnight = Self.localMidnight(text + "-01", zone: configuration.aggregation.timeZone) else { return nil }
        var cal = calendar
        return cal.month(containing: midnight + Int64(configuration.aggregation.dayStartMinutes) * 60_000_000).start
    }

    /// A local date or date and time (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`), or RFC 3339.
    public func time(_ text: String) -> Timestamp? {
        if case .success(let t) = RFC3339.parse(text) { return t }
        if text.count == 10 { return Self.localMidnight(text, zone: configuration.aggregation.timeZone) }
        // `2026-12-03T08:00` or `2026-12-03 08:00`, as the report itself writes times.
        let parts = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 2, let day = Self.localMidnight(String(parts[0]), zone: configuration.aggregation.timeZone) else { return nil }
        let hm = parts[1].split(separator: ":").compactMap { Int($0) }
        guard hm.count >= 2, (0..<24).contains(hm[0]), (0..<60).contains(hm[1]) else { return nil }
        return day + Int64(hm[0] * 3600 + hm[1] * 60) * 1_000_000
    }

    static func localMidnight(_ text: String, zone: TimeZone) -> Timestamp? {
        let p = text.split(separator: "-").compactMap { Int($0) }
        guard p.count == 3, text.count == 10 else { return nil }
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        guard let d = c.date(from: DateComponents(year: p[0], month: p[1], day: p[2])),
              c.component(.day, from: d) == p[2] else { return nil }
        return Timestamp(microseconds: Int64((d.timeIntervalSince1970 * 1e6).rounded()))
    }

    /// The window kind and span a period reads.
    func span(_ p: Period) -> (WindowKind, Timestamp, Timestamp) {
        var cal = calendar
        switch p {
        case .gasDay(let start): return (.day, start, start + Int64(1))
        case .month(let start): return (.month, start, cal.month(containing: start).end)
        case .range(let kind, let from, let to): return (kind, from, to)
        }
    }

    // MARK: figures

    /// The final figures of a period, a scope and ids, formatted.
    public func figures(_ p: Period, scope: TotalsRecord.Scope?, ids: [String], format: Format) throws(Failure) -> String {
        let (kind, from, to) = span(p)
        let records: [TotalsRecord]
        do {
            records = try index().records(window: kind, from: from, to: to, scope: scope, ids: ids)
        } catch let e as Failure {
            throw e
        } catch {
            throw Failure(description: "\(error)")
        }
        return render(records, format: format)
    }

    static let columns: [(name: String, unit: String)] = [
        ("window", ""), ("start", ""), ("scope", ""), ("id", ""), ("gas", "m3"), ("water", "m3"), ("utilised", "m3"), ("flared", "m3"),
        ("utilisation_rate", ""), ("coal", "t"), ("co2e", "t"), ("coverage", ""), ("estimated", ""), ("revision", ""),
    ]

    func values(_ r: TotalsRecord, offsets: inout ZoneOffsets) -> [String] {
        func n(_ v: Double?, _ digits: Int = 3) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }
        return [r.window.rawValue, Self.local(r.span.start, &offsets), r.scope.rawValue, r.id, n(r.gasM3), n(r.waterM3), n(r.utilisedM3),
                n(r.flaredM3), n(r.utilisationRate, 4), n(r.coalT), n(r.co2eT), n(r.coverage, 4), r.estimated ? "yes" : "no", "\(r.revision)"]
    }

    /// `2026-12-03 08:00` in the zone.
    static func local(_ t: Timestamp, _ offsets: inout ZoneOffsets) -> String {
        let text = offsets.format(t)
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    func render(_ records: [TotalsRecord], format: Format) -> String {
        var offsets = ZoneOffsets(zone: configuration.aggregation.timeZone)
        let basis = configuration.aggregation.basis.name
        // A totals row per scope (rows of different scopes would count the same gas twice).
        var sums: [(TotalsRecord.Scope, [Double?])] = []
        for scope in TotalsRecord.Scope.allCases {
            let rs = records.filter { $0.scope == scope }
            guard !rs.isEmpty else { continue }
            func sum(_ f: (TotalsRecord) -> Double?) -> Double? { rs.contains { f($0) != nil } ? rs.compactMap(f).reduce(0, +) : nil }
            sums.append((scope, [sum(\.gasM3), sum(\.waterM3), sum(\.utilisedM3), sum(\.flaredM3), sum(\.coalT), sum(\.co2eT)]))
        }
        switch format {
        case .json:
            var out: [[String: Any]] = []
            for r in records {
                var o: [String: Any] = ["window": r.window.rawValue, "start": offsets.format(r.span.start), "end": offsets.format(r.span.end),
                                        "scope": r.scope.rawValue, "id": r.id, "coverage": r.coverage, "estimated": r.estimated,
                                        "revision": r.revision, "basis": basis]
                for (k, v) in [("gas_m3", r.gasM3), ("water_m3", r.waterM3), ("utilised_m3", r.utilisedM3), ("flared_m3", r.flaredM3),
                               ("utilisation_rate", r.utilisationRate), ("coal_t", r.coalT), ("co2e_t", r.co2eT)] { if let v { o[k] = v } }
                out.append(o)
            }
            let data = (try? JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .prettyPrinted])) ?? Data("[]".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        case .csv:
            var lines = [Self.columns.map { $0.unit.isEmpty ? $0.name : "\($0.name)_\($0.unit)" }.joined(separator: ",")]
            for r in records { lines.append(values(r, offsets: &offsets).map(CSV.quote).joined(separator: ",")) }
            for (scope, s) in sums {
                lines.append((["total", "", scope.rawValue, ""] + [s[0], s[1], s[2], s[3]].map { $0.map { String(format: "%.3f", $0) } ?? "" }
                    + [""] + [s[4], s[5]].map { $0.map { String(format: "%.3f", $0) } ?? "" } + ["", "", ""]).joined(separator: ","))
            }
            return (byteOrderMark ? "\u{FEFF}" : "") + lines.joined(separator: "\n") + "\n"
        case .table:
            let header = Self.columns.map { $0.unit.isEmpty ? $0.name : "\($0.name) \($0.unit == "m3" ? "m³" : $0.unit)" }
            var rows = records.map { values($0, offsets: &offsets) }
            for (scope, s) in sums {
                rows.append(["total", "", scope.rawValue, ""] + [s[0], s[1], s[2], s[3]].map { $0.map { String(format: "%.3f", $0) } ?? "" }
                    + [""] + [s[4], s[5]].map { $0.map { String(format: "%.3f", $0) } ?? "" } + ["", "", ""])
            }
            return Self.table(header, rows, note: "volumes in m³ at \(basis), 101.325 kPa; times in \(configuration.aggregation.timeZone.identifier); "
                              + "final revisions; \(records.count) record(s)")
        }
    }

    /// Aligned columns: text left, numbers right.
    static func table(_ header: [String], _ rows: [[String]], note: String) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func numeric(_ s: String) -> Bool { !s.isEmpty && Double(s) != nil }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return numeric(c) ? pad + c : c + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line) + (note.isEmpty ? [] : ["", note]))
            .joined(separator: "\n") + "\n"
    }
}
