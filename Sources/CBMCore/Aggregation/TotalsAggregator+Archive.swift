/// The roll-up's archive tier: closed hours, gas days and revision numbers older than the hot
/// span go to the ``HistoryArchive`` (one row per hour, per day, per window's revisions), and come
/// back for as long as a correction needs them.
extension TotalsAggregator {
    static func revisionsKey(_ kind: WindowKind, _ start: Int64) -> RollupKey {
        RollupKey(table: .revisions, window: UInt8(WindowKind.allCases.firstIndex(of: kind)!), start: start)
    }

    /// Reads back from the archive what a correction of the hour at `t` needs, when it is older
    /// than what is in memory: the hours of its gas day, the day's own figures, and the revision
    /// numbers of its hour, day and month. (A month's figures are summed from its days as they
    /// are read, never held whole: see ``closedDay(_:)``.)
    mutating func load(around t: Timestamp) {
        let day = calendar.day(containing: t)
        // (Days leave memory no later than their hours.) A closed day is summed again from all
        // its hours: those that left memory come back too.
        let closedDay = next[.day].map { day.start < $0.start } ?? false
        guard t.microseconds < evictedHoursBefore || (closedDay && day.start.microseconds < evictedHoursBefore) else { return }
        guard loadedDays.insert(day.start.microseconds).inserted else { return }
        var h = calendar.hour(containing: day.start)
        while h.start < day.end {
            loadRevisions(.hour, h.start.microseconds)
            let key = RollupKey(table: .hours, start: h.start.microseconds)
            if hours[key.start] == nil, let bytes = archive.rollup(key), let figs = Self.decodeFigures(bytes) {
                hours[key.start] = figs
                clean.insert(key)
            }
            h = calendar.next(.hour, after: h)
        }
        let key = RollupKey(table: .days, start: day.start.microseconds)
        if days[key.start] == nil, let figs = archivedDay(key.start) {
            days[key.start] = figs
            clean.insert(key)
        }
        loadRevisions(.day, day.start.microseconds)
        loadRevisions(.month, calendar.month(containing: t).start.microseconds)
    }

    /// A closed gas day's figures: as in memory, else as archived, else summed from its hours.
    mutating func closedDay(_ d: WindowSpan) -> [String: Figures] {
        days[d.start.microseconds] ?? archivedDay(d.start.microseconds) ?? figures(.day, d)
    }

    /// An hour's figures as archived (an hour that has left memory), or nil.
    func archivedHour(_ start: Int64) -> [String: Figures]? {
        guard start < evictedHoursBefore, let bytes = archive.rollup(RollupKey(table: .hours, start: start)) else { return nil }
        return Self.decodeFigures(bytes)
    }

    private func archivedDay(_ start: Int64) -> [String: Figures]? {
        guard start < evictedDaysBefore, let bytes = archive.rollup(RollupKey(table: .days, start: start)) else { return nil }
        return Self.decodeFigures(bytes)
    }

    mutating func loadRevisions(_ kind: WindowKind, _ start: Int64) {
        let key = Self.revisionsKey(kind, start)
        guard let bytes = archive.rollup(key) else { return }
        var fresh = true
        for (k, revision) in Self.decodeRevisions(bytes, kind, start) {
            if let have = revisions[k] {
                fresh = false
                if have >= revision { continue }
            }
            revisions[k] = revision
        }
        if fresh { clean.insert(key) }
    }

