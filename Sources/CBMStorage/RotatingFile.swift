import CBMCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files of one record family in one format, rotated by size and by time.
///
/// The file being written is named `….open`; closing flushes, fsyncs, renames it to its final name
/// and fsyncs the directory, so a reader that takes only closed files never sees half a record,
/// and a closed file never changes again. A failed write is cut back to the last whole record
/// before the error is reported, so a retry never leaves a partial line behind. On start, a file
/// left open by a crash is repaired (a partial last line cut away) and closed.
public final class RotatingFile {
    /// How the files rotate and what they are.
    public struct Options: Sendable {
        /// Size at which a file is closed and the next one begun.
        public var maxBytes: Int64 = 64 << 20
        /// Time rotation interval (a divisor of a day), aligned to the zone's calendar.
        public var intervalUS: Int64 = 86_400_000_000
        /// The local time of day a period begins at (the gas day's start): a daily file is a gas day.
        public var dayStartUS: Int64 = 0
        /// The zone of the calendar and of the names.
        public var zone = TimeZone(identifier: "Asia/Shanghai")!
        /// File extension: `jsonl` or `csv`.
        public var ext = "jsonl"
        /// The first line of every file (the CSV header), if any.
        public var header: [UInt8] = []
        public init() {}
    }

    /// Something that happened to the files that belongs in the event log.
    public enum Event: Sendable, Equatable {
        /// A file left open by a crash was repaired: `cutBytes` of a partial last line removed.
        case repaired(file: String, cutBytes: Int)
        /// A file was closed.
        case closed(file: String)
        /// The open file was deleted or replaced behind the writer's back: what it held was
        /// written again to a new file, and writing goes on there.
        case replaced(file: String, newFile: String, bytes: Int64, deleted: Bool)
    }

    public let directory: String
    public let family: String
    public let options: Options
    private var schedule: RotationSchedule
    private var fd: Int32 = -1
    private var openPath = ""
    private var finalPath = ""
    private var period = WindowSpan(start: Timestamp(microseconds: 0), end: Timestamp(microseconds: 0))
    private var size: Int64 = 0
    private var sequence = 0
    private let onClose: (String) -> Void
    /// Events that happen while writing (a replaced file), for the owner to collect.
    public private(set) var pendingEvents: [Event] = []

