import CZlib
import Foundation

/// Reads a file in chunks, decompressing it on the way if it is gzip (zlib's gz functions read
/// plain files as they are): recordings of any size in bounded memory.
public final class ChunkReader {
    private let file: gzFile
    public let path: String

    public init(path: String) throws(StorageError) {
        guard let f = gzopen(path, "rb") else { throw StorageError(operation: "open", path: path, errno: errno == 0 ? ENOENT : errno) }
        file = f
        self.path = path
        gzbuffer(f, 1 << 20)
    }

    deinit { gzclose(file) }

    /// The next chunk (at most `size` bytes), or nil at the end.
    public func next(_ size: Int = 1 << 20) throws(StorageError) -> [UInt8]? {
        // (Not zeroed first: the read fills what the chunk holds.)
        var n: Int32 = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: size) { b, count in
            n = gzread(file, b.baseAddress, UInt32(size))
            count = max(0, Int(n))
        }
        guard n >= 0 else { throw StorageError(operation: "read", path: path, errno: EIO) }
        guard n > 0 else { return nil }
        return buffer
    }
}
