import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

func ts(_ text: String) -> Timestamp { try! RFC3339.parse(text).get() }

/// The names in a folder, sorted.
func names(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

func line(_ n: Int) -> [UInt8] { Array(#"{"n":\#(n)}"#.utf8) + [10] }

@Suite("Rotating files")
struct RotatingFileTests {
    let dir = TemporaryDirectory("rotate")

    func options(maxBytes: Int64 = 1 << 20, interval: Int64 = 3_600_000_000) -> RotatingFile.Options {
        var o = RotatingFile.Options()
        o.maxBytes = maxBytes
        o.intervalUS = interval
        o.zone = TimeZone(identifier: "Asia/Shanghai")!
        return o
    }

    @Test("the file being written is .open; closing renames it and a closed file never changes")
    func openAndClose() throws {
        let f = try RotatingFile(directory: dir.path, family: "totals", options: options())
        try f.append(line(1), at: ts("2026-11-28T08:10:00+08:00"))
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl.open"])
        try f.close()
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl"])
        try f.append(line(2), at: ts("2026-11-28T08:20:00+08:00"))
        try f.close()
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl", "totals-20261128T080000+0800-002.jsonl"])
        #expect(text(dir.file("totals-20261128T080000+0800-001.jsonl")) == "{\"n\":1}\n")
    }

    @Test("size rotation cuts a period into numbered files; time rotation starts a file at the boundary")
    func sizeAndTime() throws {
        let f = try RotatingFile(directory: dir.path, family: "readings", options: options(maxBytes: 20))
        // Each line is 8 bytes: two fit in 20 bytes, the third starts a new file.
        for n in 1...5 { try f.append(line(n), at: ts("2026-11-28T08:59:00+08:00")) }
        try f.append(line(6), at: ts("2026-11-28T09:00:00+08:00"))
        try f.close()
        #expect(names(dir.path) == [
            "readings-20261128T080000+0800-001.jsonl", "readings-20261128T080000+0800-002.jsonl",
            "readings-20261128T080000+0800-003.jsonl", "readings-20261128T090000+0800-001.jsonl",
        ])
        #expect(text(dir.file("readings-20261128T080000+0800-003.jsonl")) == "{\"n\":5}\n")
        #expect(text(dir.file("readings-20261128T090000+0800-001.jsonl")) == "{\"n\":6}\n")
    }

    @Test("an idle file is closed by the timer at the end of its period")
    func idleTimer() throws {
        let f = try RotatingFile(directory: dir.path, family: "totals", options: options())
        try f.append(line(1), at: ts("2026-11-28T08:10:00+08:00"))
        try f.tick(ts("2026-11-28T08:59:59+08:00"))
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl.open"])
        try f.tick(ts("2026-11-28T09:00:00+08:00"))
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl"])
        #expect(f.currentPath == nil)
    }

    @Test("names sort in time order across a day and a month boundary")
    func namesSort() throws {
        let f = try RotatingFile(directory: dir.path, family: "totals", options: options(interval: 86_400_000_000 / 4))
        let times = ["2026-11-30T17:00:00+08:00", "2026-11-30T23:59:59+08:00", "2026-12-01T00:00:00+08:00",
                     "2026-12-01T06:00:00+08:00", "2026-12-31T23:00:00+08:00", "2027-01-01T01:00:00+08:00"]
        for (n, t) in times.enumerated() { try f.append(line(n), at: ts(t)) }
        try f.close()
        let files = names(dir.path)
        #expect(files.count == 6)
        let contents = files.map { text(dir.file($0)) }.joined()
        #expect(contents == (0..<6).map { "{\"n\":\($0)}\n" }.joined())
        #expect(files.first == "totals-20261130T120000+0800-001.jsonl")
        #expect(files.last == "totals-20270101T000000+0800-001.jsonl")
    }

    @Test("a daily file starts at local midnight; a restart continues the period's numbering")
    func dailyAndRestart() throws {
        var f = try RotatingFile(directory: dir.path, family: "events", options: options(interval: 86_400_000_000))
        try f.append(line(1), at: ts("2026-11-28T23:00:00+08:00"))
        try f.close()
        f = try RotatingFile(directory: dir.path, family: "events", options: options(interval: 86_400_000_000))
        try f.append(line(2), at: ts("2026-11-28T23:30:00+08:00"))
        try f.close()
        #expect(names(dir.path) == ["events-20261128T000000+0800-001.jsonl", "events-20261128T000000+0800-002.jsonl"])
    }

    @Test("with a gas day from 08:00, a daily file runs from 08:00 to 08:00 and is named by its start")
    func dailyAtGasDay() throws {
        var o = options(interval: 86_400_000_000)
        o.dayStartUS = 8 * 3_600_000_000
        let f = try RotatingFile(directory: dir.path, family: "totals", options: o)
        try f.append(line(1), at: ts("2026-11-28T07:59:59+08:00"))  // the gas day of the 27th
        try f.append(line(2), at: ts("2026-11-28T08:00:00+08:00"))  // the 28th's begins
        try f.append(line(3), at: ts("2026-11-29T00:30:00+08:00"))  // past midnight: still the 28th
        try f.append(line(4), at: ts("2026-11-29T08:00:00+08:00"))
        try f.close()
        #expect(names(dir.path) == ["totals-20261127T080000+0800-001.jsonl", "totals-20261128T080000+0800-001.jsonl",
                                    "totals-20261129T080000+0800-001.jsonl"])
        #expect(text(dir.path + "/totals-20261128T080000+0800-001.jsonl") == #"{"n":2}"# + "\n" + #"{"n":3}"# + "\n")
        // Hourly files are not moved by a gas day that starts on the hour.
        var s = RotationSchedule(intervalUS: 3_600_000_000, zone: o.zone, dayStartUS: o.dayStartUS)
        #expect(s.period(containing: ts("2026-11-28T08:30:00+08:00")).start == ts("2026-11-28T08:00:00+08:00"))
    }

    @Test("a file left open by a crash is repaired: the partial last line cut away, and closed")
    func repair() throws {
        dir.write("totals-20261128T080000+0800-001.jsonl.open", "{\"n\":1}\n{\"n\":2}\n{\"n\":3,\"half")
        dir.write("totals-20261128T080000+0800-002.jsonl.gz.tmp", "half a gzip")
        var events: [RotatingFile.Event] = []
        var closed: [String] = []
        let f = try RotatingFile(directory: dir.path, family: "totals", options: options(), onClose: { closed.append($0) },
                                 events: { events.append($0) })
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl"])
        #expect(text(dir.file("totals-20261128T080000+0800-001.jsonl")) == "{\"n\":1}\n{\"n\":2}\n")
        #expect(events == [.repaired(file: dir.file("totals-20261128T080000+0800-001.jsonl"), cutBytes: 12)])
        #expect(closed == [dir.file("totals-20261128T080000+0800-001.jsonl")])
        // The next file of that period does not overwrite it.
        try f.append(line(4), at: ts("2026-11-28T08:30:00+08:00"))
        try f.close()
        #expect(names(dir.path).last == "totals-20261128T080000+0800-002.jsonl")
    }

    @Test("a CSV file has its header in every file")
    func csvHeader() throws {
        var o = options(maxBytes: 40)
        o.ext = "csv"
        o.header = Array("a,b\n".utf8)
        let f = try RotatingFile(directory: dir.path, family: "events", options: o)
        for n in 0..<6 { try f.append(Array("\(n),\"x,y\"\n".utf8), at: ts("2026-11-28T08:00:00+08:00")) }
        try f.close()
        let files = names(dir.path)
        #expect(files.count >= 2)
        for name in files { #expect(text(dir.file(name)).hasPrefix("a,b\n")) }
        let rows = files.flatMap { text(dir.file($0)).split(separator: "\n").dropFirst() }
        #expect(rows.count == 6)
        #expect(rows.first == "0,\"x,y\"")
    }
}

