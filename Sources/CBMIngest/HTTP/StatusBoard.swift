import CBMCore
import Foundation
import Synchronization

/// What the HTTP server shows, kept apart from the pipeline: the roll-up hands each snapshot's
/// ``FieldStatus`` here (a store under a lock) and requests read it, so a slow client never
/// holds up ingestion. It also keeps the closed hours by field for the 48-hour chart: those of
/// the totals files at the start, then each snapshot's last closed hour (a correction replaces the
/// figure).
final class StatusBoard: Sendable {
    private struct State {
        var status: FieldStatus?
        /// Closed hours' gas by (start, field): the highest revision seen.
        var hours: [HourKey: (revision: Int, gasM3: Double)] = [:]
    }
    private struct HourKey: Hashable {
        var start: Int64
        var field: String
    }
    private let state = Mutex(State())
    static let chartHours: Int64 = 48

    func update(_ s: FieldStatus) {
        state.withLock { st in
            st.status = s
            let cut = s.generatedAt.microseconds - (Self.chartHours + 2) * 3_600_000_000
            if st.hours.keys.contains(where: { $0.start < cut }) { st.hours = st.hours.filter { $0.key.start >= cut } }
        }
    }

    /// Totals records as the roll-up writes them: the fields' hours are kept for the chart.
    @Sendable func record(_ records: [TotalsRecord]) {
        guard records.contains(where: { $0.window == .hour && $0.scope == .field }) else { return }
        state.withLock { Self.keep(records, in: &$0.hours) }
    }

    private static func keep(_ records: [TotalsRecord], in hours: inout [HourKey: (revision: Int, gasM3: Double)]) {
        for r in records where r.window == .hour && r.scope == .field {
            let key = HourKey(start: r.span.start.microseconds, field: r.id)
            if (hours[key]?.revision ?? .min) <= r.revision { hours[key] = (r.revision, r.gasM3 ?? 0) }
        }
    }

    /// Reads the field hours of the last two days from the totals files (`jsonl`), so that the
    /// chart is whole after a restart.
    func seed(totalsDirectory: String, now: Timestamp) {
        let fm = FileManager.default
        let since = Date(timeIntervalSince1970: Double(now.microseconds) / 1e6 - Double(Self.chartHours + 26) * 3600)
        guard let names = try? fm.contentsOfDirectory(atPath: totalsDirectory) else { return }
        var found: [HourKey: (revision: Int, gasM3: Double)] = [:]
        let cut = now.microseconds - (Self.chartHours + 1) * 3_600_000_000
        for name in names.sorted() where name.hasSuffix(".jsonl") {
            let path = (totalsDirectory as NSString).appendingPathComponent(name)
            guard let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified >= since,
                  let data = fm.contents(atPath: path) else { continue }
            let bytes = [UInt8](data)
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
                let line = bytes[start..<end]
                start = end + 1
                // Only hours of fields: most lines are skipped before they are parsed.
                guard line.count > 40, Self.contains(line, #""window":"hour""#), Self.contains(line, #""scope":"field""#),
                      let r = TotalsRecord.decode(jsonLine: line), r.span.start.microseconds >= cut else { continue }
                Self.keep([r], in: &found)
            }
        }
        state.withLock { st in
            for (k, v) in found where (st.hours[k]?.revision ?? .min) <= v.revision { st.hours[k] = v }
        }
    }

