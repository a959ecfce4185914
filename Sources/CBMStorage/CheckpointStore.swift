import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoint file: the pipeline's state and the journal sequence it reflects, replaced
/// atomically (written aside, fsynced, renamed, directory fsynced) and checked by a CRC on load.
public struct CheckpointStore: Sendable {
    public let path: String
    static let magic: [UInt8] = Array("CBMC0001".utf8)

    public init(directory: String) {
        path = (directory as NSString).appendingPathComponent("checkpoint.bin")
    }

    /// A loaded checkpoint.
    public struct Checkpoint: Sendable {
        /// The last journal sequence whose message the state reflects.
        public var sequence: UInt64
        /// The state.
        public var state: [UInt8]
    }

    /// Writes a checkpoint.
    public func write(sequence: UInt64, state: [UInt8]) throws(StorageError) {
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw StorageError(operation: "create directory", path: path, errno: EACCES)
        }
        var bytes = Self.magic
        bytes += le(sequence)
        bytes += le(UInt64(state.count))
        bytes += le32(Journal.checksum(state[...]))
        bytes += state
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(operation: "create", path: tmp, errno: errno) }
        let ok = writeAll(fd, bytes, bytes.count) && fsync(fd) == 0
        let e = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw StorageError(operation: "write", path: tmp, errno: e)
        }
        guard rename(tmp, path) == 0 else { throw StorageError(operation: "rename", path: tmp, errno: errno) }
        syncDirectory(of: path)
    }

    /// The checkpoint, nil if there is none; throws if it is there but damaged.
    public func load() throws(StorageError) -> Checkpoint? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let b = [UInt8](data)
        guard b.count >= 28, Array(b[0..<8]) == Self.magic else { throw StorageError(operation: "load checkpoint", path: path, errno: EILSEQ) }
        let seq = readLE64(b, 8)
        let length = Int(readLE64(b, 16))
        guard 28 + length == b.count else { throw StorageError(operation: "load checkpoint", path: path, errno: EILSEQ) }
        let state = Array(b[28...])
        guard Journal.checksum(state[...]) == readLE32(b, 24) else { throw StorageError(operation: "load checkpoint", path: path, errno: EILSEQ) }
        return Checkpoint(sequence: seq, state: state)
    }
}