@Suite("Retention and compression")
struct RetentionTests {
    let dir = TemporaryDirectory("retain")

    func make(_ names: [String], size: Int = 100, ageDays: [Double]? = nil) {
        for (i, n) in names.enumerated() {
            let path = dir.write(n, String(repeating: "x", count: size - 1) + "\n")
            if let ages = ageDays {
                let date = Date().addingTimeInterval(-ages[i] * 86_400)
                try? FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
            }
        }
    }

    let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6))

    @Test("by count: the oldest names go first, the open file never")
    func byCount() {
        make(["t-20261101T000000+0800-001.jsonl", "t-20261102T000000+0800-001.jsonl", "t-20261103T000000+0800-001.jsonl",
              "t-20261104T000000+0800-001.jsonl.open"])
        let removed = RetentionPolicy(maxFiles: 1).prune(directory: dir.path, now: now)
        #expect(removed.map { ($0 as NSString).lastPathComponent } == ["t-20261101T000000+0800-001.jsonl", "t-20261102T000000+0800-001.jsonl"])
        #expect(names(dir.path) == ["t-20261103T000000+0800-001.jsonl", "t-20261104T000000+0800-001.jsonl.open"])
    }

    @Test("by total bytes")
    func byBytes() {
        make((1...5).map { "t-2026110\($0)T000000+0800-001.jsonl" }, size: 100)
        RetentionPolicy(maxBytes: 250).prune(directory: dir.path, now: now)
        #expect(names(dir.path) == ["t-20261104T000000+0800-001.jsonl", "t-20261105T000000+0800-001.jsonl"])
    }

    @Test("by age")
    func byAge() {
        make(["t-20261001T000000+0800-001.jsonl", "t-20261020T000000+0800-001.jsonl", "t-20261125T000000+0800-001.jsonl"],
             ageDays: [50, 31, 2])
        RetentionPolicy(maxAgeUS: 30 * 86_400_000_000).prune(directory: dir.path, now: now)
        #expect(names(dir.path) == ["t-20261125T000000+0800-001.jsonl"])
    }

    @Test("compressed files decompress to the same lines; closed files are compressed in the background")
    func gzip() throws {
        var settings = OutputStore.Settings(directory: dir.path)
        settings.compress = true
        settings.formats = [.jsonl, .csv]
        settings.rotation.maxBytes = 4096
        let store = OutputStore(settings: settings, onEvent: { _ in }, onError: { Issue.record("\($0)") })
        var expected: [UInt8] = []
        for n in 0..<2_000 {
            let l = Array("{\"n\":\(n),\"pad\":\"\(String(repeating: "é", count: n % 7))\"}\n".utf8)
            expected += l
            try store.append(l, family: .totals, format: .jsonl, at: ts("2026-11-28T08:00:00+08:00"))
        }
        try store.close()
        let files = names(store.folder(.totals))
        #expect(files.count > 5)
        #expect(files.allSatisfy { $0.hasSuffix(".jsonl.gz") })
        var got: [UInt8] = []
        for f in files { got += try Gzip.decompress((store.folder(.totals) as NSString).appendingPathComponent(f)) }
        #expect(got == expected)
    }
}