    /// Opens the family's folder (creating it) and repairs files a crash left open. `onClose` is
    /// called with the path of every file closed (for compression and retention).
    public init(directory: String, family: String, options: Options, onClose: @escaping (String) -> Void = { _ in },
                events: (Event) -> Void = { _ in }) throws(StorageError) {
        self.directory = directory
        self.family = family
        self.options = options
        self.onClose = onClose
        schedule = RotationSchedule(intervalUS: options.intervalUS, zone: options.zone, dayStartUS: options.dayStartUS)
        try SafeFiles.makeDirectory(directory)
        try recover(events: events)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// The path of the file being written, if one is open.
    public var currentPath: String? { fd >= 0 ? openPath : nil }

    /// Appends whole records. Rotates first when the period is over or the file would grow past
    /// `maxBytes` (a record set larger than that gets a file of its own).
    public func append(_ bytes: [UInt8], at now: Timestamp) throws(StorageError) {
        guard !bytes.isEmpty else { return }
        try checkStillThere(at: now)
        if fd >= 0 && now >= period.end { try closeCurrent() }
        if fd >= 0 && size > Int64(options.header.count) && size + Int64(bytes.count) > options.maxBytes {
            try closeCurrent()
            try openNext(now, sameSequenceRun: true)
        }
        if fd < 0 { try openNext(now, sameSequenceRun: false) }
        guard writeAll(fd, bytes, bytes.count) else {
            let e = errno
            // Cut back to the last whole record so that a retry leaves no partial line.
            _ = ftruncate(fd, off_t(size))
            throw StorageError(operation: "write", path: openPath, errno: e)
        }
        size += Int64(bytes.count)
    }

    /// Whether appending `count` bytes at `now` begins a new file: none is open, its period is
    /// over, or it would grow past `maxBytes`.
    public func willBegin(adding count: Int, at now: Timestamp) -> Bool {
        fd < 0 || now >= period.end || (size > Int64(options.header.count) && size + Int64(count) > options.maxBytes)
    }

    /// The sequence number a file begun at `now` would take: the next after the open one in the
    /// same period, or the next free one of the period (over every format's files).
    public func nextSequence(at now: Timestamp) -> Int {
        let p = schedule.period(containing: now)
        let free = nextFreeSequence(for: p.start)
        return fd >= 0 && p == period ? max(sequence + 1, free) : free
    }

    /// Closes the open file (if any) and begins the next at `now` with the given sequence number
    /// (so that a family's files in every format rotate together and share their names).
    public func begin(at now: Timestamp, sequence next: Int) throws(StorageError) {
        try checkStillThere(at: now)
        if fd >= 0 { try closeCurrent() }
        try openNext(now, sameSequenceRun: false, sequence: next)
    }

    /// The open file's path and its size (what a checkpoint records of the output).
    public var position: (path: String, bytes: Int64)? { fd >= 0 ? (finalPath, size) : nil }

    /// Takes the events that happened while writing.
    public func takeEvents() -> [Event] {
        defer { pendingEvents.removeAll() }
        return pendingEvents
    }

    /// If the open file was deleted or replaced behind our back, what we wrote to it is written
    /// again to a new file (nothing is lost), and writing goes on there.
    private func checkStillThere(at now: Timestamp) throws(StorageError) {
        guard fd >= 0 else { return }
        var mine = stat(), there = stat()
        guard fstat(fd, &mine) == 0 else { return }
        let gone = stat(openPath, &there) != 0
        guard gone || there.st_ino != mine.st_ino || there.st_dev != mine.st_dev else { return }
        // Read back what this file holds (it is ours: the descriptor keeps it).
        let held = readAll(fd, count: Int(size), at: 0)
        let lost = openPath
        Glibc.close(fd)
        fd = -1
        try openNext(now, sameSequenceRun: false, sequence: nextFreeSequence(for: schedule.period(containing: now).start))
        // The header of the new file is written already; the old bytes follow without theirs.
        let body = options.header.isEmpty || !held.starts(with: options.header) ? held : Array(held.dropFirst(options.header.count))
        guard writeAll(fd, body, body.count) else {
            let e = errno
            _ = ftruncate(fd, off_t(size))
            throw StorageError(operation: "write", path: openPath, errno: e)
        }
        size += Int64(body.count)
        pendingEvents.append(.replaced(file: String(lost.dropLast(5)), newFile: finalPath, bytes: Int64(body.count), deleted: gone))
    }

    /// Time rotation when nothing is written: closes the file once its period is over.
    public func tick(_ now: Timestamp) throws(StorageError) {
        if fd >= 0 && now >= period.end { try closeCurrent() }
    }

    /// Makes what was written durable without closing.
    public func sync() throws(StorageError) {
        if fd >= 0 && fsync(fd) != 0 { throw StorageError(operation: "fsync", path: openPath, errno: errno) }
    }

    /// Closes the open file, if any.
    public func close() throws(StorageError) {
        if fd >= 0 { try closeCurrent() }
    }

    private func openNext(_ now: Timestamp, sameSequenceRun: Bool, sequence given: Int? = nil) throws(StorageError) {
        let p = schedule.period(containing: now)
        if let given {
            period = p
            sequence = given
        } else if sameSequenceRun && p == period {
            sequence += 1
        } else {
            period = p
            sequence = nextFreeSequence(for: p.start)
        }
        let name = schedule.fileName(family: family, periodStart: p.start, sequence: sequence, ext: options.ext)
        finalPath = (directory as NSString).appendingPathComponent(name)
        openPath = finalPath + ".open"
        // Read and write: a file replaced behind our back is read back through this descriptor.
        var newFD = open(openPath, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o640)
        if newFD < 0 && errno == ENOENT {
            // The folder was removed behind our back: made again (a failure is retried by the caller).
            try? SafeFiles.makeDirectory(directory)
            newFD = open(openPath, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o640)
        }
        guard newFD >= 0 else { throw StorageError(operation: "create", path: openPath, errno: errno) }
        _ = fchmod(newFD, 0o640)  // whatever the umask
        fd = newFD
        size = 0
        syncDirectory(of: openPath)
        if !options.header.isEmpty {
            guard writeAll(fd, options.header, options.header.count) else {
                let e = errno
                Glibc.close(fd)
                fd = -1
                unlink(openPath)
                throw StorageError(operation: "write", path: openPath, errno: e)
            }
            size = Int64(options.header.count)
        }
    }

    /// One past the highest sequence of the period's files already there (after a restart).
    private func nextFreeSequence(for start: Timestamp) -> Int {
        let prefix = schedule.fileName(family: family, periodStart: start, sequence: 0, ext: options.ext).dropLast(4 + options.ext.count)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var highest = 0
        for n in names where n.hasPrefix(prefix) {
            if let parsed = RotationSchedule.parse(n) { highest = max(highest, parsed.sequence) }
        }
        return highest + 1
    }

    private func closeCurrent() throws(StorageError) {
        guard fsync(fd) == 0 else { throw StorageError(operation: "fsync", path: openPath, errno: errno) }
        Glibc.close(fd)
        fd = -1
        guard rename(openPath, finalPath) == 0 else { throw StorageError(operation: "rename", path: openPath, errno: errno) }
        syncDirectory(of: finalPath)
        onClose(finalPath)
    }

    /// Repairs and closes the files a crash left open; removes half-written compressed files.
    private func recover(events: (Event) -> Void) throws(StorageError) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            if name.hasSuffix(".tmp") {
                unlink(path)
                continue
            }
            guard name.hasSuffix(".open") else { continue }
            let cut = try Self.cutPartialLine(path)
            let closed = String(path.dropLast(5))
            guard rename(path, closed) == 0 else { throw StorageError(operation: "rename", path: path, errno: errno) }
            syncDirectory(of: closed)
            events(.repaired(file: closed, cutBytes: cut))
            onClose(closed)
        }
    }

    /// Truncates a file after its last newline; returns the bytes cut.
    static func cutPartialLine(_ path: String) throws(StorageError) -> Int {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(operation: "open", path: path, errno: errno) }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError(operation: "stat", path: path, errno: errno) }
        let length = Int64(st.st_size)
        var end = length
        var buffer = [UInt8](repeating: 0, count: 4096)
        // Scan back for the last newline.
        search: while end > 0 {
            let chunk = Int(min(Int64(buffer.count), end))
            let n = pread(fd, &buffer, chunk, off_t(end - Int64(chunk)))
            guard n == chunk else { throw StorageError(operation: "read", path: path, errno: errno) }
            for i in stride(from: chunk - 1, through: 0, by: -1) where buffer[i] == 10 {
                end = end - Int64(chunk) + Int64(i) + 1
                break search
            }
            end -= Int64(chunk)
        }
        let cut = Int(length - end)
        if cut > 0 {
            guard ftruncate(fd, off_t(end)) == 0 else { throw StorageError(operation: "truncate", path: path, errno: errno) }
        }
        guard fsync(fd) == 0 else { throw StorageError(operation: "fsync", path: path, errno: errno) }
        return cut
    }
}
