import CBMCore
import Foundation
import GRDB

/// The history archive on disk: one SQLite database (through GRDB) in write-ahead-log mode.
///
///     blocks(asset, code, hour, seq, readings)   one row per series and storage hour
///     rollups(tbl, kind, start, data)             the roll-up's hours, days and revision numbers
///     meta(key, value)                            format, and the sequence of the last commit
///
/// Each table is keyed by its primary key without a row id, so a series' hours sit next to one
/// another and a neighbour is one index step away. A commit is one transaction, synced
/// (`synchronous = FULL`) before it returns: after a crash the database is as of its last commit.
public final class SQLiteArchive: ArchiveBackend {
    public let path: String
    private let pool: any DatabaseWriter
    static let format: Int64 = 1

    /// Opens (creating) the database at `path`; throws when it is not a usable archive.
    /// `durable`: each commit is synced (a scratch archive, for a replay, need not be: it is one
    /// connection with a rollback journal and no sync: a commit writes its pages to the database
    /// and their old images to the journal, not to a log and again, later, to the database). The
    /// journal is a file, not memory: a commit changes
    /// pages all over a table that grows with the recording, and their old images held in memory
    /// made a ten-million-message replay's peak grow with its length (224 MB, against 150 MB
    /// with the journal on disk, where the page cache holds it).
    public init(path: String, durable: Bool = true) throws {
        self.path = path
        var config = Configuration()
        config.label = "history archive"
        config.prepareDatabase { db in
            try db.execute(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF; PRAGMA journal_mode = TRUNCATE")
        }
        pool = durable ? try DatabasePool(path: path, configuration: config) : try DatabaseQueue(path: path, configuration: config)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS blocks(asset TEXT NOT NULL, code INTEGER NOT NULL, hour INTEGER NOT NULL,
                    seq INTEGER NOT NULL, readings BLOB NOT NULL, PRIMARY KEY(asset, code, hour)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS blocks_by_hour ON blocks(hour);
                CREATE TABLE IF NOT EXISTS rollups(tbl INTEGER NOT NULL, kind INTEGER NOT NULL, start INTEGER NOT NULL,
                    data BLOB NOT NULL, PRIMARY KEY(tbl, kind, start)) WITHOUT ROWID;
                INSERT OR IGNORE INTO meta(key, value) VALUES ('format', \(Self.format)), ('sequence', 0);
                """)
            let format = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'")
            guard format == Self.format else {
                throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "archive format \(format ?? 0), this build reads \(Self.format)")
            }
        }
        // A damaged file can open and still fail here.
        let check = try pool.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }
        guard check == "ok" else { throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: check ?? "quick_check failed") }
    }

    /// Runs one statement's read. A single statement sees one committed state of its own, so
    /// no transaction is begun around it (that was most of the cost of a small read).
    private func read<T>(_ body: (Database) throws -> T?) -> T? {
        (try? pool.unsafeRead { db in try body(db) }) ?? nil
    }

    public func block(_ series: SeriesKey, hour: Int64) -> [UInt8]? {
        read { db in
            try Data.fetchOne(db.cachedStatement(sql: "SELECT readings FROM blocks WHERE asset = ? AND code = ? AND hour = ?"),
                              arguments: [series.asset, Int64(series.code), hour]).map { [UInt8]($0) }
        }
    }

    public func blocks(_ series: SeriesKey, from: Int64, through: Int64) -> [(hour: Int64, bytes: [UInt8])] {
        read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT hour, readings FROM blocks WHERE asset = ? AND code = ? AND hour BETWEEN ? AND ? ORDER BY hour
                """), arguments: [series.asset, Int64(series.code), from, through])
                .map { (hour: $0[0] as Int64, bytes: [UInt8]($0[1] as Data)) }
        } ?? []
    }

    public func block(_ series: SeriesKey, before hour: Int64) -> (hour: Int64, bytes: [UInt8])? {
        read { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT hour, readings FROM blocks WHERE asset = ? AND code = ? AND hour < ? ORDER BY hour DESC LIMIT 1
                """), arguments: [series.asset, Int64(series.code), hour])
                .map { (hour: $0[0] as Int64, bytes: [UInt8]($0[1] as Data)) }
        }
    }

    public func block(_ series: SeriesKey, after hour: Int64) -> (hour: Int64, bytes: [UInt8])? {
        read { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT hour, readings FROM blocks WHERE asset = ? AND code = ? AND hour > ? ORDER BY hour LIMIT 1
                """), arguments: [series.asset, Int64(series.code), hour])
                .map { (hour: $0[0] as Int64, bytes: [UInt8]($0[1] as Data)) }
        }
    }

    public func span(_ series: SeriesKey) -> (first: Int64, last: Int64)? {
        do {
            let row = try pool.unsafeRead { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT MIN(hour), MAX(hour) FROM blocks WHERE asset = ? AND code = ?"),
                                 arguments: [series.asset, Int64(series.code)])
            }
            guard let row, let first = row[0] as Int64?, let last = row[1] as Int64? else { return nil }
            return (first, last)
        } catch {
            return (.min, .max)  // not known: every read asks
        }
    }

    public func rollup(_ key: RollupKey) -> [UInt8]? {
        read { db in
            try Data.fetchOne(db.cachedStatement(sql: "SELECT data FROM rollups WHERE tbl = ? AND kind = ? AND start = ?"),
                              arguments: [Int64(key.table.rawValue), Int64(key.window), key.start]).map { [UInt8]($0) }
        }
    }

    public func commit(_ batch: ArchiveBatch) throws {
        try pool.write { db in
            let sequence = try batch.sequence.map(Int64.init) ?? Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'sequence'") ?? 0
            let put = try db.cachedStatement(sql: "INSERT OR REPLACE INTO blocks(asset, code, hour, seq, readings) VALUES (?, ?, ?, ?, ?)")
            let drop = try db.cachedStatement(sql: "DELETE FROM blocks WHERE asset = ? AND code = ? AND hour = ?")
            for series in batch.blocks.keys.sorted(by: { ($0.asset, $0.code) < ($1.asset, $1.code) }) {
                let hours = batch.blocks[series]!
                for hour in hours.keys.sorted() {
                    let bytes = hours[hour]!
                    if bytes.isEmpty {
                        try drop.execute(arguments: [series.asset, Int64(series.code), hour])
                    } else {
                        try put.execute(arguments: [series.asset, Int64(series.code), hour, sequence, Data(bytes)])
                    }
                }
            }
            let putRollup = try db.cachedStatement(sql: "INSERT OR REPLACE INTO rollups(tbl, kind, start, data) VALUES (?, ?, ?, ?)")
            let dropRollup = try db.cachedStatement(sql: "DELETE FROM rollups WHERE tbl = ? AND kind = ? AND start = ?")
            for (key, bytes) in batch.rollups {
                let args: StatementArguments = [Int64(key.table.rawValue), Int64(key.window), key.start]
                if bytes.isEmpty { try dropRollup.execute(arguments: args) } else { try putRollup.execute(arguments: args + [Data(bytes)]) }
            }
            if let cut = batch.blocksBefore { try db.execute(sql: "DELETE FROM blocks WHERE hour < ?", arguments: [cut]) }
            if let cut = batch.rollupsBefore { try db.execute(sql: "DELETE FROM rollups WHERE start < ?", arguments: [cut]) }
            if let q = batch.sequence {
                try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'sequence'", arguments: [Int64(bitPattern: q)])
            }
        }
    }

    public func committedSequence() -> UInt64 {
        read { db in try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'sequence'") }.map { UInt64(bitPattern: $0) } ?? 0
    }

    public func blocks(committedAfter sequence: UInt64) -> [(series: SeriesKey, hour: Int64)] {
        read { db in
            try Row.fetchAll(db, sql: "SELECT asset, code, hour FROM blocks WHERE seq > ?", arguments: [Int64(bitPattern: sequence)])
                .map { (series: SeriesKey(asset: $0[0], code: UInt8(truncatingIfNeeded: $0[1] as Int64)), hour: $0[2] as Int64) }
        } ?? []
    }

    /// Deletes everything (a recovery that rebuilds the state from the journal's beginning).
    public func reset() throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM blocks; DELETE FROM rollups; UPDATE meta SET value = 0 WHERE key = 'sequence'")
        }
    }

    /// Rows and bytes, for the status and the benchmarks.
    public func statistics() -> (blocks: Int, readings: Int, bytes: Int64) {
        let rows = read { db in
            try Row.fetchAll(db, sql: "SELECT hour, readings FROM blocks").map { ($0[0] as Int64, [UInt8]($0[1] as Data)) }
        } ?? []
        let readings = rows.reduce(0) { $0 + (ReadingBlock.decode($1.1, hour: $1.0)?.times.count ?? 0) }
        let size = read { db in try Int64.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()") } ?? 0
        return (rows.count, readings, size)
    }

    /// Folds the write-ahead log into the database file (at a stop, and before measuring it; a
    /// scratch archive has none).
    public func checkpointLog() {
        _ = try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
