import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

@Suite("Safe files")
struct SafeFilesTests {
    let dir = TemporaryDirectory("safe")

    func options(maxBytes: Int64 = 1 << 20) -> RotatingFile.Options {
        var o = RotatingFile.Options()
        o.maxBytes = maxBytes
        o.intervalUS = 3_600_000_000
        return o
    }

    func mode(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1 }

    @Test("an open file deleted behind the writer's back: what it held is written again, with an event")
    func deleted() throws {
        let f = try RotatingFile(directory: dir.path, family: "totals", options: options())
        let t = ts("2026-11-28T08:10:00+08:00")
        try f.append(line(1) + line(2), at: t)
        unlink(dir.file("totals-20261128T080000+0800-001.jsonl.open"))
        try f.append(line(3), at: t)
        try f.close()
        // The name is free again: the file is begun anew under it, holding everything.
        #expect(names(dir.path) == ["totals-20261128T080000+0800-001.jsonl"])
        #expect(text(dir.file("totals-20261128T080000+0800-001.jsonl")) == "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        #expect(f.takeEvents() == [.replaced(file: dir.file("totals-20261128T080000+0800-001.jsonl"),
                                             newFile: dir.file("totals-20261128T080000+0800-001.jsonl"), bytes: 16, deleted: true)])
    }

    @Test("an open file replaced by another: ours goes on in a new file, the other is left alone")
    func replaced() throws {
        var o = options()
        o.ext = "csv"
        o.header = Array("n\n".utf8)
        let f = try RotatingFile(directory: dir.path, family: "events", options: o)
        let t = ts("2026-11-28T08:10:00+08:00")
        try f.append(Array("1\n2\n".utf8), at: t)
        let open = dir.file("events-20261128T080000+0800-001.csv.open")
        let other = dir.write("intruder", "not ours\n")
        rename(other, open)
        try f.append(Array("3\n".utf8), at: t)
        try f.close()
        #expect(text(dir.file("events-20261128T080000+0800-002.csv")) == "n\n1\n2\n3\n")
        #expect(text(open) == "not ours\n")
        if case .replaced(_, _, _, let deleted)? = f.takeEvents().first { #expect(!deleted) } else { Issue.record("no event") }
    }

    @Test("files are 0640 and the journal 0600, whatever the umask")
    func modes() throws {
        let old = umask(0)
        defer { umask(old) }
        let f = try RotatingFile(directory: dir.file("out"), family: "totals", options: options())
        try f.append(line(1), at: ts("2026-11-28T08:10:00+08:00"))
        try f.close()
        #expect(mode(dir.file("out/totals-20261128T080000+0800-001.jsonl")) == 0o640)
        let journal = try Journal(directory: dir.file("journal"), after: 0)
        try journal.append(InboundMessage(topic: "t", payload: [1], receivedAt: Timestamp(seconds: 1)))
        journal.close()
        #expect(mode(try #require(Journal.segments(in: dir.file("journal")).first)) == 0o600)
        #expect(mode(dir.file("journal")) == 0o700)
        try CheckpointStore(directory: dir.file("journal")).write(sequence: 1, state: [1, 2, 3])
        #expect(mode(dir.file("journal/checkpoint.bin")) == 0o600)
    }

    @Test("a JSON Lines file and its CSV twin rotate together and share their names, whichever grows faster")
    func twins() throws {
        var settings = OutputStore.Settings(directory: dir.path)
        settings.formats = [.jsonl, .csv]
        settings.rotation.maxBytes = 200
        settings.rotation.intervalUS = 3_600_000_000
        let store = OutputStore(settings: settings, onEvent: { _ in }, onError: { _ in })
        let t0 = ts("2026-11-28T08:10:00+08:00")
        for i in 0..<40 {
            let t = t0 + Int64(i) * 120_000_000  // across an hour boundary too
            let json = Array(#"{"time":"x","kind":"k","id":"\#(i)","detail":"a long detail to make JSON grow faster"}"#.utf8) + [10]
            let csv = Array("x,k,\(i),d\n".utf8)
            try store.prepare(.events, counts: [.jsonl: json.count, .csv: csv.count], at: t)
            try store.append(json, family: .events, format: .jsonl, at: t)
            try store.append(csv, family: .events, format: .csv, at: t)
        }
        try store.close()
        let files = names(dir.file("events"))
        let stems = { (ext: String) in Set(files.filter { $0.hasSuffix("." + ext) }.map { String($0.dropLast(ext.count + 1)) }) }
        #expect(stems("jsonl").count > 5)
        #expect(stems("jsonl") == stems("csv"))
        for stem in stems("jsonl") {
            let j = text(dir.file("events/\(stem).jsonl")).split(separator: "\n").count
            let c = text(dir.file("events/\(stem).csv")).split(separator: "\n").count - 1
            #expect(j == c, "\(stem)")
        }
    }
}
