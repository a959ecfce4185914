import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program run as a child process, its output captured in files; stopped by its PID.
///
/// Started with `posix_spawn` and an empty signal mask with default dispositions: a child
/// spawned from a test thread would otherwise inherit that thread's blocked signals, and a
/// broker that cannot see SIGTERM never saves its sessions.
public final class ChildProcess: @unchecked Sendable {
    public let stdoutPath: String
    public let stderrPath: String
    /// The process id.
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`. Output goes to files in `directory`; input comes
    /// from the file `stdin`.
    public init(_ executable: String, _ arguments: [String], directory: String, name: String,
                environment: [String: String]? = nil, stdin: String = "/dev/null") throws {
        stdoutPath = (directory as NSString).appendingPathComponent("\(name).stdout")
        stderrPath = (directory as NSString).appendingPathComponent("\(name).stderr")
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else the test process has open goes with the child. A file another test is
        // writing at this moment (a hook script, say) would otherwise stay open for writing in a
        // broker that lives for minutes, and running that script fails with "text file busy".
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        let env = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attr, argv, envp)
        guard rc == 0 else { throw BrokerError(message: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Swift
    /// module does not expose; nil where the C library lacks it.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }  // nil: RTLD_DEFAULT
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Whether it is still running (reaps it when it has exited).
    public var isRunning: Bool {
        lock.withLock {
            if exitStatus != nil { return false }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            guard r == pid else { return r == 0 }
            exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return false
        }
    }

    /// What it wrote to standard error so far.
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// What it wrote to standard output so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// Sends a signal.
    public func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }

    /// Waits for the exit; returns the status (128 + signal when killed by one), or nil if it is
    /// still running after `timeout` seconds.
    @discardableResult
    public func wait(timeout: Double = 30) -> Int32? {
        guard eventually(timeout: timeout, interval: 0.02, { !isRunning }) else { return nil }
        return lock.withLock { exitStatus }
    }

    /// Stops it: SIGTERM, then SIGKILL if it does not exit in time. Returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 20) -> Int32? {
        signal(SIGTERM)
        if let status = wait(timeout: timeout) { return status }
        signal(SIGKILL)
        return wait(timeout: 5)
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            _ = wait(timeout: 5)
        }
    }
}

/// Finds a program on the PATH (and in the sbin folders, where Debian puts mosquitto).
public func which(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/local/sbin:/sbin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Runs a program to completion, or for `timeout` seconds at most (then it is killed); returns
/// its status (128 + signal when killed by one) and output. Started like ``ChildProcess``, with no
/// signals blocked, so a program's own timers (`mosquitto_sub -W`) work.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 60)
    throws -> (status: Int32, stdout: String, stderr: String)
{
    let dir = TemporaryDirectory("run")
    let stdin = input.map { dir.write("stdin", $0) } ?? "/dev/null"
    let p = try ChildProcess(executable, arguments, directory: dir.path, name: "run", stdin: stdin)
    let status = p.wait(timeout: timeout) ?? p.stop(timeout: 2) ?? -1
    return (status, p.stdout, p.stderr)
}

/// The built `cbm-ingest` binary: `$CBM_INGEST_BIN`, or the one beside the test bundle.
public func cbmIngestBinary() -> String {
    if let p = ProcessInfo.processInfo.environment["CBM_INGEST_BIN"] { return p }
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let p = candidate.appendingPathComponent("cbm-ingest").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return bundleDir.appendingPathComponent("cbm-ingest").path
}
