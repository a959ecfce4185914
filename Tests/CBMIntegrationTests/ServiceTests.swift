import CBMTestSupport
import Foundation
import Testing

/// Running under systemd: the notify protocol, the watchdog, reloads and stops, with the real binary.
@Suite("Service", .serialized)
struct ServiceTests {
    func uniqueReadings(_ d: Daemon) -> Int {
        Set(d.readings.map { "\($0["asset"]!) \($0["measurement"]!) \($0["time"]!)" }).count
    }

    @Test("READY, STATUS, WATCHDOG, RELOADING/READY around SIGHUP, STOPPING, in that order; a stalled stage stops the pings")
    func notifyProtocol() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let listener = try NotifyListener(directory: daemon.dir.path)
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = listener.path
        env["WATCHDOG_USEC"] = "400000"
        env["JOURNAL_STREAM"] = "8:12345"  // stderr is the journal: lines carry <N> priorities
        let child = try daemon.start(environment: env)
        func pings() -> Int { listener.messages.filter { $0 == "WATCHDOG=1" }.count }
        #expect(eventually { pings() >= 3 })
        #expect(eventually { listener.messages.contains { $0.hasPrefix("STATUS=connected") } })
        child.signal(SIGHUP)
        #expect(eventually { listener.messages.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") } })
        #expect(eventually { (listener.messages.lastIndex { $0.hasPrefix("READY=1") } ?? -1)
            > (listener.messages.firstIndex { $0.hasPrefix("RELOADING=1") } ?? Int.max) })

        // A stuck stage: a file stands where the rejects folder should be, so the sink cannot
        // write a reject and retries; the probes stop coming out, and so do the pings.
        let rejects = daemon.dir.file("out/rejects")
        try? FileManager.default.removeItem(atPath: rejects)
        #expect(FileManager.default.createFile(atPath: rejects, contents: nil))
        try broker.publish("cbm/F1/B1/W01/telemetry", "not json")
        Thread.sleep(forTimeInterval: 0.6)
        let stalled = pings()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(pings() <= stalled + 1, "pings went on while a stage was stuck")
        try FileManager.default.removeItem(atPath: rejects)
        #expect(eventually { pings() >= stalled + 3 })
        #expect(eventually { daemon.rejects.count == 1 }, "the reject was written once the folder could be made")

        #expect(daemon.stop() == 0)
        #expect(eventually { listener.messages.contains("STOPPING=1") })
        let m = listener.messages
        let ready = try #require(m.firstIndex { $0.hasPrefix("READY=1") })
        let ping = try #require(m.firstIndex { $0 == "WATCHDOG=1" })
        let reloading = try #require(m.firstIndex { $0.hasPrefix("RELOADING=1") })
        let readyAgain = try #require(m.indices.first { $0 > reloading && m[$0].hasPrefix("READY=1") })
        let stopping = try #require(m.firstIndex { $0 == "STOPPING=1" })
        #expect(ready < ping && ping < reloading && reloading < readyAgain && readyAgain < stopping)
        #expect(m[ready].contains("\nSTATUS="))
        let lines = child.stderr.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>running ") })
        #expect(lines.contains { $0.hasPrefix("<5>configuration reloaded") })
        #expect(lines.filter { !$0.hasPrefix("<") }.isEmpty, "a line without a priority")
        #expect(!m[stopping...].contains("WATCHDOG=1") || m[stopping...].filter { $0 == "WATCHDOG=1" }.count <= 1)
    }

    @Test("SIGHUP with a new subscription: its messages arrive and the totals so far are kept; a broken file keeps the running configuration")
    func reload() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        let h = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 4 * 3600
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(h), "gas_total": 0}"#)
        #expect(eventually { daemon.readings.count == 1 })

        let original = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let changed = original.replacingOccurrences(of: "assets: assets.csv", with: """
              - topic: other/+/t
                template: other/{asset}/t
                format: json
                values: { flow: { measurement: gas_rate, unit: m3/h } }
            assets: assets.csv
            """)
        try changed.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let granted = child.stderr.components(separatedBy: "subscription granted").count
        child.signal(SIGHUP)
        #expect(eventually { child.stderr.contains("configuration reloaded") })
        // The new subscription is in place once the broker has granted it.
        #expect(eventually { child.stderr.components(separatedBy: "subscription granted").count > granted })
        try broker.publish("other/W02/t", #"{"ts": \#(h), "flow": 5}"#)
        #expect(eventually { daemon.readings.contains { $0["asset"] as? String == "W02" && $0["value"] as? Double == 120 } })
        // The first reading of W01 was kept across the reload: this one closes an hour of 600 m3.
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(h + 3600), "gas_total": 0.06}"#)

        try "broker: [".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        #expect(eventually { child.stderr.contains("reload refused") })
        try broker.publish("other/W03/t", #"{"ts": \#(h), "flow": 1}"#)
        #expect(eventually { daemon.readings.contains { $0["asset"] as? String == "W03" } })
        #expect(child.isRunning)
        #expect(daemon.stop() == 0)
        let hour = daemon.totals.filter { $0["window"] as? String == "hour" && $0["scope"] as? String == "well" && $0["id"] as? String == "W01" }
            .max { ($0["revision"] as? Int ?? 0) < ($1["revision"] as? Int ?? 0) }
        #expect(abs((hour?["gas_m3"] as? Double ?? 0) - 600) < 1e-6)
    }

    @Test("SIGTERM during a steady stream: exit 0, and nothing is lost on the next start")
    func stopMidStream() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let recording = daemon.dir.write("field.txt", fieldRecording(count: 3000))
        let child = try daemon.start()
        let publisher = try ChildProcess(cbmIngestBinary(), ["replay", "--config", daemon.configPath, "--publish", "--speed", "10800", recording],
                                         directory: daemon.dir.path, name: "publisher")
        #expect(eventually { daemon.readings.count > 300 })
        #expect(daemon.stop() == 0)
        #expect(child.stderr.contains("stopped"))
        #expect(publisher.wait(timeout: 120) == 0, "\(publisher.stderr)")
        try daemon.start()
        #expect(eventually(timeout: 60) { uniqueReadings(daemon) == 3000 })
        #expect(daemon.stop() == 0)
    }

    @Test("the unit passes systemd-analyze verify")
    func unitVerifies() throws {
        guard let analyze = which("systemd-analyze") else {
            Issue.record("systemd-analyze is not installed (apt-get install systemd)")
            return
        }
        let dir = TemporaryDirectory("unit")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let unit = try String(contentsOf: root.appendingPathComponent("config/systemd/cbm-ingest.service"), encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(unit.contains("LoadCredential=") && unit.contains("SystemCallFilter=@system-service"))
        // A fixed user and group that operators can join; the group may enter the state directory,
        // and the umask makes the output 0640/0750.
        let settings = Set(unit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for line in ["User=cbm-ingest", "Group=cbm-ingest", "StateDirectory=cbm-ingest", "StateDirectoryMode=0750", "UMask=0027"] {
            #expect(settings.contains(line), "\(line) is missing")
        }
        #expect(!settings.contains { $0.hasPrefix("DynamicUser=") })
        // What DynamicUser= implied is now spelled out.
        for line in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "RemoveIPC=yes", "RestrictSUIDSGID=yes"] {
            #expect(settings.contains(line), "\(line) is missing")
        }
        // verify wants the program to exist: point it at the built binary. It checks that User= and
        // Group= are valid names, not that the user exists (make install creates it).
        let path = dir.write("cbm-ingest.service", unit.replacingOccurrences(of: "/usr/local/bin/cbm-ingest", with: cbmIngestBinary()))
        let r = try runProgram(analyze, ["verify", path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // The check has teeth: a malformed user name fails it.
        let broken = dir.write("broken/cbm-ingest.service", try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "User=cbm-ingest", with: "User=-not:a-user"))
        #expect(try runProgram(analyze, ["verify", broken]).status != 0)
    }

    @Test("a staged make install DESTDIR=… installs the unit with User=cbm-ingest and the sysusers.d file that creates that user")
    func stagedInstall() throws {
        guard let make = which("make") else {
            Issue.record("make is not installed (apt-get install make)")
            return
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let stage = TemporaryDirectory("stage")
        // BINARY= installs the binary under test: no release build, no deps.
        let r = try runProgram(make, ["-C", root.path, "install", "DESTDIR=\(stage.path)", "BINARY=\(cbmIngestBinary())"], timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!r.stdout.contains("swift build"), "BINARY= still built")

        let fm = FileManager.default
        #expect(fm.isExecutableFile(atPath: stage.file("usr/local/bin/cbm-ingest")))
        let conf = stage.file("usr/lib/sysusers.d/cbm-ingest.conf")
        let sysusers = try String(contentsOfFile: conf, encoding: .utf8)
        let entries = sysusers.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(entries == [#"u cbm-ingest - "cbm-ingest telemetry ingester" /var/lib/cbm-ingest"#])
        #expect((try fm.attributesOfItem(atPath: conf)[.posixPermissions] as? Int) == 0o644)
        let unit = try String(contentsOfFile: stage.file("etc/systemd/system/cbm-ingest.service"), encoding: .utf8)
        let settings = Set(unit.split(separator: "\n").map(String.init))
        #expect(settings.contains("User=cbm-ingest") && settings.contains("Group=cbm-ingest"))
        #expect(settings.contains("ExecStart=/usr/local/bin/cbm-ingest run --config /etc/cbm-ingest/cbm-ingest.yaml"))
        #expect(fm.fileExists(atPath: stage.file("etc/cbm-ingest/cbm-ingest.yaml")))

        // systemd-sysusers, on the staged tree as its root, makes the user and its group from the file.
        if let tool = which("systemd-sysusers") {
            let s = try runProgram(tool, ["--root=\(stage.path)"])
            #expect(s.status == 0, "\(s.stdout)\(s.stderr)")
            let passwd = (try? String(contentsOfFile: stage.file("etc/passwd"), encoding: .utf8)) ?? ""
            let user = passwd.split(separator: "\n").first { $0.hasPrefix("cbm-ingest:") }?.split(separator: ":", omittingEmptySubsequences: false)
            #expect(user?.count == 7 && user?[4] == "cbm-ingest telemetry ingester" && user?[5] == "/var/lib/cbm-ingest", "\(passwd)")
            let group = (try? String(contentsOfFile: stage.file("etc/group"), encoding: .utf8)) ?? ""
            let gid = group.split(separator: "\n").first { $0.hasPrefix("cbm-ingest:") }?.split(separator: ":", omittingEmptySubsequences: false)
            #expect(gid != nil && user?[3] == gid?[2], "the user's primary group is cbm-ingest: \(group)")
        }

        // make uninstall takes the file away again (the user, in a real install, stays).
        let u = try runProgram(make, ["-C", root.path, "uninstall", "DESTDIR=\(stage.path)"])
        #expect(u.status == 0, "\(u.stdout)\(u.stderr)")
        #expect(!fm.fileExists(atPath: conf) && !fm.fileExists(atPath: stage.file("etc/systemd/system/cbm-ingest.service")))
        #expect(!fm.fileExists(atPath: stage.file("usr/local/bin/cbm-ingest")))
    }
}
