import CBMTestSupport
import Foundation
import Testing

/// Output files that survive crashes and write errors, with the real binary.
@Suite("Output files", .serialized)
struct OutputFilesTests {
    /// Every file under a directory, recursively, relative names.
    func files(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent($0), isDirectory: &isDir)
            return !isDir.boolValue
        }.sorted()
    }

    @Test("SIGKILL mid-stream: on restart no closed file has a partial line and the open files are repaired and closed")
    func killAndRepair() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        let t0 = Int(Date().timeIntervalSince1970) - 3000
        let lines = (0..<3000).map { #"{"ts": \#(t0 + $0), "gas_m3h": \#($0 % 90), "gas_total": \#(Double($0) / 100)}"# }
        let stdin = daemon.dir.write("stream.txt", lines.joined(separator: "\n") + "\n")
        let publisher = try ChildProcess("/bin/sh", ["-c", "exec \(which("mosquitto_pub")!) -h 127.0.0.1 -p \(broker.port) -q 1 -t cbm/F1/B1/W01/telemetry -l < \(stdin)"],
                                         directory: daemon.dir.path, name: "publisher")
        #expect(eventually { daemon.readings.count > 500 })
        child.signal(SIGKILL)
        #expect(child.wait(timeout: 10) == 128 + SIGKILL)
        publisher.wait(timeout: 60)
        let leftOpen = files(daemon.out).filter { $0.hasSuffix(".open") }
        #expect(!leftOpen.isEmpty, "the kill left no file open: \(files(daemon.out))")
        // A power cut can also tear the last line: simulate one on the readings file.
        let torn = try #require(leftOpen.first { $0.hasPrefix("readings/") })
        let handle = try #require(FileHandle(forWritingAtPath: (daemon.out as NSString).appendingPathComponent(torn)))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"time":"2026-11-29T1"#.utf8))
        try handle.close()

        try daemon.start()
        let repairedNames = leftOpen.map { String($0.dropLast(5)) }
        for name in repairedNames {
            #expect(FileManager.default.fileExists(atPath: (daemon.out as NSString).appendingPathComponent(name)), "\(name) not closed")
        }
        #expect(daemon.stop() == 0)
        // Every file is closed, and every line of every file is a whole record.
        #expect(!files(daemon.out).contains { $0.hasSuffix(".open") })
        for name in files(daemon.out) where name.hasSuffix(".jsonl") {
            let data = try #require(FileManager.default.contents(atPath: (daemon.out as NSString).appendingPathComponent(name)))
            #expect(data.last == 10 || data.isEmpty, "\(name) does not end with a newline")
            for l in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(l.utf8))) != nil, "\(name): \(l)")
            }
        }
        let repaired = daemon.events.filter { $0["kind"] as? String == "file_repaired" }
        #expect(Set(repaired.compactMap { $0["id"] as? String }) == Set(repairedNames.map { ($0 as NSString).lastPathComponent }))
        #expect(repaired.contains { ($0["detail"] as? String)?.contains("partial last line of 21 bytes") == true })
        // (That nothing the broker delivered is lost across a kill is the journal's to show.)
    }

    @Test("a write error (the file size limit of a full disk) neither crashes nor drops: once writable, every record arrives")
    func writeErrors() throws {
        guard let prlimit = which("prlimit") else {
            Issue.record("prlimit (util-linux) is not installed")
            return
        }
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        // Files may not grow past 2000 bytes: writes fail with EFBIG, as on a full disk.
        let child = try daemon.start(wrapper: [prlimit, "--fsize=2000:unlimited", "--"])
        let t0 = Int(Date().timeIntervalSince1970) - 600
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (0..<300).map { #"{"ts": \#(t0 + $0), "gas_m3h": \#($0)}"# })
        #expect(eventually(timeout: 20) { child.stderr.contains("cannot write output") })
        #expect(child.isRunning)
        // The disk has room again.
        let r = try runProgram(prlimit, ["--pid", "\(child.pid)", "--fsize=unlimited:unlimited"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(eventually(timeout: 30) { daemon.readings.count == 300 })
        #expect(daemon.stop() == 0)
        let values = daemon.readings.compactMap { $0["value"] as? Double }.sorted()
        #expect(values == (0..<300).map { Double($0 * 24) })
        #expect(daemon.events.contains { $0["kind"] as? String == "output_error" })
    }

    @Test("a full disk (a tiny tmpfs) neither crashes nor drops: once there is room, every record arrives")
    func diskFull() throws {
        let disk = TemporaryDirectory("disk")
        let mount = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", disk.path])
        guard mount.status == 0 else {
            // Mounting needs privileges this machine may not give; the file-size-limit test above
            // covers the same path through the code.
            print("skipping the tmpfs test: \(mount.stderr)")
            return
        }
        defer { _ = try? runProgram("/bin/umount", [disk.path]) }
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, output: "output: { directory: \(disk.path)/out, readings: true }")
        let child = try daemon.start()
        // Fill the disk.
        let filler = disk.file("filler")
        FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        let block = Data(repeating: 0x41, count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        try? handle.close()
        let t0 = Int(Date().timeIntervalSince1970) - 600
        try broker.publish("cbm/F1/B1/W01/telemetry", lines: (0..<300).map { #"{"ts": \#(t0 + $0), "gas_m3h": \#($0)}"# })
        #expect(eventually(timeout: 20) { child.stderr.contains("No space left on device") })
        #expect(child.isRunning)
        try FileManager.default.removeItem(atPath: filler)
        let out = disk.file("out/readings")
        #expect(eventually(timeout: 30) { records(under: out).count == 300 })
        #expect(daemon.stop() == 0)
        let values = records(under: out).compactMap { $0["value"] as? Double }.sorted()
        #expect(values == (0..<300).map { Double($0 * 24) })
        #expect(records(under: disk.file("out/events")).contains { $0["kind"] as? String == "output_error" })
    }

    @Test("CSV beside JSON Lines, with the same columns; latest.json is written")
    func csvAndSnapshot() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, output: "output: { directory: out, readings: true, formats: [jsonl, csv], snapshot_interval: 1s }")
        try daemon.start()
        let t = Int(Date().timeIntervalSince1970)
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t - 7200), "gas_total": 1}"#)
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t - 60), "gas_total": 2}"#)
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t), "gas_m3h": "x,y"}"#)
        #expect(eventually { FileManager.default.fileExists(atPath: daemon.dir.file("out/latest.json")) })
        #expect(daemon.stop() == 0)
        let csvFiles = files(daemon.out).filter { $0.hasSuffix(".csv") }
        let families: Set<String> = Set(csvFiles.map { String($0.split(separator: "/")[0]) })
        #expect(families == ["totals", "rejects", "readings"])
        let totalsCSV = try #require(csvFiles.first { $0.hasPrefix("totals/") })
        let rows = try String(contentsOfFile: (daemon.out as NSString).appendingPathComponent(totalsCSV), encoding: .utf8).split(separator: "\n")
        #expect(rows.first?.hasPrefix("window,start,end,scope,id,gas_m3,water_m3,utilised_m3") == true)
        #expect(rows.count - 1 == daemon.totals.count)
        let rejectsCSV = try #require(csvFiles.first { $0.hasPrefix("rejects/") })
        let rejectRows = try String(contentsOfFile: (daemon.out as NSString).appendingPathComponent(rejectsCSV), encoding: .utf8)
        #expect(rejectRows.contains("not_a_number"))
        #expect(rejectRows.contains("\"value at gas_m3h is not a decimal number: \"\"x,y\"\"\""))
        let snapshot = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: daemon.dir.file("out/latest.json")))) as? [String: Any]
        #expect(snapshot?["basis"] as? String == "20C")
        #expect((snapshot?["open"] as? [Any])?.isEmpty == false)
        #expect((snapshot?["last_closed_hour"] as? [Any])?.isEmpty == false)
    }
}

