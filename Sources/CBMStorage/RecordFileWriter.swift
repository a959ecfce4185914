import CBMCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An error from the file system, with the operation, the path and the system's reason.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public var operation: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// Appends the records of one family to a JSON Lines file under `directory/family/`, named by
/// the time it was opened (`readings-20261128T080000+0800.jsonl`), so that a sorted listing is
/// chronological. Every batch is written whole with `write(2)`; `close()` fsyncs the file and
/// its directory.
///
/// This is the simple writer of the first version; rotation, atomic close and retention replace
/// it in the rotating sink.
public final class RecordFileWriter {
    /// The family written.
    public let family: RecordFamily
    /// The file written to.
    public let path: String
    private var fd: Int32 = -1
    /// Bytes written so far.
    public private(set) var bytesWritten: Int64 = 0

    /// Creates the family's folder (and the output directory) and opens a new file in it.
    public init(directory: String, family: RecordFamily, openedAt: Timestamp, offsetSeconds: Int) throws(StorageError) {
        self.family = family
        let folder = (directory as NSString).appendingPathComponent(family.rawValue)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw StorageError(operation: "create directory", path: folder, errno: (error as NSError).code == 0 ? EIO : Int32(truncatingIfNeeded: (error as NSError).code))
        }
        let stamp = Self.stamp(openedAt, offsetSeconds: offsetSeconds)
        var candidate = (folder as NSString).appendingPathComponent("\(family.rawValue)-\(stamp).jsonl")
        var n = 1
        while FileManager.default.fileExists(atPath: candidate) {
            n += 1
            candidate = (folder as NSString).appendingPathComponent("\(family.rawValue)-\(stamp)-\(n).jsonl")
        }
        path = candidate
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(operation: "open", path: path, errno: errno) }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// `20261128T080000+0800`: basic ISO 8601, which sorts chronologically within one offset.
    static func stamp(_ t: Timestamp, offsetSeconds: Int) -> String {
        var iso = RFC3339.format(Timestamp(seconds: t.microseconds / 1_000_000), offsetSeconds: offsetSeconds)
        iso.removeAll { $0 == "-" || $0 == ":" }
        return iso
    }

    /// Appends bytes (whole lines), retrying short writes and interruptions.
    public func append(_ bytes: [UInt8]) throws(StorageError) {
        var done = 0
        let result: StorageError? = bytes.withUnsafeBytes { buf in
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return StorageError(operation: "write", path: path, errno: errno)
                }
                done += n
            }
            return nil
        }
        bytesWritten += Int64(done)
        if let result { throw result }
    }

    /// Makes what was written durable.
    public func sync() throws(StorageError) {
        guard fsync(fd) == 0 else { throw StorageError(operation: "fsync", path: path, errno: errno) }
    }

    /// Syncs and closes the file, then syncs its directory so the file's name is durable too.
    public func close() throws(StorageError) {
        guard fd >= 0 else { return }
        defer { fd = -1 }
        if fsync(fd) != 0 { let e = errno; Glibc.close(fd); throw StorageError(operation: "fsync", path: path, errno: e) }
        guard Glibc.close(fd) == 0 else { throw StorageError(operation: "close", path: path, errno: errno) }
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            Glibc.close(dir)
        }
    }
}
