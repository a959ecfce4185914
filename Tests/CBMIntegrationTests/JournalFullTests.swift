import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// A journal that cannot take messages must neither block libmosquitto's loop thread for long
/// (keep-alive) nor let the broker count a message as delivered.
@Suite("A full journal", .serialized)
struct JournalFullTests {
    @Test("a journal that cannot grow: the connection is dropped without acknowledging, the broker delivers again, and every message arrives once")
    func journalCannotGrow() throws {
        guard let prlimit = which("prlimit") else {
            Issue.record("prlimit (util-linux) is not installed")
            return
        }
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, broker: "  keepalive: 5s")
        let child = try daemon.start(wrapper: [prlimit, "--fsize=unlimited:unlimited", "--"])
        let t0 = Int(Date().timeIntervalSince1970) / 60 * 60 - 1200
        // Padded, so the journal is larger than any other file the daemon writes (the log among
        // them): the limit below stops the journal alone.
        let pad = String(repeating: "x", count: 600)
        func line(_ i: Int) -> String { #"{"ts": \#(t0 + i), "gas_m3h": \#(i), "pad": "\#(pad)"}"# }
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (0..<100).map(line))
        #expect(eventually { daemon.journaled == 100 })
        // The journal's segment may not grow: its next append fails (EFBIG), as on a full disk.
        let segment = try #require(Journal.segments(in: daemon.dir.file("journal")).last)
        let size = try #require(FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
        var r = try runProgram(prlimit, ["--pid", "\(child.pid)", "--fsize=\(size):unlimited"])
        #expect(r.status == 0, "\(r.stderr)")
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (100..<110).map(line))
        // Within half the keep-alive the connection is dropped, unacknowledged; the broker keeps
        // the messages and delivers them again on every reconnect.
        #expect(eventually(timeout: 30) { child.stderr.contains("the broker connection is dropped without acknowledging") },
                "\(segment) \(size): \(child.stderr.suffix(2500))")
        #expect(eventually(timeout: 30) { child.stderr.components(separatedBy: "info connected").count > 3 }, "reconnected twice")
        #expect(daemon.journaled == 100)
        #expect(child.isRunning)
        // The disk has room again.
        r = try runProgram(prlimit, ["--pid", "\(child.pid)", "--fsize=unlimited:unlimited"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(eventually(timeout: 40) { daemon.journaled == 110 })
        #expect(eventually(timeout: 20) { daemon.readings.count == 110 })
        #expect(daemon.stop() == 0)
        let values = daemon.readings.compactMap { $0["value"] as? Double }.sorted()
        #expect(values == (0..<110).map { Double($0 * 24) }, "each message once")
    }
}
