import CBMCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading the journal back (recovery, replay of a journal), finding its extent, and pruning it
/// behind a checkpoint.
extension Journal {
    /// Reads every record of the journal's segments with a sequence after `after`, in order,
    /// calling `body` for each. Damage is reported to `damage`; when `repair`, the damaged bytes
    /// are first copied to `quarantine/` beside the segments, and only a torn tail (nothing valid
    /// after it) is cut from its file. Returns the highest sequence read.
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
        // Streamed a mebibyte at a time: a segment is never held whole, nor copied whole. (Read
        // as it is, not through ``ChunkReader``: a damaged header must not be taken for gzip's.)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(operation: "read", path: path, errno: errno) }
        defer { Glibc.close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var scanner = JournalScanner(name: path)
        var highest: UInt64 = 0
        var cutAt: Int64?
        var atEnd = false
        while true {
            while let item = scanner.next(atEnd: atEnd) {
                switch item {
                case .record(let r):
                    highest = max(highest, r.sequence)
                    if r.sequence > after { try body(r) }
                case .damage(let d):
                    if repair {
                        switch d {
                        case .skipped(_, let offset, let bytes, _), .tornTail(_, let offset, let bytes):
                            // From the file when the scanner no longer holds them all.
                            quarantine(path, offset: offset,
                                       bytes: scanner.bytes(offset: offset, count: bytes) ?? fileBytes(path, offset: offset, count: bytes))
                            if case .tornTail = d { cutAt = offset }
                        case .lengthRepaired: break
                        }
                    }
                    damage(d)
                }
            }
            if atEnd { break }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError(operation: "read", path: path, errno: errno)
            }
            if n == 0 { atEnd = true } else { scanner.feed(chunk[0..<n]) }
        }
        if let cutAt { _ = truncate(path, off_t(cutAt)) }
        return highest
    }

    /// `count` bytes of a file from `offset` (fewer at its end; none when it cannot be read).
    static func fileBytes(_ path: String, offset: Int64, count: Int64) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        return readAll(fd, count: Int(count), at: offset)
    }

    /// Copies damaged bytes of a segment to `quarantine/<segment>.<offset>.bin` beside it.
    static func quarantine(_ segment: String, offset: Int64, bytes: [UInt8]) {
        let folder = ((segment as NSString).deletingLastPathComponent as NSString).appendingPathComponent("quarantine")
        try? SafeFiles.makeDirectory(folder, mode: 0o700)
        let path = (folder as NSString).appendingPathComponent("\((segment as NSString).lastPathComponent).\(offset).bin")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = fchmod(fd, 0o600)
        _ = writeAll(fd, bytes, bytes.count)
        _ = fsync(fd)
        Glibc.close(fd)
        syncDirectory(of: path)
    }

    /// Reads the records of a segment's bytes (a recording read whole).
    @discardableResult
    public static func read(bytes: [UInt8], name: String, after: UInt64 = 0, damage: (Damage) -> Void,
                            _ body: (Record) throws -> Void) throws -> UInt64 {
        var scanner = JournalScanner(name: name)
        scanner.feed(bytes)
        var highest: UInt64 = 0
        while let item = scanner.next(atEnd: true) {
            switch item {
            case .record(let r):
                highest = max(highest, r.sequence)
                if r.sequence > after { try body(r) }
            case .damage(let d): damage(d)
            }
        }
        return highest
    }

    /// The highest sequence the journal knows of: the last good record of its newest segment that
    /// has one, and no less than the sequence before its newest segment's first (a new segment is
    /// begun at every start, so an empty one still says how far the journal came).
    public static func highestSequence(in directory: String) -> UInt64 {
        let all = segments(in: directory)
        var known = sequenceBeforeNewest(in: directory)
        for path in all.reversed() {
            let read: UInt64? = try? readSegment(path, repair: false, damage: { _ in }, { (_: Record) in })
            let highest: UInt64 = read ?? 0
            if highest > 0 {
                known = max(known, highest)
                break
            }
        }
        return known
    }

    /// The sequence before the newest segment's first (by its name; 0 without segments): the
    /// journal reached at least that far.
    public static func sequenceBeforeNewest(in directory: String) -> UInt64 {
        guard let newest = segments(in: directory).last, Self.first(of: newest) > 0 else { return 0 }
        return Self.first(of: newest) - 1
    }

    /// The first sequence of the oldest segment (by its name): 1 when the journal holds all of
    /// its history, more when older segments were pruned; nil for an empty directory.
    public static func firstSequence(in directory: String) -> UInt64? {
        segments(in: directory).first.map { Self.first(of: $0) }
    }

    /// The receive time of the journal's first good record.
    public static func firstRecordTime(in directory: String) -> Timestamp? {
        struct Found: Error { var time: Timestamp }
        for path in segments(in: directory) {
            do {
                try readSegment(path, repair: false, damage: { _ in }) { r in throw Found(time: r.message.receivedAt) }
            } catch let f as Found {
                return f.time
            } catch {
                continue
            }
        }
        return nil
    }

    static func first(of segment: String) -> UInt64 {
        UInt64((segment as NSString).lastPathComponent.dropFirst(8).prefix(20)) ?? 0
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
            let nextFirst = first(of: all[i + 1])
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
