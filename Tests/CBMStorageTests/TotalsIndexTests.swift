import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

@Suite("Index of final figures")
struct TotalsIndexTests {
    let dir = TemporaryDirectory("totals-index")

    /// A totals file of `wells` wells' hours over `hours` hours, each hour at revision 1 and its
    /// last one written again at revision 2.
    func writeTotals(wells: Int, hours: Int) throws {
        var e = RecordEncoder(zone: ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!), basis: .c20)
        let start = Timestamp(seconds: 1_796_000_400)
        for h in 0..<hours {
            let s = start + Int64(h) * 3_600_000_000
            for w in 0..<wells {
                e.encode(TotalsRecord(window: .hour, span: WindowSpan(start: s, end: s + 3_600_000_000), scope: .well, id: "W\(w)",
                                      gasM3: Double(w + h), flowSeconds: 3600, coverage: 1, samples: 60, estimated: false, revision: 1),
                         factors: Factors())
            }
        }
        let last = start + Int64(hours - 1) * 3_600_000_000
        e.encode(TotalsRecord(window: .hour, span: WindowSpan(start: last, end: last + 3_600_000_000), scope: .well, id: "W0",
                              gasM3: 12.5, flowSeconds: 3600, coverage: 1, samples: 60, estimated: false, revision: 2), factors: Factors())
        try FileManager.default.createDirectory(atPath: dir.file("totals"), withIntermediateDirectories: true)
        dir.write("totals/totals-20261130T080000+0800-001.jsonl", String(decoding: e.take(), as: UTF8.self))
    }

    @Test("a database damaged past its first pages is met when read: set aside, rebuilt from the files, the same rows")
    func damagedWhereRead() throws {
        try writeTotals(wells: 200, hours: 24)
        let path = dir.file("index.sqlite")
        let rows: [String]
        do {
            let index = try TotalsIndex.rebuild(path: path, folder: dir.file("totals"))
            rows = try index.dump()
            #expect(rows.count == 200 * 24)
            #expect(rows.contains { $0.hasPrefix("hour|") && $0.contains("|well|W0|2|") })
        }  // closed: the log is folded into the file
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // The second half of the file (the table's pages, not the first ones an open reads) overwritten.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size > 64 * 4096)
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.seek(toOffset: UInt64(size / 2))
        try h.write(contentsOf: Data(repeating: 0xA5, count: size - size / 2))
        try h.close()
        let index = try TotalsIndex(path: path, folder: dir.file("totals"))
        #expect(index.opened == .existing)  // opening did not read the damage
        let hour = try index.records(window: .hour, from: Timestamp(seconds: 0), to: Timestamp(seconds: 2_000_000_000), scope: .well)
        guard case .rebuilt = index.opened else {
            Issue.record("the damage was not noticed: \(index.opened)")
            return
        }
        #expect(hour.count == 200 * 24)
        #expect(try index.dump() == rows)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix("index.sqlite.damaged-") })
    }

    @Test("two writers (the daemon's sink and a report) take turns: one holding the database makes the other wait, not fail")
    func writersWait() throws {
        try writeTotals(wells: 10, hours: 2)
        let path = dir.file("index.sqlite")
        let index = try TotalsIndex.rebuild(path: path, folder: dir.file("totals"))
        // Another process holds the write lock for two seconds.
        let holder = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('held', 1)")
            print("held", flush=True)
            time.sleep(2)
            c.execute("COMMIT")
            """, path], directory: dir.path, name: "lock-holder")
        #expect(eventually { holder.stdout.contains("held") }, "\(holder.stderr)")
        // A new file to read: the catch-up must write, so it waits for the lock.
        dir.write("totals/totals-20261201T080000+0800-001.jsonl",
                  (try String(contentsOfFile: dir.file("totals/totals-20261130T080000+0800-001.jsonl"), encoding: .utf8))
                    .replacingOccurrences(of: "\"revision\":1", with: "\"revision\":3"))
        // One that waits less than the holder holds gives up with a busy error, and does not
        // take the database for damaged (the daemon's sink waits a second, then tries later).
        #expect(throws: (any Error).self) { try TotalsIndex(path: path, folder: dir.file("totals"), wait: 0.2).catchUp() }
        do {
            try TotalsIndex(path: path, folder: dir.file("totals"), wait: 0.2).catchUp()
        } catch {
            #expect(TotalsIndex.isBusy(error), "\(error)")
        }
        #expect(try !FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.contains("damaged") })
        let read = try index.catchUp()
        #expect(read == 10 * 2 + 1)
        #expect(holder.wait(timeout: 10) == 0, "\(holder.stderr)")
        #expect(try index.dump().filter { $0.contains("|3|") }.count == 10 * 2)
    }

    /// Records of `wells` wells' hour `hour` at `revision`, each of `gas` m³.
    func totals(wells: Int, hour: Int64 = 0, revision: Int, gas: Double) -> String {
        var e = RecordEncoder(zone: ZoneOffsets(zone: TimeZone(identifier: "Asia/Shanghai")!), basis: .c20)
        let start = Timestamp(seconds: 1_796_000_400 + hour * 3600)
        for w in 0..<wells {
            e.encode(TotalsRecord(window: .hour, span: WindowSpan(start: start, end: start + 3_600_000_000), scope: .well, id: "W\(w)",
                                  gasM3: gas, flowSeconds: 3600, coverage: 1, samples: 60, estimated: false, revision: revision),
                     factors: Factors())
        }
        return String(decoding: e.take(), as: UTF8.self)
    }

    @Test("catch-ups that read a few KiB of a file at a time give the rows one whole catch-up gives: of equal revisions, the later file's line")
    func boundedCatchUps() throws {
        try FileManager.default.createDirectory(atPath: dir.file("totals"), withIntermediateDirectories: true)
        // The same records at the same revision in two files, with other figures in the later one,
        // and further into the earlier file (so a catch-up that went on to the later file after
        // reading part of the earlier one would read the later one's first).
        dir.write("totals/totals-20261130T080000+0800-001.jsonl",
                  totals(wells: 100, hour: 1, revision: 1, gas: 3) + totals(wells: 100, revision: 2, gas: 1))
        dir.write("totals/totals-20261130T080000+0800-002.jsonl", totals(wells: 100, revision: 2, gas: 2))
        let whole = try TotalsIndex.rebuild(path: dir.file("whole.sqlite"), folder: dir.file("totals")).dump()
        #expect(whole.count == 200)
        #expect(whole.filter { $0.contains("|2|") }.count == 100)
        #expect(whole.filter { $0.contains("|2|") }.allSatisfy { $0.contains(#""gas_m3":2"#) }, "\(whole.first ?? "")")
        let index = try TotalsIndex(path: dir.file("bounded.sqlite"), folder: dir.file("totals"))
        var catchUps = 0, read = 0
        while true {
            let n = try index.catchUp(upTo: 2048)
            if n == 0 { break }
            read += n
            catchUps += 1
        }
        #expect(catchUps > 4)
        #expect(read == 300)
        #expect(try index.dump() == whole)
    }

    @Test("a compressed totals file is read again when it changes (not only when it is first met)")
    func compressedChanges() throws {
        try FileManager.default.createDirectory(atPath: dir.file("totals"), withIntermediateDirectories: true)
        let name = "totals/totals-20261130T080000+0800-001.jsonl"
        func compress(_ text: String) throws {
            dir.write(name, text)
            try? FileManager.default.removeItem(atPath: dir.file(name + ".gz"))
            let gzip = try ChildProcess("/usr/bin/env", ["gzip", dir.file(name)], directory: dir.path, name: "gzip")
            #expect(gzip.wait(timeout: 10) == 0, "\(gzip.stderr)")
        }
        try compress(totals(wells: 10, revision: 1, gas: 1))
        let index = try TotalsIndex(path: dir.file("index.sqlite"), folder: dir.file("totals"))
        #expect(try index.catchUp(upTo: 1 << 20) == 10)
        #expect(try index.catchUp(upTo: 1 << 20) == 0)
        #expect(try index.catchUp(upTo: 1 << 20) == 0)
        // The same file written again with more lines past the old ones (a repair of a cut file).
        try compress(totals(wells: 10, revision: 1, gas: 1) + totals(wells: 10, revision: 2, gas: 5))
        #expect(try index.catchUp(upTo: 1 << 20) == 10)
        let rows = try index.dump()
        #expect(rows.count == 10 && rows.allSatisfy { $0.contains("|2|") && $0.contains(#""gas_m3":5"#) }, "\(rows)")
        #expect(rows == (try TotalsIndex.rebuild(path: dir.file("again.sqlite"), folder: dir.file("totals")).dump()))
    }
}
