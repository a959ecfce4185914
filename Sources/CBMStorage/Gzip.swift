import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// gzip (RFC 1952) through zlib, file to file, in bounded memory.
public enum Gzip {
    /// Compresses `source` into `destination` (written as `destination.tmp`, fsynced, then renamed,
    /// so a reader never sees half a compressed file).
    public static func compress(_ source: String, to destination: String, level: Int32 = 6) throws(StorageError) {
        let tmp = destination + ".tmp"
        guard let input = fopen(source, "rb") else { throw StorageError(operation: "open", path: source, errno: errno) }
        defer { fclose(input) }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StorageError(operation: "create", path: tmp, errno: errno) }
        _ = fchmod(fd, 0o640)
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            close(fd)
            throw StorageError(operation: "deflateInit", path: source, errno: ENOMEM)
        }
        defer { deflateEnd(&stream) }
        var inBuffer = [UInt8](repeating: 0, count: 1 << 16)
        var outBuffer = [UInt8](repeating: 0, count: 1 << 16)
        var failure: StorageError?
        loop: while true {
            let n = fread(&inBuffer, 1, inBuffer.count, input)
            if ferror(input) != 0 { failure = StorageError(operation: "read", path: source, errno: EIO); break }
            let flush = n < inBuffer.count ? Z_FINISH : Z_NO_FLUSH
            let done: Bool = inBuffer.withUnsafeMutableBufferPointer { inPtr in
                stream.next_in = inPtr.baseAddress
                stream.avail_in = UInt32(n)
                repeat {
                    let produced: Int = outBuffer.withUnsafeMutableBufferPointer { outPtr in
                        stream.next_out = outPtr.baseAddress
                        stream.avail_out = UInt32(outPtr.count)
                        deflate(&stream, flush)
                        return outPtr.count - Int(stream.avail_out)
                    }
                    if produced > 0, !writeAll(fd, outBuffer, produced) {
                        failure = StorageError(operation: "write", path: tmp, errno: errno)
                        return true
                    }
                } while stream.avail_out == 0
                return flush == Z_FINISH
            }
            if done { break loop }
        }
        if failure == nil && fsync(fd) != 0 { failure = StorageError(operation: "fsync", path: tmp, errno: errno) }
        close(fd)
        if let failure {
            unlink(tmp)
            throw failure
        }
        guard rename(tmp, destination) == 0 else {
            let e = errno
            unlink(tmp)
            throw StorageError(operation: "rename", path: destination, errno: e)
        }
        syncDirectory(of: destination)
    }

    /// The decompressed bytes of a gzip file (for tests and tools; small files).
    public static func decompress(_ path: String) throws(StorageError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(operation: "read", path: path, errno: ENOENT)
        }
        var input = [UInt8](data)
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw StorageError(operation: "inflateInit", path: path, errno: ENOMEM)
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inPtr in
            stream.next_in = inPtr.baseAddress
            stream.avail_in = UInt32(inPtr.count)
            repeat {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { outPtr in
                    stream.next_out = outPtr.baseAddress
                    stream.avail_out = UInt32(outPtr.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outPtr.count - Int(stream.avail_out)
                }
                out.append(contentsOf: buffer[0..<produced])
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else { throw StorageError(operation: "inflate", path: path, errno: EILSEQ) }
        return out
    }
}

/// Reads `count` bytes at `offset` of an open file: fewer at its end or on an error.
func readAll(_ fd: Int32, count: Int, at offset: Int64) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: max(count, 0))
    var done = 0
    while done < out.count {
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        done += n
    }
    out.removeLast(out.count - done)
    return out
}

/// Writes all of `count` bytes of `buffer`; false on an error (errno set).
func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
    var done = 0
    return buffer.withUnsafeBytes { raw in
        while done < count {
            let n = write(fd, raw.baseAddress! + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }
}

/// fsyncs the directory a path is in, so that a rename or a new name in it is durable.
func syncDirectory(of path: String) {
    let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dir >= 0 {
        _ = fsync(dir)
        close(dir)
    }
}
