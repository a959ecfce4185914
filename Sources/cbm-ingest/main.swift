import ArgumentParser
import CBMCore
import CBMIngest
import Foundation
import Logging

/// `cbm-ingest`: the command line (DESIGN §3.1). Exit status 0 on success or a clean stop, 1 for
/// a bad configuration or usage, 2 for a runtime failure such as a refusal by the broker.
struct CBMIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cbm-ingest",
        abstract: "Telemetry ingester for coal-bed-methane gas fields: production and utilisation from MQTT.",
        version: LiveIngester.version,
        subcommands: [Run.self, Replay.self, Simulate.self, Report.self, Reindex.self, CheckConfig.self, Command.self]
    )
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (default: the configuration's log_level, or info).")
    var logLevel: Logger.Level?

    func loadConfiguration() throws -> Configuration {
        switch ConfigurationLoader.load(file: config) {
        case .success(let c): return c
        case .failure(let e):
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(1)
        }
    }

    /// Logs to stderr, one line per event; under systemd with journald priorities.
    func bootstrapLogging(_ configuration: Configuration? = nil) -> Logger {
        let level = logLevel ?? configuration?.logLevel ?? .info
        LoggingSystem.bootstrap { label in JournaldLogHandler(label: label, level: level) }
        return Logger(label: "cbm-ingest")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the ingester in the foreground until SIGINT or SIGTERM (systemd runs it so).")

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Write output here instead of the configured output.directory.")
    var output: String?

    func run() throws {
        var configuration = try options.loadConfiguration()
        if let output {
            configuration.output.directory = URL(fileURLWithPath: output).standardizedFileURL.path
        }
        let logger = options.bootstrapLogging(configuration)
        let outcome = LiveIngester(configuration: configuration, logger: logger).run()
        switch outcome {
        case .stopped:
            return
        case .refused(let reason), .failed(let reason):
            FileHandle.standardError.write(Data("cbm-ingest: \(reason)\n".utf8))
            throw ExitCode(outcome.exitStatus)
        }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Feed recordings through the same pipeline as the daemon (no broker), or re-publish them with --publish.",
        discussion: """
            Recordings: the daemon's journal segments (journal-*.cbmj), `mosquitto_sub -F '%j'` output, \
            `mosquitto_sub -F '%U %t %p'` output, and with --hex `mosquitto_sub -F '%U %t %x'` output (binary \
            payloads such as Sparkplug B); any of them gzip-compressed. Time is the recording's \
            own, so two replays of one recording write identical files; at the end every window is closed.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Pace: max (as fast as possible), or a factor of the recorded pace (1 = real time, 60 = an hour a minute).")
    var speed: String = "max"

    @Option(name: .long, help: "Write output here instead of the configured output.directory.")
    var output: String?

    @Flag(name: .long, help: "Re-publish the recordings to the configured broker (QoS 1) instead of ingesting them.")
    var publish = false

    @Option(name: .long, help: "Keep the history archive of old readings in this new directory (default: a scratch directory, removed at the end).")
    var archive: String?

    @Flag(name: .long, help: "Text recordings hold their payloads in hexadecimal (mosquitto_sub -F '%U %t %x': binary payloads such as Sparkplug B).")
    var hex = false

    @Argument(help: "Recording files.")
    var recordings: [String]

    func validate() throws {
        if speed != "max" {
            guard let v = Double(speed), v > 0, v.isFinite else {
                throw ValidationError("--speed must be max or a positive number, not \(speed)")
            }
        }
        if recordings.isEmpty { throw ValidationError("name at least one recording") }
    }

    func run() throws {
        var configuration = try options.loadConfiguration()
        if let output {
            configuration.output.directory = URL(fileURLWithPath: output).standardizedFileURL.path
        }
        let logger = options.bootstrapLogging(configuration)
        var replayer = Replayer(configuration: configuration, speed: speed == "max" ? nil : Double(speed), logger: logger)
        replayer.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        replayer.archiveDirectory = archive
        replayer.hexPayloads = hex
        do {
            let s = publish ? try replayer.publish(recordings) : try replayer.run(recordings)
            let rate = Int(Double(s.messages) / max(s.seconds, 1e-9))
            if publish {
                print("published \(s.messages) messages in \(String(format: "%.2f", s.seconds)) s (\(rate) messages/s), all acknowledged"
                      + (s.unreadable > 0 ? "; \(s.unreadable) unreadable lines skipped" : ""))
            } else {
                print("replayed \(s.messages) messages in \(String(format: "%.2f", s.seconds)) s (\(rate) messages/s): "
                      + "\(s.readings) readings, \(s.rejects) rejects, \(s.totals) totals records"
                      + (s.unreadable > 0 ? "; \(s.unreadable) unreadable lines skipped" : "")
                      + "; output in \(configuration.output.directory)")
                for (rule, n) in s.alarms.sorted(by: { $0.key < $1.key }) {
                    print("alarms raised by \(rule): \(n)")
                }
            }
        } catch {
            FileHandle.standardError.write(Data("cbm-ingest: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A synthetic CBM field, seeded and reproducible: writes its register, its exact totals and a recording; or publishes it.",
        discussion: """
            Writes into --out: assets.csv (the register), truth.jsonl (every gas volume generated, as hour, gas-day and \
            gas-month totals of every scope, in the configuration's windows) and recording.txt (mosquitto_sub -F '%U %t %p' \
            form, for replay; with --format sparkplug_b the wells speak Sparkplug B and the recording is '%U %t %x', replay --hex). With --publish it also publishes the recording to the configured broker (QoS 1) at the \
            recorded pace × --speed. Topics and payloads follow config/cbm-ingest.yaml.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Wells.") var wells = 300
    @Option(help: "Fields (the wells are spread over them).") var fields = 2
    @Option(help: "Hours of telemetry.") var hours = 24
    @Option(help: "Seconds between readings.") var interval = 300
    @Option(help: "The seed: the same seed gives the same field.") var seed: UInt64 = 1
    @Option(help: "The first reading (RFC 3339); default: the whole hours before now.") var start: String?
    @Option(help: "Where to write assets.csv, truth.jsonl and recording.txt.") var out = "simulated"
    @Flag(help: "Publish the recording to the configured broker.") var publish = false
    @Option(help: "With --publish: max, or a factor of the recorded pace.") var speed = "max"
    @Option(help: "Store and forward: this many wells hold their first --backfill-hours of messages and send them after the live stream.")
    var backfillWells = 0
    @Option(help: "With --backfill-wells: the hours of history held back.") var backfillHours = 0
    @Option(help: "Share of wells with a short communication outage whose buffered history arrives late (0 to 1).")
    var outages = 0.05
    @Option(help: "This many wells (the last of the register) have a dead RTU and are shut in: they send nothing at all.")
    var silentWells = 0
    @Option(help: "json, or sparkplug_b: the wells' telemetry from Sparkplug B edge nodes (a block each), recorded in hex (replay --hex).")
    var format = "json"

    func run() throws {
        let configuration = try options.loadConfiguration()
        let logger = options.bootstrapLogging(configuration)
        var o = FieldSimulator.Options()
        o.wells = wells
        o.fields = fields
        o.hours = hours
        o.intervalSeconds = interval
        o.seed = seed
        o.backfillWells = backfillWells
        o.backfillHours = backfillHours
        guard (0...1).contains(outages) else { throw ValidationError("--outages is a share, 0 to 1: \(outages)") }
        o.outages = outages
        guard (0...wells).contains(silentWells) else { throw ValidationError("--silent-wells is 0 to --wells: \(silentWells)") }
        o.silentWells = silentWells
        if let start {
            guard case .success(let t) = RFC3339.parse(start) else { throw ValidationError("--start is not an RFC 3339 time: \(start)") }
            o.start = t
        } else {
            let now = Int64(Date().timeIntervalSince1970)
            o.start = Timestamp(seconds: (now / 3600 - Int64(hours)) * 3600)
        }
        guard format == "json" || format == "sparkplug_b" else { throw ValidationError("--format is json or sparkplug_b, not \(format)") }
        var simulator = FieldSimulator(o)
        let (messages, hourly) = simulator.generate()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try simulator.registerCSV.write(toFile: out + "/assets.csv", atomically: true, encoding: .utf8)
        try simulator.truth(hourly, settings: configuration.aggregation).write(toFile: out + "/truth.jsonl", atomically: true, encoding: .utf8)
        var text = ""
        text.reserveCapacity(messages.count * 150)
        func time(_ t: Timestamp) -> String { "\(t.microseconds / 1_000_000).\(String(format: "%06d", t.microseconds % 1_000_000))" }
        let hex = format == "sparkplug_b"
        var written = messages.count
        if hex {
            let digits = Array("0123456789abcdef".utf8)
            let sparkplug = FieldSimulator.sparkplug(messages)
            written = sparkplug.count
            for m in sparkplug {
                var line = Array("\(time(m.time)) \(m.topic) ".utf8)
                for b in m.payload { line += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
                text += String(decoding: line, as: UTF8.self) + "\n"
            }
        } else {
            for m in messages { text += "\(time(m.time)) \(m.topic) \(m.payload)\n" }
        }
        try text.write(toFile: out + "/recording.txt", atomically: true, encoding: .utf8)
        print("simulated \(wells) wells, \(simulator.assets.count - wells) meters and flares, \(hours) h: \(written) messages in \(out)/recording.txt\(hex ? " (Sparkplug B, hex: replay --hex)" : ""), register \(out)/assets.csv, truth \(out)/truth.jsonl")
        if publish {
            var replayer = Replayer(configuration: configuration, speed: speed == "max" ? nil : Double(speed), logger: logger)
            replayer.progress = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            replayer.hexPayloads = hex
            let s = try replayer.publish([out + "/recording.txt"])
            print("published \(s.messages) messages in \(String(format: "%.1f", s.seconds)) s")
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration: print a summary, or every problem as file:line: key: what is wrong (exit 1).")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let configuration = try options.loadConfiguration()
        print("\(configuration.file): OK")
        for w in configuration.warnings { print("warning: \(w)") }
        print(configuration.summary)
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Final figures from the output's totals (the highest revision of each window), or the morning report.",
        discussion: """
            With no period it prints the morning report of the last closed gas day: production by field and block against \
            the day before, the wells furthest below expected, utilisation by sector, flared volume, the utilisation rate, \
            standard coal and CO2e, and the day's rejects, events and alarms. With --gas-day, --month or --from/--to it prints \
            the final figures of those windows (--scope and --id to narrow), times in the configured zone, a total per scope, \
            coverage, estimated and revision. It reads the index beside the files (output directory, index.sqlite), caught up \
            from the files first; a missing or damaged index is rebuilt from them.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "A gas day: YYYY-MM-DD (the one that begins that date at day_start), yesterday or today.") var gasDay: String?
    @Option(help: "A gas month: YYYY-MM.") var month: String?
    @Option(help: "From (local YYYY-MM-DD, YYYY-MM-DD HH:MM or YYYY-MM-DDTHH:MM, or RFC 3339), with --to: windows that start in [from, to).") var from: String?
    @Option(help: "To (exclusive).") var to: String?
    @Option(help: "With --from/--to: hour, day or month windows.") var window = "day"
    @Option(help: "well, block, field, meter, sector, flare or all (default: every scope).") var scope: String?
    @Option(help: "Ids, globs allowed (W-SZ-*); more than one: repeat it.") var id: [String] = []
    @Option(help: "table, csv or json.") var format = "table"
    @Flag(help: "With --format csv: a UTF-8 byte-order mark first, for Excel and WPS.") var bom = false
    @Option(help: "Output directory (default: the configuration's).") var output: String?

    func run() throws {
        var configuration = try options.loadConfiguration()
        if let output { configuration.output.directory = (output as NSString).standardizingPath }
        var report = CBMIngest.Report(configuration: configuration, now: LiveIngester.wallClock())
        report.byteOrderMark = bom
        guard let format = CBMIngest.Report.Format(rawValue: format) else { throw ValidationError("--format is table, csv or json, not \(format)") }
        let scope: TotalsRecord.Scope?
        if let text = self.scope {
            guard let s = TotalsRecord.Scope(rawValue: text), s != .unregistered else {
                throw ValidationError("--scope is well, block, field, meter, sector, flare or all, not \(text)")
            }
            scope = s
        } else {
            scope = nil
        }
        let period: CBMIngest.Report.Period?
        switch (gasDay, month, from, to) {
        case (let d?, nil, nil, nil):
            guard let t = report.gasDay(d) else { throw ValidationError("--gas-day is YYYY-MM-DD, yesterday or today, not \(d)") }
            period = .gasDay(t)
        case (nil, let m?, nil, nil):
            guard let t = report.month(m) else { throw ValidationError("--month is YYYY-MM, not \(m)") }
            period = .month(t)
        case (nil, nil, let f?, let t?):
            guard let a = report.time(f), let b = report.time(t), a < b else { throw ValidationError("--from and --to are times, --from before --to") }
            guard let kind = WindowKind(rawValue: window) else { throw ValidationError("--window is hour, day or month, not \(window)") }
            period = .range(kind, from: a, to: b)
        case (nil, nil, nil, nil):
            period = nil
        default:
            throw ValidationError("give one of --gas-day, --month, or --from with --to")
        }
        do {
            if let period {
                print(try report.figures(period, scope: scope, ids: id, format: format), terminator: "")
            } else {
                guard scope == nil && id.isEmpty && format == .table else { throw ValidationError("--scope, --id and --format need a period") }
                print(try report.morning(report.lastClosedGasDay), terminator: "")
            }
        } catch let e as CBMIngest.Report.Failure {
            FileHandle.standardError.write(Data("cbm-ingest report: \(e)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Reindex: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the index of final figures (output directory, index.sqlite) from the totals files.")

    @OptionGroup var options: CommonOptions
    @Option(help: "Output directory (default: the configuration's).") var output: String?

    func run() throws {
        var configuration = try options.loadConfiguration()
        if let output { configuration.output.directory = (output as NSString).standardizingPath }
        do {
            let (path, folder, count) = try CBMIngest.Report.reindex(configuration)
            print("\(path): \(count) final figures from \(folder)")
        } catch {
            FileHandle.standardError.write(Data("cbm-ingest reindex: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

CBMIngestCommand.main()

struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send an alarm command, signed with your key, to the configured command topic.",
        discussion: """
            The command is JSON, e.g. {"action":"shelve","rule":"well-low-output","scope":"well","id":"W01","for":"2h"} \
            or {"action":"maintenance","ids":["W01"],"for":"8h","reason":"workover"}. It is signed with HMAC-SHA256 \
            and your key (--key-file, a file of hex digits; or your line in alarm_outputs.command_users) and \
            carries its time: the daemon takes it once, within five minutes.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Your name in alarm_outputs.command_users.")
    var user: String

    @Option(name: .long, help: "A file holding your key (hex); by default your line in command_users.")
    var keyFile: String?

    @Argument(help: "The command, as JSON.")
    var command: String

    func run() throws {
        let configuration = try options.loadConfiguration()
        do {
            try CommandSender.send(command, user: user, keyFile: keyFile, configuration: configuration)
            print("sent, signed by \(user)")
        } catch {
            FileHandle.standardError.write(Data("cbm-ingest: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

