import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A Unix datagram socket standing in for systemd's notify socket: collects what a service sends.
public final class NotifyListener: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let received = Mutex<[(Date, String)]>([])
    private let running = Atomic<Bool>(true)
    private var thread: Thread?

    public init(directory: String) throws {
        path = (directory as NSString).appendingPathComponent("notify.sock")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw BrokerError(message: "socket failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw BrokerError(message: "bind \(path) failed") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while running.load(ordering: .relaxed) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 {
                    let text = String(decoding: buffer[0..<n], as: UTF8.self)
                    received.withLock { $0.append((Date(), text)) }
                }
            }
        }
        thread = t
        t.start()
    }

    deinit {
        running.store(false, ordering: .relaxed)
        Thread.sleep(forTimeInterval: 0.2)
        close(fd)
        unlink(path)
    }

    /// Every datagram so far, in order.
    public var messages: [String] { received.withLock { $0.map(\.1) } }

    /// The datagrams with the times they arrived.
    public var timed: [(Date, String)] { received.withLock { $0 } }
}
