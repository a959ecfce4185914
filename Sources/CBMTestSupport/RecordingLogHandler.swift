import Foundation
import Logging

/// A log handler that keeps what is logged, for tests that check what a component said.
public struct RecordingLogHandler: LogHandler {
    /// The lines logged so far, shared by every copy of the handler.
    public final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        public init() {}
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        /// Every line, as `level: message key=value…`.
        public var all: [String] { lock.withLock { lines } }
    }

    public let lines: Lines
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(lines: Lines) { self.lines = lines }

    /// A logger whose lines go to `lines`.
    public static func logger(_ lines: Lines) -> Logger {
        Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.level): \(event.message)" + all.keys.sorted().map { " \($0)=\(all[$0]!)" }.joined())
    }
}
