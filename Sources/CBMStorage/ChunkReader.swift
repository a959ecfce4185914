import CZlib
import Foundation

/// Reads a file in chunks, decompressing it on the way if it is gzip: recordings of any size in
/// bounded memory. A plain file is read as it is, straight into the chunk; a gzip file (told by
/// its first two bytes) through zlib, and so is a pipe, whose first bytes cannot be looked at
/// before they are read (zlib's gz functions read plain data as it is, copied once more).
public final class ChunkReader {
    private enum Source {
        case plain(Int32)
        case gzip(gzFile)
    }
    private let source: Source
    public let path: String

    public init(path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(operation: "open", path: path, errno: errno == 0 ? ENOENT : errno) }
        self.path = path
        var magic: (UInt8, UInt8) = (0, 0)
        let peeked = withUnsafeMutableBytes(of: &magic) { pread(fd, $0.baseAddress, 2, 0) }
        if peeked >= 0 && !(peeked == 2 && magic == (0x1F, 0x8B)) {
            source = .plain(fd)
            return
        }
        guard let f = gzdopen(fd, "rb") else {
            close(fd)
            throw StorageError(operation: "open", path: path, errno: ENOMEM)
        }
        gzbuffer(f, 1 << 20)
        source = .gzip(f)
    }

    deinit {
        switch source {
        case .plain(let fd): close(fd)
        case .gzip(let f): gzclose(f)
        }
    }

    /// The next chunk (at most `size` bytes), or nil at the end.
    public func next(_ size: Int = 1 << 20) throws(StorageError) -> [UInt8]? {
        // (Not zeroed first: the read fills what the chunk holds.)
        var n = 0
        var failure = EIO
        let buffer = [UInt8](unsafeUninitializedCapacity: size) { b, count in
            switch source {
            case .gzip(let f):
                n = Int(gzread(f, b.baseAddress, UInt32(size)))
            case .plain(let fd):
                // A whole chunk where the file has it (a read may return less).
                n = 0
                while n < size {
                    let got = read(fd, b.baseAddress! + n, size - n)
                    if got < 0 && errno == EINTR { continue }
                    if got <= 0 {
                        if got < 0 && n == 0 { (n, failure) = (-1, errno) }
                        break
                    }
                    n += got
                }
            }
            count = max(0, n)
        }
        guard n >= 0 else { throw StorageError(operation: "read", path: path, errno: failure) }
        guard n > 0 else { return nil }
        return buffer
    }
}
