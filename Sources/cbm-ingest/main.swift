import ArgumentParser
import CBMIngest
import Foundation
import Logging

/// `cbm-ingest`: the command line (DESIGN §3.1). Exit status 0 on success or a clean stop, 1 for
/// a bad configuration or usage, 2 for a runtime failure such as a refusal by the broker.
struct CBMIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cbm-ingest",
        abstract: "Telemetry ingester for coal-bed-methane gas fields: production and utilisation from MQTT.",
        version: "0.1.0",
        subcommands: [Run.self, Replay.self, CheckConfig.self]
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
            `mosquitto_sub -F '%U %t %p'` output; any of them gzip-compressed. Time is the recording's \
            own, so two replays of one recording write identical files; at the end every window is closed.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Pace: max (as fast as possible), or a factor of the recorded pace (1 = real time, 60 = an hour a minute).")
    var speed: String = "max"

    @Option(name: .long, help: "Write output here instead of the configured output.directory.")
    var output: String?

    @Flag(name: .long, help: "Re-publish the recordings to the configured broker (QoS 1) instead of ingesting them.")
    var publish = false

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

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration: print a summary, or every problem as file:line: key: what is wrong (exit 1).")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let configuration = try options.loadConfiguration()
        print("\(configuration.file): OK")
        print(configuration.summary)
    }
}

CBMIngestCommand.main()
