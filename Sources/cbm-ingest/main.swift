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
        subcommands: [Run.self, CheckConfig.self]
    )
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func loadConfiguration() throws -> Configuration {
        switch ConfigurationLoader.load(file: config) {
        case .success(let c): return c
        case .failure(let e):
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(1)
        }
    }

    func bootstrapLogging() -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
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
        let logger = options.bootstrapLogging()
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