@Suite("CSV that a spreadsheet opens safely", .serialized)
struct CSVFormulaTests {
    @Test("ids, topics and payloads that start a formula are written so that a spreadsheet parser finds no formula cell")
    func noFormulaCells() throws {
        let ssconvert = try #require(which("ssconvert"), "gnumeric's ssconvert is needed (make test installs it)")
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, extra: """
            unknown_assets: { accept: true }
            """, output: "output: { directory: out, readings: true, formats: [jsonl, csv] }")
        let yaml = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: "subscriptions:\n", with: """
            subscriptions:
              - topic: hostile/+
                template: hostile/{x}
                format: json
                asset: dev
                values: { gas_m3h: { measurement: gas_rate, unit: m3/h } }

            """).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start()
        let t = Int(Date().timeIntervalSince1970) / 3600 * 3600 - 3 * 3600
        let ids = [#"=HYPERLINK(\"http://example.invalid\",\"click\")"#, #"=cmd|' /C calc'!A0"#, "+1+1", "-2+3", "@SUM(1,2)", " =1"]
        for (i, id) in ids.enumerated() {
            try broker.publish("hostile/a", lines: (0...2).map { #"{"ts": \#(t + $0 * 600 + i), "dev": "\#(id)", "gas_m3h": 5}"# })
        }
        try broker.publish("hostile/=cmd|' -C calc'!A0", "=1+1")
        #expect(eventually { daemon.readings.count == ids.count * 3 && daemon.rejects.count == 1 }, "\(daemon.readings.count) \(daemon.rejects.map { $0["reason"] ?? "" })")
        #expect(daemon.stop() == 0)
        var checked = 0
        for family in ["readings", "rejects", "totals"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: daemon.dir.file("out/\(family)"))) ?? [] where name.hasSuffix(".csv") {
                let xlsx = daemon.dir.file("\(family)-\(name).xlsx")
                _ = try runProgram(ssconvert, [daemon.dir.file("out/\(family)/\(name)"), xlsx])
                let formulas = try runProgram("/usr/bin/env", ["python3", "-c", """
                    import sys, zipfile
                    z = zipfile.ZipFile(sys.argv[1])
                    sheets = [n for n in z.namelist() if n.startswith('xl/worksheets/')]
                    print(sum(z.read(n).decode().count('<f>') + z.read(n).decode().count('<f ') for n in sheets), len(sheets))
                    """, xlsx])
                let counts = formulas.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                #expect(counts.count == 2 && counts[1] > 0, "\(family)/\(name): \(formulas.stdout) \(formulas.stderr)")
                #expect(counts.first == 0, "\(family)/\(name) has formula cells")
                checked += 1
            }
        }
        #expect(checked >= 3)
        // The JSON Lines keep the text as it was.
        #expect(Set(daemon.readings.compactMap { $0["asset"] as? String }) == Set(ids.map { $0.replacingOccurrences(of: "\\\"", with: "\"") }))
    }
}
