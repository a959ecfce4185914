import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoint files: the pipeline's state and the journal sequence it reflects, in two
/// generations. A new checkpoint is written aside, fsynced, and put in place with renames (the
/// current one becoming the previous one), so a crash at any moment leaves at least one whole
/// checkpoint, and a damaged current one still has the previous one behind it.
///
/// Layout: `CBMC0002` · sequence (u64) · state length (u64) · outputs length (u64) · CRC-32 of
/// everything after the magic but itself (u32) · state · outputs, little endian: every byte
/// recovery trusts is checked. `outputs` says how far each output file was written at the
/// checkpoint. Files of the first layout (`CBMC0001`: no outputs, a CRC of the state only) are
/// still read.
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
        /// How far the output files were written at the checkpoint (empty in the first layout).
        public var outputs: [UInt8] = []
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

    /// Writes a checkpoint; the current one becomes the previous one, unless `keepPrevious` (the
    /// current one was never committed with the archive, so it is no fallback: it is replaced).
    /// Returns the sequence of the previous one now kept (the journal must keep what it needs), if
    /// it can be read.
    @discardableResult
    public func write(sequence: UInt64, state: [UInt8], outputs: [UInt8] = [], keepPrevious: Bool = false) throws(StorageError) -> UInt64? {
        // The one before is kept as the fallback.
        try SafeFiles.replace(path, with: Self.encode(sequence: sequence, state: state, outputs: outputs), mode: 0o600) { () throws(StorageError) in
            if !keepPrevious && FileManager.default.fileExists(atPath: path) && rename(path, previousPath) != 0 {
                throw StorageError(operation: "rename", path: path, errno: errno)
            }
        }
        return try? Self.read(previousPath).get().sequence
    }

    /// Puts the previous checkpoint back in place of the current one. Recovery does this when it
    /// resumes from the previous one because the current one is damaged or was never committed
    /// with the archive: otherwise the next write would keep that one as the fallback, and a stop
    /// before the next commit would leave no checkpoint the archive matches. A damaged one is
    /// kept as `quarantine/checkpoint.<time>.bin` (returned), an uncommitted one dropped.
    @discardableResult
    public func dropCurrent(damaged: Bool) throws(StorageError) -> String? {
        var kept: String?
        if damaged {
            let folder = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("quarantine")
            try SafeFiles.makeDirectory(folder, mode: 0o700)
            let aside = (folder as NSString).appendingPathComponent("checkpoint.\(Int(Date().timeIntervalSince1970)).bin")
            guard rename(path, aside) == 0 else { throw StorageError(operation: "rename", path: path, errno: errno) }
            kept = aside
        }
        guard rename(previousPath, path) == 0 else { throw StorageError(operation: "rename", path: previousPath, errno: errno) }
        syncDirectory(of: path)
        return kept
    }

    /// A checkpoint file's bytes: magic, sequence, the two lengths, a checksum over all of them
    /// and the contents, then the state and the output marks.
    public static func encode(sequence: UInt64, state: [UInt8], outputs: [UInt8] = []) -> [UInt8] {
        let header = le(sequence) + le(UInt64(state.count)) + le(UInt64(outputs.count))
        let crc = Journal.checksum(outputs[...], continuing: Journal.checksum(state[...], continuing: Journal.checksum(header[...])))
        var bytes = magic + header + le32(crc)
        bytes += state
        bytes += outputs
        return bytes
    }

    /// The checkpoints there are, newest first (the current one, then the previous one), each
    /// loaded or with why it cannot be.
    public func load() -> [Result<Checkpoint, Damaged>] {
        [path, previousPath].filter { FileManager.default.fileExists(atPath: $0) }.map { Self.read($0) }
    }

    static func read(_ file: String) -> Result<Checkpoint, Damaged> {
        guard let data = FileManager.default.contents(atPath: file) else { return .failure(Damaged(file: file, why: "cannot be read")) }
        let written = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date
        return parse([UInt8](data), file: file, written: written)
    }

    /// A checkpoint file's bytes, checked.
    public static func parse(_ b: [UInt8], file: String, written: Date? = nil) -> Result<Checkpoint, Damaged> {
        func damaged(_ why: String) -> Result<Checkpoint, Damaged> { .failure(Damaged(file: file, why: why)) }
        guard b.count >= 8 else { return damaged("\(b.count) bytes, shorter than a checkpoint's header") }
        let head = Array(b[0..<8])
        if head == Self.magic {
            guard b.count >= 36 else { return damaged("\(b.count) bytes, shorter than a checkpoint's header") }
            let stateLength = readLE64(b, 16), outputsLength = readLE64(b, 24)
            guard stateLength <= UInt64(b.count), outputsLength <= UInt64(b.count), 36 + stateLength + outputsLength == UInt64(b.count) else {
                return damaged("its header gives \(stateLength) + \(outputsLength) bytes, the file holds \(b.count - 36)")
            }
            guard Journal.checksum(b[36...], continuing: Journal.checksum(b[8..<32])) == readLE32(b, 32) else {
                return damaged("its checksum does not match")
            }
            let stateEnd = 36 + Int(stateLength)
            return .success(Checkpoint(sequence: readLE64(b, 8), state: Array(b[36..<stateEnd]), outputs: Array(b[stateEnd...]),
                                       file: file, written: written))
        }
        guard head == Self.firstMagic else { return damaged("not a checkpoint (its first bytes)") }
        guard b.count >= 28 else { return damaged("\(b.count) bytes, shorter than a checkpoint's header") }
        let length = readLE64(b, 16)
        guard length == UInt64(b.count - 28) else { return damaged("its header gives \(length) bytes of state, the file holds \(b.count - 28)") }
        guard Journal.checksum(b[28...]) == readLE32(b, 24) else { return damaged("its checksum does not match") }
        return .success(Checkpoint(sequence: readLE64(b, 8), state: Array(b[28...]), file: file, written: written))
    }
}
