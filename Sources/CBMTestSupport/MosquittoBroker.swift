import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private mosquitto broker on a free 127.0.0.1 port, for tests: started with its own
/// configuration in a temporary directory, stopped by its PID.
public final class MosquittoBroker: @unchecked Sendable {
    /// Options for the listener.
    public struct Options: Sendable {
        /// user → password; when set, anonymous clients are refused.
        public var users: [String: String] = [:]
        /// TLS: CA, server certificate and key files.
        public var tls: (ca: String, cert: String, key: String)?
        /// Keep sessions and queued messages on disk across restarts.
        public var persistence = true
        public init() {}
    }

    public let port: Int
    public let directory: TemporaryDirectory
    private let options: Options
    private var child: ChildProcess?
    private var generation = 0

    /// Starts a broker.
    public init(_ options: Options = Options()) throws {
        self.options = options
        directory = TemporaryDirectory("mosquitto")
        port = try freePort()
        try writeConfiguration()
        try start()
    }

    deinit { stop() }

    private func writeConfiguration() throws {
        var conf = "listener \(port) 127.0.0.1\n"
        if let tls = options.tls {
            conf += "cafile \(tls.ca)\ncertfile \(tls.cert)\nkeyfile \(tls.key)\n"
        }
        if options.users.isEmpty {
            conf += "allow_anonymous true\n"
        } else {
            let passwords = directory.file("passwords")
            FileManager.default.createFile(atPath: passwords, contents: nil)
            for (user, password) in options.users.sorted(by: { $0.key < $1.key }) {
                let r = try runProgram(which("mosquitto_passwd") ?? "/usr/bin/mosquitto_passwd", ["-b", passwords, user, password])
                guard r.status == 0 else { throw BrokerError(message: "mosquitto_passwd: \(r.stderr)") }
            }
            conf += "allow_anonymous false\npassword_file \(passwords)\n"
        }
        if options.persistence {
            // mosquitto started as root drops to its own user: let it write its database.
            let store = directory.file("store")
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            chmod(store, 0o777)
            conf += "persistence true\npersistence_location \(store)/\n"
        }
        // Queue every message for an absent persistent session (the default keeps 1,000).
        conf += "max_queued_messages 0\n"
        conf += "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        directory.write("mosquitto.conf", conf)
    }

    /// Starts (or restarts) the broker process and waits until it accepts connections.
    public func start() throws {
        guard child == nil else { return }
        guard let exe = which("mosquitto") else { throw BrokerError(message: "mosquitto is not installed (apt-get install mosquitto)") }
        generation += 1
        let c = try ChildProcess(exe, ["-c", directory.file("mosquitto.conf")], directory: directory.path, name: "broker-\(generation)")
        child = c
        guard eventually(timeout: 10, { canConnect(port: port) }) else {
            throw BrokerError(message: "mosquitto did not start on port \(port): \(c.stderr)")
        }
    }

    /// Stops the broker by its PID (SIGTERM: it saves its persistence file on the way out).
    public func stop() {
        child?.stop(timeout: 10)
        child = nil
    }

    /// What the broker logged.
    public var log: String { child?.stderr ?? "" }

    /// Publishes with `mosquitto_pub` (QoS 1 by default): each message, one after another.
    public func publish(_ topic: String, _ payload: String, qos: Int = 1, retain: Bool = false) throws {
        var args = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic, "-m", payload]
        if retain { args.append("-r") }
        args += extraClientArguments
        let r = try runProgram(which("mosquitto_pub") ?? "/usr/bin/mosquitto_pub", args)
        guard r.status == 0 else { throw BrokerError(message: "mosquitto_pub failed: \(r.stderr)") }
    }

    /// Publishes many messages to one topic, one per line, with a single `mosquitto_pub -l`.
    public func publish(_ topic: String, lines: [String], qos: Int = 1) throws {
        let args = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic, "-l"] + extraClientArguments
        let r = try runProgram(which("mosquitto_pub") ?? "/usr/bin/mosquitto_pub", args, input: lines.joined(separator: "\n") + "\n")
        guard r.status == 0 else { throw BrokerError(message: "mosquitto_pub failed: \(r.stderr)") }
    }

    /// Arguments the clients need (credentials, TLS) for this broker.
    public var extraClientArguments: [String] = []
}

public struct BrokerError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BrokerError(message: "socket failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw BrokerError(message: "bind failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Makes a CA and a server certificate for 127.0.0.1 with openssl, in `directory`.
public func makeTestCertificates(in directory: TemporaryDirectory) throws -> (ca: String, cert: String, key: String, caKey: String) {
    guard let openssl = which("openssl") else { throw BrokerError(message: "openssl is not installed") }
    let ca = directory.file("ca.crt"), caKey = directory.file("ca.key")
    let key = directory.file("server.key"), csr = directory.file("server.csr"), cert = directory.file("server.crt")
    let ext = directory.write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    let steps: [[String]] = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=cbm-ingest test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
    ]
    for s in steps {
        let r = try runProgram(openssl, s)
        guard r.status == 0 else { throw BrokerError(message: "openssl \(s[0]) failed: \(r.stderr)") }
    }
    // mosquitto may drop privileges; let it read its files.
    for f in [ca, cert, key] { chmod(f, 0o644) }
    return (ca, cert, key, caKey)
}
