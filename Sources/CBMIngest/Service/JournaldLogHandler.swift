import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A log handler for stderr: one line per event, written unbuffered, with structured metadata as
/// `key=value`. Under systemd (stderr connected to the journal) each line starts with the `<N>`
/// priority prefix of sd-daemon(3), so journald records the right priority; otherwise with a time.
public struct JournaldLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let underSystemd: Bool
    private static let lock = Mutex(())

    public init(label: String, level: Logger.Level, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        logLevel = level
        underSystemd = environment["JOURNAL_STREAM"] != nil || environment["INVOCATION_ID"] != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let m = event.metadata { all.merge(m) { _, new in new } }
        var line = ""
        if underSystemd {
            line = "<\(Self.priority(event.level))>"
        } else {
            var t = timespec()
            clock_gettime(CLOCK_REALTIME, &t)
            line = Self.isoTime(t.tv_sec) + " \(event.level) "
        }
        line += "\(event.message)"
        for key in all.keys.sorted() { line += " \(key)=\(Self.quote("\(all[key]!)"))" }
        line += "\n"
        // One write(2) per line to fd 2: unbuffered, whole lines even with several threads.
        let bytes = Array(line.utf8)
        Self.lock.withLock { _ in
            var done = 0
            bytes.withUnsafeBytes { raw in
                while done < raw.count {
                    let n = write(2, raw.baseAddress! + done, raw.count - done)
                    if n <= 0 { if errno == EINTR { continue } else { break } }
                    done += n
                }
            }
        }
    }

    /// sd-daemon(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func quote(_ v: String) -> String {
        guard v.isEmpty || v.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func isoTime(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}
