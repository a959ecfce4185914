import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File system steps that several stores share, each failing with the system's errno.
public enum SafeFiles {
    /// Makes a directory and its parents (`mkdir -p`): the directory with `mode`, its parents as
    /// the umask says. A file where a directory should be is an error (`ENOTDIR`).
    public static func makeDirectory(_ path: String, mode: mode_t = 0o777) throws(StorageError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw StorageError(operation: "create directory", path: path, errno: ENOTDIR) }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && parent != "/" { try makeDirectory(parent) }
        if mkdir(path, mode) != 0 {
            let e = errno
            guard e == EEXIST, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw StorageError(operation: "create directory", path: path, errno: e)
            }
        }
    }

    /// Writes a file whole or not at all: to `path.tmp`, fsynced, then renamed over `path` (after
    /// `before`, which may move the old one aside), and the directory synced.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t,
                               before: () throws(StorageError) -> Void = {}) throws(StorageError) {
        try makeDirectory((path as NSString).deletingLastPathComponent)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StorageError(operation: "create", path: tmp, errno: errno) }
        _ = fchmod(fd, mode)  // whatever the umask
        let ok = writeAll(fd, bytes, bytes.count) && fsync(fd) == 0
        let e = errno
        Glibc.close(fd)
        guard ok else {
            unlink(tmp)
            throw StorageError(operation: "write", path: tmp, errno: e)
        }
        try before()
        guard rename(tmp, path) == 0 else { throw StorageError(operation: "rename", path: tmp, errno: errno) }
        syncDirectory(of: path)
    }
}
