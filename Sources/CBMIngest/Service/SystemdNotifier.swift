import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol without libsystemd: one datagram per message to the AF_UNIX socket
/// named by `$NOTIFY_SOCKET` (a leading `@` is an abstract address).
public struct SystemdNotifier: Sendable {
    private let path: String?

    /// The notifier of this process's environment (does nothing when not under systemd).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The watchdog interval systemd asked for, if any (`$WATCHDOG_USEC`, for this PID).
    public static func watchdogMicroseconds(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int64? {
        guard let text = environment["WATCHDOG_USEC"], let us = Int64(text), us > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return us
    }

    /// Sends one message (`READY=1`, `STATUS=…`, several lines at once); false if it could not.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == payload.count
    }

    /// `CLOCK_MONOTONIC` in microseconds, for `MONOTONIC_USEC` with `RELOADING=1`.
    public static func monotonicMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}
