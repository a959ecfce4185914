import CBMStorage
import CBMTestSupport
import Foundation
import Testing

/// Alarms end to end: alerts/ records, retained MQTT states, commands, the hook, restarts.
@Suite("Alarms", .serialized)
struct AlarmTests {
    /// The retained state of an alarm, read with mosquitto_sub.
    func retained(_ broker: MosquittoBroker, _ topic: String) -> String {
        (try? runProgram(which("mosquitto_sub")!, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", topic, "-C", "1", "-W", "3"]))?.stdout ?? ""
    }

    /// Rate readings of W01 every ten minutes, at `m3h`, for `hours` hours from `start`.
    func lowHours(_ start: Int, hours: Int, m3h: Double) -> [String] {
        (0...(hours * 6)).map { #"{"ts": \#(start + $0 * 600), "gas_m3h": \#(m3h)}"# }
    }

    func config(hook: String, timeout: String = "5s", users: Bool = false) -> String {
        """
        alerts:
          - { name: low, kind: low_output, scope: well, ids: [W01], window: hour, below: 0.5, clear_above: 0.6, on_delay: 2, off_delay: 1, min_coverage: 0.8, severity: critical }
        alarm_outputs: { mqtt_prefix: test/alarms, command_topic: test/alarms/command, hook: { command: \(hook), timeout: \(timeout) }\(users ? ", command_users: users.txt" : "") }
        """
    }

    /// The duty engineer's key, in the daemon's command users file (mode 600).
    static let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

    func writeUsers(_ daemon: Daemon) {
        chmod(daemon.dir.write("users.txt", "# name key\nduty \(Self.key)\n"), 0o600)
    }

    /// `cbm-ingest command` as the duty engineer.
    func command(_ daemon: Daemon, _ json: String) throws {
        let r = try runProgram(cbmIngestBinary(), ["command", "--config", daemon.configPath, "--user", "duty", json])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("low output raises one alarm with a retained state; an MQTT acknowledgement changes it; the hook gets the JSON; the state survives a restart")
    func lowOutputAckRestart() throws {
        let broker = try MosquittoBroker()
        let dir = TemporaryDirectory("hook")
        let hook = dir.write("hook.sh", "#!/bin/sh\ncat > \(dir.path)/alert-$$.json\n")
        chmod(hook, 0o755)
        let daemon = Daemon(port: broker.port, extra: config(hook: hook, users: true))
        writeUsers(daemon)
        try daemon.start()
        // W01 expects 1200 m3/d (50 m3 an hour); it makes 10 m3 an hour for four hours.
        let h0 = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 9 * 3600  // all of it closed by the wall clock
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: lowHours(h0, hours: 4, m3h: 10))
        #expect(eventually { daemon.readings.count == 25 })
        #expect(eventually { daemon.alerts.contains { $0["state"] as? String == "active" } })
        let active = daemon.alerts.filter { $0["state"] as? String == "active" }
        #expect(active.count == 1)
        let first = try #require(active.first)
        #expect(first["rule"] as? String == "low" && first["id"] as? String == "W01" && first["severity"] as? String == "critical")
        // The hours are closed by the wall clock already: each is judged once, as soon as it has
        // min_coverage (0.8) of its data, which on a loaded machine can be before all of it came.
        #expect((8 - 1e-9...10 + 1e-9).contains(first["value"] as? Double ?? 0) && first["threshold"] as? Double == 25, "\(first)")
        // The end of the second low hour: on_delay 2.
        let expectedTime = ISO8601DateFormatter().date(from: first["time"] as! String)!.timeIntervalSince1970
        #expect(Int(expectedTime) == h0 + 2 * 3600)
        // The message says it in a person's words: the volume, the hour (local), what was expected, for how long.
        let message = first["message"] as? String ?? ""
        let hour = { (t: Int) in String(format: "%02d:00", (t / 3600 + 8) % 24) }  // Asia/Shanghai, no daylight saving
        #expect(message.hasPrefix("W01: ") && message.contains(" m³ in the hour \(hour(h0 + 3600))–\(hour(h0 + 2 * 3600)), "), "\(message)")
        #expect(message.hasSuffix(", expected 50 m³ (50 % threshold 25 m³), 2nd hour running"), "\(message)")
        let topic = "test/alarms/well/W01/low"
        #expect(eventually { retained(broker, topic).contains(#""state":"active""#) })
        #expect(retained(broker, topic).contains(#""acknowledged":false"#))
        #expect(eventually { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).contains { $0.hasPrefix("alert-") } })
        let hookFile = try #require(((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).first { $0.hasPrefix("alert-") })
        let hookJSON = try String(contentsOfFile: dir.file(hookFile), encoding: .utf8)
        #expect(hookJSON.contains(#""rule":"low""#) && hookJSON.contains(#""state":"active""#))

        try command(daemon, #"{"action": "ack", "rule": "low", "scope": "well", "id": "W01"}"#)
        #expect(eventually { retained(broker, topic).contains(#""acknowledged":true"#) })
        #expect(daemon.stop() == 0)

        // After a restart the alarm is still known, still active: more low hours raise nothing new,
        // and a command on it is applied.
        let child = try daemon.start()
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: lowHours(h0 + 4 * 3600 + 600, hours: 1, m3h: 10))
        try command(daemon, #"{"action": "shelve", "rule": "low", "scope": "well", "id": "W01", "for": "1h"}"#)
        #expect(eventually { child.stderr.contains("alarm command applied") })
        #expect(!child.stderr.contains("refused"))
        #expect(eventually { retained(broker, topic).contains(#""suppressed_until":"#) && !retained(broker, topic).contains(#""suppressed_until":null"#) })
        #expect(daemon.stop() == 0)
        #expect(daemon.alerts.filter { $0["state"] as? String == "active" && ($0["message"] as? String)?.hasPrefix("W01: ") == true }.count == 1)
        // And recovery clears it once past the deadband.
        try daemon.start()
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: lowHours(h0 + 5 * 3600 + 600, hours: 0, m3h: 50)
                           + (1...12).map { #"{"ts": \#(h0 + 5 * 3600 + 600 + $0 * 600), "gas_m3h": 50}"# })
        #expect(eventually { daemon.alerts.contains { $0["state"] as? String == "cleared" } })
        #expect(daemon.stop() == 0)
        #expect(daemon.alerts.filter { $0["state"] as? String == "cleared" }.count == 1)
    }

    @Test("an anonymous command that would silence every alarm for a century is refused; a signed one within bounds is taken; each is an event saying who and what")
    func whoMayCommand() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: config(hook: "/bin/true", users: true))
        writeUsers(daemon)
        let child = try daemon.start()
        try broker.publish("test/alarms/command", #"{"action":"maintenance","match":"*","for":"36500d"}"#)
        #expect(eventually { child.stderr.contains("alarm command refused") })
        try command(daemon, #"{"action":"maintenance","match":"W0*","for":"36500d","reason":"too long"}"#)
        try command(daemon, #"{"action":"maintenance","ids":["W02"],"for":"8h","reason":"workover"}"#)
        // A signed command played again by whoever recorded it: refused.
        let sub = try ChildProcess(which("mosquitto_sub")!, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "test/alarms/command", "-C", "1"],
                                   directory: daemon.dir.path, name: "eavesdropper")
        Thread.sleep(forTimeInterval: 0.3)
        try command(daemon, #"{"action":"ack","rule":"low","scope":"well","id":"W01"}"#)
        #expect(sub.wait(timeout: 10) == 0)
        try broker.publish("test/alarms/command", sub.stdout.trimmingCharacters(in: .newlines))
        #expect(eventually { daemon.events.filter { $0["kind"] as? String == "alarm_command" }.count >= 5 })
        #expect(daemon.stop() == 0)
        let events = daemon.events.filter { $0["kind"] as? String == "alarm_command" }.map { "\($0["id"]!): \($0["detail"]!)" }
        #expect(events.contains { $0.hasPrefix("someone (unsigned): refused: unsigned") && $0.contains("36500d") }, "\(events)")
        #expect(events.contains { $0.hasPrefix("duty (signed): refused: maintenance for 36500d is longer than alarm_outputs.max_maintenance") },
                "\(events)")
        #expect(events.contains { $0.hasPrefix("duty (signed): maintenance of W02 until") && $0.hasSuffix(": applied") }, "\(events)")
        #expect(events.contains { $0.contains("taken already") }, "\(events)")
    }

    @Test("an alarm that the stop's last corrections raise is published before the broker connection goes")
    func publishedAtStop() throws {
        let broker = try MosquittoBroker()
        // Corrections of closed windows wait for the flush: with a day between flushes, the ones
        // below are written, and their alarm raised, by the stop.
        let daemon = Daemon(port: broker.port, extra: config(hook: "/bin/true") + "\naggregation: { flush_interval: 1d }")
        let day = { Int(Date().timeIntervalSince1970) / 86_400 }
        let firstDay = day()
        try daemon.start()
        let h0 = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 9 * 3600
        // First the ends only: the hours between have no coverage and are judged by nothing.
        let low = lowHours(h0, hours: 4, m3h: 10)
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: [low.first!, low.last!])
        #expect(eventually { daemon.readings.count == 2 })
        Thread.sleep(forTimeInterval: 1)
        // Then the readings between: late, so corrections of hours already closed.
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: low)
        #expect(eventually { daemon.readings.count + daemon.rejects.count == 2 + low.count })
        Thread.sleep(forTimeInterval: 1)
        let topic = "test/alarms/well/W01/low"
        if day() == firstDay {  // (a UTC midnight would have flushed them)
            #expect(!daemon.alerts.contains { $0["state"] as? String == "active" }, "the corrections were written before the stop")
            #expect(!retained(broker, topic).contains(#""state":"active""#))
        }
        #expect(daemon.stop() == 0)
        let hoursOfW01 = daemon.totals.filter { $0["window"] as? String == "hour" && $0["id"] as? String == "W01" }
            .map { "\($0["start"]!) r\($0["revision"]!) \($0["gas_m3"] ?? "-") cov \($0["coverage"]!)" }.sorted()
        #expect(daemon.alerts.filter { $0["state"] as? String == "active" }.count == 1, "W01's hours: \(hoursOfW01)")
        #expect(retained(broker, topic).contains(#""state":"active""#), "the alarm state the stop raised is at the broker")
    }

    @Test("replay backtests the rules: the same alarm, at the same event time, and a count per rule")
    func backtest() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: config(hook: "/bin/true"))
        let h0 = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 9 * 3600  // all of it closed by the wall clock
        let lines = lowHours(h0, hours: 4, m3h: 10).enumerated().map { "\(h0 + $0.offset * 600) cbm/F1/B1/W01/telemetry \($0.element)" }
        let recording = daemon.dir.write("low.txt", lines.joined(separator: "\n") + "\n")
        let r = try daemon.replay([recording], output: daemon.dir.file("backtest"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("alarms raised by low: 1"), "\(r.stdout)")
        let alerts = records(under: daemon.dir.file("backtest/alerts"))
        #expect(alerts.count == 1)
        let time = ISO8601DateFormatter().date(from: alerts.first?["time"] as? String ?? "")?.timeIntervalSince1970
        #expect(time.map { Int($0) } == h0 + 2 * 3600)
    }

    @Test("a hook that hangs is killed at its timeout, and ingestion goes on")
    func hangingHook() throws {
        let broker = try MosquittoBroker()
        let dir = TemporaryDirectory("hook")
        let hook = dir.write("hang.sh", "#!/bin/sh\nexec sleep 60\n")
        chmod(hook, 0o755)
        let daemon = Daemon(port: broker.port, extra: config(hook: hook, timeout: "1s"))
        let child = try daemon.start()
        let h0 = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 9 * 3600  // all of it closed by the wall clock
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: lowHours(h0, hours: 3, m3h: 10))
        #expect(eventually { daemon.alerts.contains { $0["state"] as? String == "active" } })
        // Ingestion goes on while the hook hangs.
        try broker.publish("cbm/F1/B1/W02/telemetry", #"{"ts": \#(h0), "gas_m3h": 7}"#)
        #expect(eventually(timeout: 5) { daemon.readings.contains { $0["asset"] as? String == "W02" } })
        #expect(eventually(timeout: 10) { child.stderr.contains("was killed") })
        #expect(daemon.stop() == 0)
        #expect((try? runProgram("/usr/bin/pgrep", ["-f", hook]))?.status != 0, "the hook is still running")
    }
}

@Suite("Hooks cannot hurt the daemon", .serialized)
struct HookFailureTests {
    @Test("a hook that does not read, one that fails, one that hangs, one that floods: ingestion and checkpoints go on",
          arguments: ["true", "fail", "hang", "flood"])
    func badHook(kind: String) throws {
        let broker = try MosquittoBroker()
        let dir = TemporaryDirectory("hook")
        let scripts = [
            "true": "/bin/true",
            "fail": dir.write("fail.sh", "#!/bin/sh\nexit 1\n"),
            "hang": dir.write("hang.sh", "#!/bin/sh\nexec sleep 600\n"),
            "flood": dir.write("flood.sh", "#!/bin/sh\nhead -c 50000000 /dev/zero\nhead -c 50000000 /dev/zero >&2\n"),
        ]
        let hook = scripts[kind]!
        if hook != "/bin/true" { chmod(hook, 0o755) }
        let daemon = Daemon(port: broker.port, extra: """
            alerts:
              - { name: low, kind: low_output, scope: well, window: hour, below: 0.5, clear_above: 0.6, on_delay: 1, min_coverage: 0.5 }
            alarm_outputs: { mqtt_prefix: test/alarms, command_topic: test/alarms/command, hook: { command: \(hook), timeout: 1s } }
            journal: { directory: journal, checkpoint_interval: 1s }
            """)
        // The harness writes its own journal line: keep only the one above.
        let yaml = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: "journal: { directory: journal }\n", with: "")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let child = try daemon.start()
        let h0 = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 9 * 3600
        // Three wells, low for four hours: an alarm each, each running the hook.
        for w in ["W01", "W02", "W03"] {
            try broker.publish("cbm/F1/B1/\(w)/telemetry", lines: (0...24).map { #"{"ts": \#(h0 + $0 * 600), "gas_m3h": 1}"# })
        }
        #expect(eventually(timeout: 30) { daemon.alerts.filter { $0["state"] as? String == "active" }.count >= 3 })
        let store = CheckpointStore(directory: daemon.dir.file("journal"))
        let first = try? FileManager.default.attributesOfItem(atPath: store.path)[.modificationDate] as? Date
        // Ingestion goes on, and so do checkpoints.
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(h0 + 30 * 600), "gas_m3h": 50}"#)
        #expect(eventually { daemon.readings.contains { $0["value"] as? Double == 1200 } })
        #expect(eventually(timeout: 10) {
            let now = try? FileManager.default.attributesOfItem(atPath: store.path)[.modificationDate] as? Date
            return now != nil && now != first
        })
        #expect(child.isRunning)
        #expect(daemon.stop() == 0)
    }
}
