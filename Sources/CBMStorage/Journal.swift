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
        /// A record whose checksum does not match was skipped.
        case badChecksum(segment: String, offset: Int64, sequence: UInt64?)
        /// An incomplete record at the end of a segment (a write cut short) was cut away.
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
    }
    private let state: Mutex<State>

    /// Opens the journal for appending: the next sequence follows `after` (the last one recovered).
    public init(directory: String, segmentBytes: Int64 = 64 << 20, policy: SyncPolicy = .interval,
                after lastSequence: UInt64) throws(StorageError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.policy = policy
        state = Mutex(State(nextSequence: lastSequence + 1))
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError(operation: "create directory", path: directory, errno: EACCES)
        }
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
            let record = Self.frame(sequence: seq, m)
            if s.fd < 0 || s.size + Int64(record.count) > segmentBytes && s.size > Int64(Self.magic.count + 8) {
                try rotate(&s, first: seq)
            }
            guard writeAll(s.fd, record, record.count) else {
                let e = errno
                _ = ftruncate(s.fd, off_t(s.size))
                throw StorageError(operation: "write", path: s.path, errno: e)
            }
            s.size += Int64(record.count)
            s.nextSequence = seq + 1
            if policy == .always {
                guard fsync(s.fd) == 0 else { throw StorageError(operation: "fsync", path: s.path, errno: errno) }
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
            guard fsync(s.fd) == 0 else { throw StorageError(operation: "fsync", path: s.path, errno: errno) }
            s.unsynced = false
        }
    }

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
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(operation: "create", path: path, errno: errno) }
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

    static func frame(sequence: UInt64, _ m: InboundMessage) -> [UInt8] {
        let topic = Array(m.topic.utf8.prefix(65_535))
        var body: [UInt8] = []
        body.reserveCapacity(20 + topic.count + m.payload.count)
        body += le(sequence)
        body += le(UInt64(bitPattern: m.receivedAt.microseconds))
        body.append(m.qos)
        body.append(m.retained ? 1 : 0)
        body.append(UInt8(topic.count & 0xff))
        body.append(UInt8(topic.count >> 8))
        body += topic
        body += m.payload
        var out: [UInt8] = []
        out.reserveCapacity(8 + body.count)
        out += le32(UInt32(body.count))
        out += le32(checksum(body[...]))
        out += body
        return out
    }

    static func checksum(_ b: ArraySlice<UInt8>) -> UInt32 {
        b.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }

    // MARK: reading

    /// Reads every record of the journal's segments with a sequence after `after`, in order,
    /// calling `body` for each. A record whose checksum fails is skipped; an incomplete record at
    /// the end of a segment is cut away (when `repair`, the file is truncated there). Both are
    /// reported to `damage`. Returns the highest sequence read.
    @discardableResult
    public static func read(directory: String, after: UInt64 = 0, repair: Bool,
                            damage: (Damage) -> Void, _ body: (Record) throws -> Void) throws -> UInt64 {
        var highest = after
        for path in segments(in: directory) {
            highest = max(highest, try readSegment(path, after: after, repair: repair, damage: damage, body))
        }
        return highest
    }

    /// Reads one segment file (also for `replay`).
    @discardableResult
    public static func readSegment(_ path: String, after: UInt64 = 0, repair: Bool,
                                   damage: (Damage) -> Void, _ body: (Record) throws -> Void) throws -> UInt64 {
        guard let data = FileManager.default.contents(atPath: path) else { throw StorageError(operation: "read", path: path, errno: errno) }
        let bytes = [UInt8](data)
        return try read(bytes: bytes, name: path, after: after, damage: { d in
            if repair, case .tornTail(_, let offset, _) = d { _ = truncate(path, off_t(offset)) }
            damage(d)
        }, body)
    }

    /// Reads the records of a segment's bytes.
    @discardableResult
    public static func read(bytes: [UInt8], name: String, after: UInt64 = 0, damage: (Damage) -> Void,
                     _ body: (Record) throws -> Void) throws -> UInt64 {
        var highest: UInt64 = 0
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else {
            if !bytes.isEmpty { damage(.tornTail(segment: name, offset: 0, bytes: Int64(bytes.count))) }
            return 0
        }
        var p = 16
        while p < bytes.count {
            guard p + 8 <= bytes.count else {
                damage(.tornTail(segment: name, offset: Int64(p), bytes: Int64(bytes.count - p)))
                break
            }
            let length = Int(readLE32(bytes, p))
            let crc = readLE32(bytes, p + 4)
            guard length >= 20, p + 8 + length <= bytes.count else {
                // A length that runs past the end: a write cut short (or a damaged length, after
                // which nothing can be trusted).
                damage(.tornTail(segment: name, offset: Int64(p), bytes: Int64(bytes.count - p)))
                break
            }
            let record = bytes[(p + 8)..<(p + 8 + length)]
            let seq = readLE64(bytes, p + 8)
            guard checksum(record) == crc else {
                damage(.badChecksum(segment: name, offset: Int64(p), sequence: seq))
                p += 8 + length
                continue
            }
            p += 8 + length
            highest = max(highest, seq)
            guard seq > after else { continue }
            let b = record.startIndex
            let time = Int64(bitPattern: readLE64(bytes, b + 8))
            let qos = bytes[b + 16]
            let retained = bytes[b + 17] != 0
            let topicLength = Int(bytes[b + 18]) | Int(bytes[b + 19]) << 8
            guard 20 + topicLength <= length else {
                damage(.badChecksum(segment: name, offset: Int64(p - 8 - length), sequence: seq))
                continue
            }
            let topic = String(decoding: bytes[(b + 20)..<(b + 20 + topicLength)], as: UTF8.self)
            let payload = Array(bytes[(b + 20 + topicLength)..<(b + length)])
            try body(Record(sequence: seq, message: InboundMessage(topic: topic, payload: payload, receivedAt: Timestamp(microseconds: time),
                                                                  qos: qos, retained: retained, sequence: seq, ownClock: true)))
        }
        return highest
    }

    /// Deletes segments that only hold records at or before `checkpoint` (the last checkpoint no
    /// longer needs them) and that are older than `maxAgeUS` or beyond `maxBytes` in total, oldest
    /// first. The newest segment is always kept. Returns what it deleted.
    @discardableResult
    public static func prune(directory: String, checkpoint: UInt64, maxAgeUS: Int64?, maxBytes: Int64?, now: Timestamp) -> [String] {
        let all = segments(in: directory)
        guard all.count > 1 else { return [] }
        var sizes: [Int64] = []
        var total: Int64 = 0
        for p in all {
            var st = stat()
            let size = stat(p, &st) == 0 ? Int64(st.st_size) : 0
            sizes.append(size)
            total += size
        }
        var removed: [String] = []
        for i in 0..<(all.count - 1) {
            // Segment i holds sequences below the first of segment i + 1.
            let nextFirst = UInt64(((all[i + 1] as NSString).lastPathComponent.dropFirst(8).prefix(20))) ?? 0
            guard nextFirst > 0, nextFirst - 1 <= checkpoint else { break }
            var st = stat()
            let modified = stat(all[i], &st) == 0 ? Int64(st.st_mtim.tv_sec) * 1_000_000 : now.microseconds
            let tooOld = maxAgeUS.map { now.microseconds - modified > $0 } ?? false
            let tooBig = maxBytes.map { total > $0 } ?? false
            guard tooOld || tooBig else { continue }
            if unlink(all[i]) == 0 { removed.append(all[i]) }
            total -= sizes[i]
        }
        return removed
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
