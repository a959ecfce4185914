import CBMCore
import CZlib
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The journal: every message received, appended before libmosquitto may acknowledge it.
///
/// Segments `journal-<first sequence>.cbmj` start with the magic `CBMJ0001`; each record is framed
/// as `length (u32) · CRC-32 of the body (u32) · body`, the body being `sequence (u64) · receive
/// time (i64, µs) · QoS (u8) · retained (u8) · topic length (u16) · topic · payload`, all little
/// endian. Segments rotate by size; a new one is begun at every start.
public final class Journal: Sendable {
    /// When appended records are made durable.
    public enum SyncPolicy: String, Sendable, CaseIterable {
        /// fsync before `append` returns: a power cut loses nothing acknowledged. Slowest.
        case always
        /// fsync every `interval` (group commit): a killed process loses nothing (the data is in
        /// the kernel), a power cut at most the last interval.
        case interval
        /// Never fsync: the kernel writes when it likes. A killed process loses nothing.
        case never
    }

    /// One journal record.
    public struct Record: Sendable, Equatable {
        public var sequence: UInt64
        public var message: InboundMessage
    }

    /// Something found while reading the journal.
    public enum Damage: Sendable, Equatable {
        /// A damaged stretch (a record whose length, checksum or body is wrong) was skipped: the
        /// reading went on at the next good record. `sequence`: what the damaged record claims.
        case skipped(segment: String, offset: Int64, bytes: Int64, sequence: UInt64?)
        /// A record whose length field was damaged was recovered whole (its checksum matched).
        case lengthRepaired(segment: String, offset: Int64, sequence: UInt64)
        /// Bytes at the end of a segment after which nothing valid follows (a write cut short).
        case tornTail(segment: String, offset: Int64, bytes: Int64)
    }

    static let magic: [UInt8] = Array("CBMJ0001".utf8)
    public let directory: String
    public let segmentBytes: Int64
    public let policy: SyncPolicy

    private struct State {
        var fd: Int32 = -1
        var path = ""
        var size: Int64 = 0
        var nextSequence: UInt64 = 1
        var unsynced = false
        var appended: Int64 = 0
        var onFsync: (@Sendable (Duration) -> Void)?
        /// The record being appended (its buffer kept from one append to the next).
        var record: [UInt8] = []
    }
    private let state: Mutex<State>

    /// Opens the journal for appending: the next sequence follows `after` (the last one recovered).
    public init(directory: String, segmentBytes: Int64 = 64 << 20, policy: SyncPolicy = .interval,
                after lastSequence: UInt64) throws(StorageError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.policy = policy
        state = Mutex(State(nextSequence: lastSequence + 1))
        try SafeFiles.makeDirectory(directory, mode: 0o700)
        _ = chmod(directory, 0o700)
    }

    deinit {
        state.withLock { s in if s.fd >= 0 { fsync(s.fd); Glibc.close(s.fd) } }
    }

    /// Appends a message; returns its sequence number. With `always` it is durable on return;
    /// otherwise it is in the kernel (safe from a crash of this process).
    @discardableResult
    public func append(_ m: InboundMessage) throws(StorageError) -> UInt64 {
        try state.withLock { s throws(StorageError) -> UInt64 in
            let seq = s.nextSequence
            s.record.removeAll(keepingCapacity: true)
            Self.frame(sequence: seq, m, into: &s.record)
            let record = s.record
            if s.fd < 0 || s.size + Int64(record.count) > segmentBytes && s.size > Int64(Self.magic.count + 8) {
                try rotate(&s, first: seq)
            }
            guard writeAll(s.fd, record, record.count) else {
                let e = errno
                _ = ftruncate(s.fd, off_t(s.size))
                throw StorageError(operation: "write", path: s.path, errno: e)
            }
            s.size += Int64(record.count)
            s.appended += Int64(record.count)
            s.nextSequence = seq + 1
            if policy == .always {
                try Self.sync(&s)
            } else {
                s.unsynced = true
            }
            return seq
        }
    }

