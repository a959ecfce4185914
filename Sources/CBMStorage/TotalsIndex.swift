import CBMCore
import Foundation
import GRDB
import GRDBSQLite

/// The index of final figures: one row per (window, start, scope, id) holding the highest revision
/// written to the `totals/` files, in one SQLite database (through GRDB) beside them:
///
///     totals(window, start, scope, id, revision, line)   the record's JSON line as in its file
///     files(name, bytes)                                 how far each totals file has been read
///
/// The files are the record of truth. The index is caught up from them (``catchUp()``: the bytes
/// of each file past its mark), so the sink that keeps it and `cbm-ingest reindex` that rebuilds
/// it do the same thing and give the same rows. A database that cannot be opened, is of another
/// format, or that SQLite finds damaged while reading or writing it, is set aside and rebuilt,
/// never trusted over the files. It is written with a write-ahead log and `synchronous = NORMAL`:
/// a commit is not synced (a crash or power cut may lose the last ones, which the next catch-up
/// reads again from the files, their marks being in the same transactions), only the log's
/// checkpoints are, so that a power cut cannot leave the database torn. Opening it reads no more
/// than its first pages (no integrity check over gigabytes): damage is met where it lies.
public final class TotalsIndex {
    public let path: String
    public let folder: String
    private var db: DatabaseQueue
    private let wait: TimeInterval
    static let format: Int64 = 1
    /// SQLite's `SQLITE_TRANSIENT`: it copies what is bound (a macro Swift does not import).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// What opening found.
    public enum Opened: Sendable, Equatable {
        case existing
        case created
        /// The old database could not be used (why): kept as `<path>.damaged-<time>`, a new one begun.
        case rebuilt(String)
    }
    public private(set) var opened: Opened = .existing

    /// Opens (or creates, or rebuilds) the index of the totals files in `folder`, at `path`.
    /// `wait`: how long a write waits for another process's (a `report` run and the daemon's sink
    /// both catch the index up); past it, the write fails with ``isBusy(_:)``.
    public init(path: String, folder: String, wait: TimeInterval = 30) throws {
        self.path = path
        self.folder = folder
        self.wait = wait
        let existed = FileManager.default.fileExists(atPath: path)
        do {
            db = try Self.open(path, wait: wait)
            opened = existed ? .existing : .created
        } catch where !Self.isBusy(error) {
            // (A database another writer holds is not damaged: that error goes to the caller.)
            Self.setAside(path)
            db = try Self.open(path, wait: wait)
            opened = .rebuilt("\(error)")
        }
    }

    /// Moves a database that cannot be used to `<path>.damaged-<time>`.
    private static func setAside(_ path: String) {
        let aside = path + ".damaged-\(Int(Date().timeIntervalSince1970))"
        for suffix in ["", "-wal", "-shm", "-journal"] { _ = rename(path + suffix, aside + suffix) }
    }

    /// Whether an error is another writer holding the database past the wait.
    public static func isBusy(_ error: any Error) -> Bool {
        (error as? DatabaseError).map { $0.resultCode == .SQLITE_BUSY || $0.resultCode == .SQLITE_LOCKED } ?? false
    }