    /// Moves to the archive the hours before the hour that holds `cutoff` (or the next to close),
    /// the days before its gas day, the revision numbers of those windows, and those of the
    /// months before its month: what stays in memory is the hot span's hours and a gas day, however
    /// long the history.
    mutating func prune(cutoff: Int64) {
        let hourCut = min(calendar.hour(containing: Timestamp(microseconds: cutoff)).start.microseconds,
                          next[.hour]?.start.microseconds ?? .min)
        let dayCut = min(calendar.day(containing: Timestamp(microseconds: cutoff)).start.microseconds,
                         next[.day]?.start.microseconds ?? .min)
        let monthCut = min(calendar.month(containing: Timestamp(microseconds: cutoff)).start.microseconds,
                           next[.month]?.start.microseconds ?? .min)
        let writer = HistoryArchive.rollupWriter
        // More of the open day's hours leave memory: its sum of them is made again when next asked.
        if let d = daySoFar, hourCut > d.through, d.through < d.end { daySoFar = nil }
        for (start, figs) in hours where start < hourCut {
            let key = RollupKey(table: .hours, start: start)
            if clean.remove(key) == nil { archive.put(key, Self.encode(figs), writer: writer) }
        }
        hours = hours.filter { $0.key >= hourCut }
        for (start, figs) in days where start < dayCut {
            let key = RollupKey(table: .days, start: start)
            if clean.remove(key) == nil { archive.put(key, Self.encode(figs), writer: writer) }
        }
        days = days.filter { $0.key >= dayCut }
        var groups: [RollupKey: [(TotalsRecord.Key, Int)]] = [:]
        var gone: [TotalsRecord.Key] = []
        for (k, revision) in revisions {
            let s = k.start.microseconds
            if s < (k.window == .hour ? hourCut : k.window == .day ? dayCut : monthCut) {
                groups[Self.revisionsKey(k.window, s), default: []].append((k, revision))
                gone.append(k)
            }
        }
        // (Taken out where they are: the numbers kept are not hashed again into a table of their
        // own, which the next windows' numbers would then have to grow.)
        for k in gone { revisions.removeValue(forKey: k) }
        for (key, entries) in groups where clean.remove(key) == nil {
            // Merge with what the archive has (numbers raised after a crash come without it).
            var merged: [TotalsRecord.Key: Int] = [:]
            if let kind = WindowKind.allCases.indices.contains(Int(key.window)) ? WindowKind.allCases[Int(key.window)] : nil,
               let bytes = archive.rollup(key) {
                for (k, r) in Self.decodeRevisions(bytes, kind, key.start) { merged[k] = r }
            }
            for (k, r) in entries where merged[k, default: 0] < r { merged[k] = r }
            archive.put(key, Self.encode(merged), writer: writer)
        }
        clean.removeAll()
        loadedDays.removeAll()
        evictedHoursBefore = max(evictedHoursBefore, hourCut)
        evictedDaysBefore = max(evictedDaysBefore, dayCut)
    }

    // MARK: rows

    static func encode(_ figs: [String: Figures]) -> [UInt8] {
        var w = BinaryWriter()
        w.int(figs.count)
        for id in figs.keys.sorted() {
            w.string(id)
            figs[id]!.gas.save(into: &w)
            figs[id]!.water.save(into: &w)
        }
        return w.bytes
    }

    static func decodeFigures(_ bytes: [UInt8]) -> [String: Figures]? {
        var r = BinaryReader(bytes)
        var out: [String: Figures] = [:]
        do {
            for _ in 0..<(try r.count()) {
                let id = try r.string()
                out[id] = Figures(gas: try FluidTotals.restore(from: &r), water: try FluidTotals.restore(from: &r))
            }
        } catch {
            return nil
        }
        return out
    }

    static func encode(_ revisions: [TotalsRecord.Key: Int]) -> [UInt8] {
        var w = BinaryWriter()
        w.int(revisions.count)
        for (k, r) in revisions.sorted(by: { $0.key < $1.key }) {
            w.string(k.scope.rawValue)
            w.string(k.id)
            w.int(r)
        }
        return w.bytes
    }

    static func decodeRevisions(_ bytes: [UInt8], _ kind: WindowKind, _ start: Int64) -> [(TotalsRecord.Key, Int)] {
        var r = BinaryReader(bytes)
        var out: [(TotalsRecord.Key, Int)] = []
        do {
            for _ in 0..<(try r.count()) {
                guard let scope = TotalsRecord.Scope(rawValue: try r.string()) else { return out }
                let id = try r.string()
                out.append((TotalsRecord.Key(window: kind, start: Timestamp(microseconds: start), scope: scope, id: id), Int(try r.amount())))
            }
        } catch {
            return out
        }
        return out
    }
}