    /// Makes everything appended durable (the group commit of the `interval` policy).
    public func sync() throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            guard s.fd >= 0, s.unsynced else { return }
            try Self.sync(&s)
            s.unsynced = false
        }
    }

    private static func sync(_ s: inout State) throws(StorageError) {
        let started = s.onFsync == nil ? nil : ContinuousClock.now
        guard fsync(s.fd) == 0 else { throw StorageError(operation: "fsync", path: s.path, errno: errno) }
        if let started { s.onFsync?(ContinuousClock.now - started) }
    }

    /// Hears how long each fsync of an append or a group commit took.
    public func observeFsync(_ f: @escaping @Sendable (Duration) -> Void) {
        state.withLock { $0.onFsync = f }
    }

    /// Bytes appended since the journal was opened.
    public var bytesAppended: Int64 { state.withLock { $0.appended } }

    /// The sequence number the next message will get.
    public var nextSequence: UInt64 { state.withLock { $0.nextSequence } }

    /// Syncs and closes the current segment.
    public func close() {
        state.withLock { s in
            guard s.fd >= 0 else { return }
            fsync(s.fd)
            Glibc.close(s.fd)
            s.fd = -1
        }
    }

    private func rotate(_ s: inout State, first: UInt64) throws(StorageError) {
        if s.fd >= 0 {
            fsync(s.fd)
            Glibc.close(s.fd)
            s.fd = -1
        }
        let path = (directory as NSString).appendingPathComponent(Self.segmentName(first: first))
        // Every payload is in here: for the daemon's user alone, whatever the umask.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError(operation: "create", path: path, errno: errno) }
        _ = fchmod(fd, 0o600)
        var header = Self.magic
        header += le(first)
        guard writeAll(fd, header, header.count), fsync(fd) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw StorageError(operation: "write", path: path, errno: e)
        }
        syncDirectory(of: path)
        s.fd = fd
        s.path = path
        s.size = Int64(header.count)
    }

    static func segmentName(first: UInt64) -> String {
        let digits = String(first)
        return "journal-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".cbmj"
    }

    /// The segments of a journal directory, oldest first.
    public static func segments(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("journal-") && $0.hasSuffix(".cbmj") }
            .sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// The bytes of a segment holding `messages`, numbered from `first`.
    public static func segment(_ messages: [InboundMessage], from first: UInt64) -> [UInt8] {
        var out = magic + le(first)
        for (i, m) in messages.enumerated() { frame(sequence: first + UInt64(i), m, into: &out) }
        return out
    }

    static func frame(sequence: UInt64, _ m: InboundMessage) -> [UInt8] {
        var out: [UInt8] = []
        frame(sequence: sequence, m, into: &out)
        return out
    }

    /// Frames a record at the end of `out`, built in place: on the loop thread, a message costs
    /// one buffer that is reused, not a handful of small arrays.
    static func frame(sequence: UInt64, _ m: InboundMessage, into out: inout [UInt8]) {
        var topic = m.topic
        topic.withUTF8 { topicBytes in
            let topicCount = min(topicBytes.count, 65_535)
            let bodyCount = 20 + topicCount + m.payload.count
            let start = out.count
            out.reserveCapacity(start + 8 + bodyCount)
            appendLE(UInt64(UInt32(bodyCount)), bytes: 4, to: &out)
            appendLE(0, bytes: 4, to: &out)  // the checksum, once the body is there
            appendLE(sequence, bytes: 8, to: &out)
            appendLE(UInt64(bitPattern: m.receivedAt.microseconds), bytes: 8, to: &out)
            out.append(m.qos)
            out.append(m.retained ? 1 : 0)
            appendLE(UInt64(topicCount), bytes: 2, to: &out)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: topicBytes[..<topicCount]))
            out.append(contentsOf: m.payload)
            let sum = checksum(out[(start + 8)...])
            for i in 0..<4 { out[start + 4 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt32(i))) }
        }
    }

    @inline(__always) private static func appendLE(_ v: UInt64, bytes: Int, to out: inout [UInt8]) {
        for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// CRC-32 of the bytes; `continuing` one of bytes before them.
    static func checksum(_ b: ArraySlice<UInt8>, continuing c: UInt32 = 0) -> UInt32 {
        b.withUnsafeBufferPointer { UInt32(crc32(UInt(c), $0.baseAddress, UInt32($0.count))) }
    }
}

@inline(__always) func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
@inline(__always) func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
@inline(__always) func readLE32(_ b: [UInt8], _ p: Int) -> UInt32 {
    UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24
}
@inline(__always) func readLE64(_ b: [UInt8], _ p: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in (0..<8).reversed() { v = v << 8 | UInt64(b[p + i]) }
    return v
}