    /// Runs `body`; when SQLite finds the database damaged on the way, sets it aside, builds it
    /// again from the files and runs `body` once more.
    private func recovering<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as DatabaseError where e.resultCode == .SQLITE_CORRUPT || e.resultCode == .SQLITE_NOTADB {
            Self.setAside(path)
            db = try Self.open(path, wait: wait)
            opened = .rebuilt("\(e)")
            compressedIndexed.removeAll()
            try readFiles()
            return try body()
        }
    }

    private static func open(_ path: String, wait: TimeInterval) throws -> DatabaseQueue {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var config = Configuration()
        config.label = "totals index"
        config.busyMode = .timeout(wait)
        // Derived data: commits are not synced (the disk's slowest step), checkpoints of the log
        // are, so a power cut loses at most the last commits (read again from the files), and
        // never tears the database. Checkpoints every 16 MiB of log rather than every 4 MiB.
        config.prepareDatabase { db in
            // A new database has pages of 16 KiB (each holds some fifty lines, against a dozen in
            // 4 KiB: a fifth less time to write a replay's figures); an existing one keeps its own.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            let page = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            _ = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint = \((16 << 20) / max(page, 512))")
        }
        let db = try DatabaseQueue(path: path, configuration: config)
        _ = try db.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        try db.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS totals(window TEXT NOT NULL, start INTEGER NOT NULL, scope TEXT NOT NULL, id TEXT NOT NULL,
                    revision INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(window, start, scope, id)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS files(name TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
                INSERT OR IGNORE INTO meta(key, value) VALUES ('format', \(Self.format));
                """)
            let format = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'")
            guard format == Self.format else {
                throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "index format \(format ?? 0), this build reads \(Self.format)")
            }
        }
        return db
    }

    /// A totals file's name without what its life adds (`.open` while written, `.gz` once
    /// compressed): its content is the same under each.
    static func stem(_ name: String) -> String {
        var s = name
        for suffix in [".gz", ".open"] where s.hasSuffix(suffix) { s = String(s.dropLast(suffix.count)) }
        return s
    }

    /// Reads what the totals files hold past what was indexed, in name order (time order), and
    /// keeps the highest revision of each record (of equal ones, the later line). Returns the
    /// number of lines read.
    @discardableResult
    public func catchUp() throws -> Int { try recovering { try readFiles() } }

    /// The same, reading at most about `limit` bytes of a plain file (whole lines; a compressed one
    /// whole) and stopping after a file it read only part of (so that of equal revisions the later
    /// line still wins); the rest is read by the next catch-up.
    @discardableResult
    public func catchUp(upTo limit: Int) throws -> Int { try recovering { try readFiles(limit: limit) } }

    @discardableResult
    private func readFiles(limit: Int = .max) throws -> Int {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.contains(".jsonl") && !$0.hasSuffix(".tmp") }
        // One name per stem: the compressed one once it exists (the plain one is then going away).
        var byStem: [String: String] = [:]
        for n in names {
            let s = Self.stem(n)
            if byStem[s] == nil || n.hasSuffix(".gz") { byStem[s] = n }
        }
        let marks = try db.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT name, bytes FROM files").map { ($0["name"] as String, $0["bytes"] as Int64) })
        }
        var read = 0
        for stem in byStem.keys.sorted() {
            let name = byStem[stem]!
            let path = (folder as NSString).appendingPathComponent(name)
            let done = marks[stem] ?? 0
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            guard let size = attributes?[.size] as? Int64 else { continue }
            // What the file holds past the mark (a compressed one is read whole, unless this index
            // has found it whole in the database since it last changed).
            var tail: [UInt8]
            var cut = false
            let seen = Compressed(bytes: size, modified: attributes?[.modificationDate] as? Date)
            if name.hasSuffix(".gz") {
                guard compressedIndexed[stem] != seen, let b = OutputStore.contents(ofRecordFile: path) else { continue }
                guard Int64(b.count) > done else {
                    if Int64(b.count) == done { compressedIndexed[stem] = seen }
                    continue
                }
                tail = Array(b[Int(done)...])
            } else {
                guard size > done, let h = FileHandle(forReadingAtPath: path) else { continue }
                defer { try? h.close() }
                cut = Int64(limit) < size - done
                guard (try? h.seek(toOffset: UInt64(done))) != nil,
                      let d = try? (cut ? h.read(upToCount: limit) : h.readToEnd()) else { continue }
                tail = [UInt8](d)
            }
            // Whole lines only: a line being written is read at the next catch-up. After a file
            // read in part, the later files wait for the next one (the files are read in order).
            guard let last = tail.lastIndex(of: 10) else {
                if cut { break }
                continue
            }
            tail.removeSubrange((last + 1)...)
            let end = done + Int64(tail.count)
            let lines = splitLines(tail)
            try db.write { db in
                let put = try db.makeStatement(sql: """
                    INSERT INTO totals(window, start, scope, id, revision, line) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(window, start, scope, id) DO UPDATE SET revision = excluded.revision, line = excluded.line
                    WHERE excluded.revision >= totals.revision
                    """)
                // (Bound through SQLite's own calls: a replay's totals are tens of thousands of rows,
                // and the general arguments box every value.)
                let s = put.sqliteStatement
                for line in lines {
                    guard let r = TotalsRecord.decode(jsonLine: line) else { continue }
                    sqlite3_reset(s)
                    var window = r.window.rawValue, scope = r.scope.rawValue, id = r.id
                    var text = String(decoding: line, as: UTF8.self)
                    let rc = window.withUTF8 { w in
                        scope.withUTF8 { sc in
                            id.withUTF8 { i in
                                text.withUTF8 { l in
                                    // (A value that cannot be bound is an error, not the last row's value.)
                                    var rc = sqlite3_bind_text(s, 1, w.baseAddress, Int32(w.count), Self.transient)
                                    if rc == SQLITE_OK { rc = sqlite3_bind_int64(s, 2, r.span.start.microseconds) }
                                    if rc == SQLITE_OK { rc = sqlite3_bind_text(s, 3, sc.baseAddress, Int32(sc.count), Self.transient) }
                                    if rc == SQLITE_OK { rc = sqlite3_bind_text(s, 4, i.baseAddress, Int32(i.count), Self.transient) }
                                    if rc == SQLITE_OK { rc = sqlite3_bind_int64(s, 5, Int64(r.revision)) }
                                    if rc == SQLITE_OK { rc = sqlite3_bind_text(s, 6, l.baseAddress, Int32(l.count), Self.transient) }
                                    return rc == SQLITE_OK ? sqlite3_step(s) : rc
                                }
                            }
                        }
                    }
                    guard rc == SQLITE_DONE else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                            sql: put.sql)
                    }
                    read += 1
                }
                sqlite3_reset(s)
                try db.execute(sql: "INSERT OR REPLACE INTO files(name, bytes) VALUES (?, ?)", arguments: [stem, Int64(end)])
            }
            if cut { break }
        }
        return read
    }

    /// A compressed totals file as this index last found it whole in the database (its size and
    /// time), so that catching up often (a replay does, as it writes) does not decompress each
    /// closed file again every time.
    private struct Compressed: Equatable {
        var bytes: Int64
        var modified: Date?
    }
    private var compressedIndexed: [String: Compressed] = [:]

    /// Folds what the write-ahead log holds into the database, as far as no reader needs it
    /// (passive: it waits for no one). Done beside a replay as it goes, so that closing the index
    /// at the end has only the last commits to fold in.
    public func checkpointLog() {
        _ = try? db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") }
    }

    /// The final figures of a window kind whose start is in `[from, to)`, of a scope (nil: all),
    /// whose id matches one of the globs (empty: any), in (start, scope, id) order.
    public func records(window: WindowKind, from: Timestamp, to: Timestamp, scope: TotalsRecord.Scope? = nil,
                        ids: [String] = []) throws -> [TotalsRecord] {
        let rows = try recovering {
            try db.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT line FROM totals WHERE window = ? AND start >= ? AND start < ?\(scope == nil ? "" : " AND scope = ?")
                    ORDER BY start, scope, id
                    """, arguments: StatementArguments([window.rawValue, from.microseconds, to.microseconds] + (scope.map { [$0.rawValue] } ?? []) as [any DatabaseValueConvertible])!)
            }
        }
        return rows.compactMap { row -> TotalsRecord? in
            let line: String = row["line"]
            guard let r = TotalsRecord.decode(jsonLine: Array(line.utf8)[...]) else { return nil }
            return ids.isEmpty || ids.contains(where: { AlertRule.Selection.glob(Array($0.utf8)[...], Array(r.id.utf8)[...]) }) ? r : nil
        }
    }

    /// Every row, in key order (for comparing two indexes).
    public func dump() throws -> [String] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT window, start, scope, id, revision, line FROM totals ORDER BY window, start, scope, id").map {
                "\($0["window"] as String)|\($0["start"] as Int64)|\($0["scope"] as String)|\($0["id"] as String)|\($0["revision"] as Int64)|\($0["line"] as String)"
            }
        }
    }

    /// Deletes the database and builds it again from the files (`cbm-ingest reindex`).
    public static func rebuild(path: String, folder: String) throws -> TotalsIndex {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let index = try TotalsIndex(path: path, folder: folder)
        try index.catchUp()
        return index
    }
}