    private static func contains(_ line: ArraySlice<UInt8>, _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard line.count >= needle.count else { return false }
        var i = line.startIndex
        while i <= line.endIndex - needle.count {
            if line[i] == needle[0] && line[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// The latest snapshot, if one has been made.
    var status: FieldStatus? { state.withLock { $0.status } }

    /// The page's view of the latest snapshot.
    func view(_ c: Configuration, ready: Bool, connected: Bool, messagesPerSecond: Double, rejects: [String: Int], now: Timestamp) -> StatusView {
        let (status, hours) = state.withLock { ($0.status, $0.hours) }
        var offsets = ZoneOffsets(zone: c.aggregation.timeZone)
        var calendar = WindowCalendar(zone: c.aggregation.timeZone, dayStartMinutes: c.aggregation.dayStartMinutes)
        func time(_ t: Timestamp) -> String { offsets.format(t) }
        func span(_ s: WindowSpan) -> StatusView.Span { StatusView.Span(start: time(s.start), end: time(s.end)) }
        let at = status?.generatedAt ?? now
        let day = calendar.day(containing: at), hour = calendar.hour(containing: at)
        let elapsed = min(1, max(0, Double(at.microseconds - day.start.microseconds) / Double(day.end.microseconds - day.start.microseconds)))
        let open = status?.open ?? []
        func record(_ kind: WindowKind, _ scope: TotalsRecord.Scope, _ id: String) -> TotalsRecord? {
            open.first { $0.window == kind && $0.scope == scope && $0.id == id && $0.span.start == (kind == .day ? day.start : hour.start) }
        }
        let wells = c.register.assets.filter { $0.kind == .well }
        func expected(_ ids: [Asset]) -> Double? {
            let e = ids.compactMap(\.expectedGasM3d)
            return e.isEmpty ? nil : e.reduce(0, +)
        }
        func figures(_ scope: TotalsRecord.Scope, _ id: String, expectedDay: Double?) -> StatusView.Figures {
            let d = record(.day, scope, id), h = record(.hour, scope, id)
            let gas = d?.gasM3 ?? 0, utilised = d?.utilisedM3 ?? 0
            return StatusView.Figures(
                scope: scope.rawValue, id: id, gasM3: gas, utilisedM3: utilised, flaredM3: d?.flaredM3 ?? 0,
                utilisationRate: d?.utilisationRate ?? (gas > 0 && scope == .all ? utilised / gas : nil),
                coalT: d?.coalT ?? 0, co2eT: d?.co2eT ?? 0,
                expectedDayM3: expectedDay, expectedSoFarM3: expectedDay.map { $0 * elapsed },
                openHourGasM3: h?.gasM3 ?? h?.utilisedM3 ?? 0, coverage: d?.coverage ?? 0, estimated: d?.estimated ?? false)
        }
        let fieldIDs = Array(Set(wells.compactMap(\.field))).sorted()
        let fields = fieldIDs.map { f in figures(.field, f, expectedDay: expected(wells.filter { $0.field == f })) }
        let sectorIDs = Array(Set(c.register.assets.compactMap { $0.sector?.rawValue })).sorted()
        let sectors = sectorIDs.map { figures(.sector, $0, expectedDay: nil) }

        var hourly: [StatusView.HourPoint] = []
        let chartFrom = hour.start.microseconds - Self.chartHours * 3_600_000_000
        for (k, v) in hours where k.start >= chartFrom && k.start < hour.start.microseconds {
            hourly.append(StatusView.HourPoint(start: time(Timestamp(microseconds: k.start)), field: k.field, gasM3: v.gasM3, open: false))
        }
        for f in fieldIDs { if let h = record(.hour, .field, f) {
            hourly.append(StatusView.HourPoint(start: time(h.span.start), field: f, gasM3: h.gasM3 ?? 0, open: true))
        } }
        hourly.sort { ($0.start, $0.field) < ($1.start, $1.field) }

        let alarms = status?.alarms
        let activeByWell = Dictionary(grouping: alarms?.active.filter { $0.record.scope == .well } ?? [], by: \.record.id)
        let rates = Dictionary((status?.rates ?? []).map { ($0.asset, $0) }, uniquingKeysWith: { a, b in a.time >= b.time ? a : b })
        // A well is silent past the `after` of the no-data rules that watch it (an hour when none
        // does), low below the fraction of expected its low-output rules set (half when none does).
        let noData = Set(c.alerts.compactMap { r -> String? in if case .noData = r.kind { r.name } else { nil } })
        func silence(_ id: String) -> Int64 {
            c.alerts.compactMap { r -> Int64? in
                if case .noData(let after) = r.kind, r.scope == .well, r.selection.selects(id) { after } else { nil }
            }.min() ?? 3_600_000_000
        }
        func low(_ id: String) -> Double {
            c.alerts.compactMap { r -> Double? in
                if case .lowOutput(.fractionOfExpected(let below, _)) = r.kind, r.scope == .well, r.selection.selects(id) { below } else { nil }
            }.max() ?? 0.5
        }
        var rows: [StatusView.Well] = wells.map { w in
            let d = record(.day, .well, w.id)
            let gas = d?.gasM3 ?? 0
            let soFar = w.expectedGasM3d.map { $0 * elapsed }
            let seen = alarms?.lastSeen[w.id]
            let active = activeByWell[w.id] ?? []
            let state: StatusView.WellState
            if alarms?.inMaintenance.contains(w.id) == true {
                state = .maintenance
            } else if active.contains(where: { noData.contains($0.record.rule) }) || seen.map({ now.microseconds - $0 > silence(w.id) }) ?? true {
                state = .silent
            } else if !active.isEmpty || (soFar.map { $0 > 0 && elapsed > 1 / 24 && gas < low(w.id) * $0 } ?? false) {
                state = .low
            } else {
                state = .ok
            }
            return StatusView.Well(id: w.id, field: w.field ?? "", block: w.block ?? "", state: state,
                                   lastSeen: seen.map { time(Timestamp(microseconds: $0)) },
                                   lastRateM3h: rates[w.id]?.m3h, gasDayM3: gas, expectedDayM3: w.expectedGasM3d, expectedSoFarM3: soFar,
                                   ofExpected: soFar.flatMap { $0 > 0 ? gas / $0 : nil })
        }
        let order: [StatusView.WellState: Int] = [.silent: 0, .low: 1, .maintenance: 2, .ok: 3]
        rows.sort { (order[$0.state]!, $0.ofExpected ?? .infinity, $0.id) < (order[$1.state]!, $1.ofExpected ?? .infinity, $1.id) }

        let severity = ["critical": 0, "high": 1, "warning": 2, "low": 3]
        let alarmRows = (alarms?.active ?? []).sorted {
            (severity[$0.record.severity] ?? 9, $0.record.time) < (severity[$1.record.severity] ?? 9, $1.record.time)
        }.map { a in
            StatusView.Alarm(rule: a.record.rule, scope: a.record.scope.rawValue, id: a.record.id, severity: a.record.severity,
                             since: time(a.record.time), message: a.record.message, value: a.record.value, threshold: a.record.threshold,
                             acknowledged: a.acknowledged, shelvedUntil: a.shelvedUntil.map(time))
        }
        return StatusView(
            generatedAt: time(at), watermark: status.flatMap { $0.watermark.microseconds > Int64.min / 2 ? time($0.watermark) : nil },
            ready: ready, brokerConnected: connected, messagesPerSecond: messagesPerSecond, basis: c.aggregation.basis.name,
            coalKgcePerM3: c.factors.coalKgcePerM3, co2eKgPerM3: c.factors.co2eKgPerM3,
            openHour: status == nil ? nil : span(hour), gasDay: status == nil ? nil : span(day), gasDayElapsed: elapsed,
            total: figures(.all, "all", expectedDay: expected(wells)), fields: fields, sectors: sectors, hourly: hourly,
            wells: rows, alarms: alarmRows, rejectsLastHour: rejects)
    }
}
