import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoint files: the pipeline's state and the journal sequence it reflects, in two
/// generations. A new checkpoint is written aside, fsynced, and put in place with renames (the
/// current one becoming the previous one), so a crash at any moment leaves at least one whole
/// checkpoint, and a damaged current one still has the previous one behind it.
///
/// Layout: `CBMC0002` · sequence (u64) · state length (u64) · CRC-32 of the sequence, the length
/// and the state (u32) · state, little endian: every byte recovery trusts is checked. Files of
/// the first layout (`CBMC0001`, whose CRC covers the state only) are still read.
public struct CheckpointStore: Sendable {
    /// The current checkpoint.
    public let path: String
    /// The one before it.
    public let previousPath: String
    static let magic: [UInt8] = Array("CBMC0002".utf8)
    static let firstMagic: [UInt8] = Array("CBMC0001".utf8)

    public init(directory: String) {
        path = (directory as NSString).appendingPathComponent("checkpoint.bin")
        previousPath = (directory as NSString).appendingPathComponent("checkpoint.prev.bin")
    }

    /// A loaded checkpoint.
    public struct Checkpoint: Sendable {
        /// The last journal sequence whose message the state reflects.
        public var sequence: UInt64
        /// The state.
        public var state: [UInt8]
        /// The file it came from, and when that was written.
        public var file: String
        public var written: Date?
    }

    /// Why a checkpoint file could not be used.
    public struct Damaged: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var why: String
        public var description: String { "\(file): \(why)" }
    }

    /// Writes a checkpoint; the current one becomes the previous one. Returns the sequence of the
    /// previous one now kept (the journal must keep what it needs), if it can be read.
    @discardableResult
    public func write(sequence: UInt64, state: [UInt8]) throws(StorageError) -> UInt64? {
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw StorageError(operation: "create directory", path: path, errno: EACCES)
        }
        var bytes = Self.magic
        bytes += le(sequence)
        bytes += le(UInt64(state.count))
        let header = le(sequence) + le(UInt64(state.count))
        bytes += le32(Journal.checksum(state[...], continuing: Journal.checksum(header[...])))
        bytes += state
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError(operation: "create", path: tmp, errno: errno) }
        _ = fchmod(fd, 0o600)
        let ok = writeAll(fd, bytes, bytes.count) && fsync(fd) == 0
        let e = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw StorageError(operation: "write", path: tmp, errno: e)
        }
        if FileManager.default.fileExists(atPath: path) && rename(path, previousPath) != 0 {
            throw StorageError(operation: "rename", path: path, errno: errno)
        }
        guard rename(tmp, path) == 0 else { throw StorageError(operation: "rename", path: tmp, errno: errno) }
        syncDirectory(of: path)
        return try? Self.read(previousPath).get().sequence
    }

    /// The checkpoints there are, newest first (the current one, then the previous one), each
    /// loaded or with why it cannot be.
    public func load() -> [Result<Checkpoint, Damaged>] {
        [path, previousPath].filter { FileManager.default.fileExists(atPath: $0) }.map { Self.read($0) }
    }

    static func read(_ file: String) -> Result<Checkpoint, Damaged> {
        guard let data = FileManager.default.contents(atPath: file) else { return .failure(Damaged(file: file, why: "cannot be read")) }
        let b = [UInt8](data)
        guard b.count >= 28 else { return .failure(Damaged(file: file, why: "\(b.count) bytes, shorter than a checkpoint's header")) }
        let head = Array(b[0..<8])
        guard head == Self.magic || head == Self.firstMagic else { return .failure(Damaged(file: file, why: "not a checkpoint (its first bytes)")) }
        let sequence = readLE64(b, 8)
        let length = readLE64(b, 16)
        guard length == UInt64(b.count - 28) else {
            return .failure(Damaged(file: file, why: "its header gives \(length) bytes of state, the file holds \(b.count - 28)"))
        }
        let crc = head == Self.magic ? Journal.checksum(b[28...], continuing: Journal.checksum(b[8..<24])) : Journal.checksum(b[28...])
        guard crc == readLE32(b, 24) else { return .failure(Damaged(file: file, why: "its checksum does not match")) }
        let written = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date
        return .success(Checkpoint(sequence: sequence, state: Array(b[28...]), file: file, written: written))
    }
}
