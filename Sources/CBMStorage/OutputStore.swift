import CBMCore
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output directory: one folder per record family, each written in every configured format
/// by a ``RotatingFile``; closed files compressed and pruned in the background, never the open
/// one; and `latest.json` replaced atomically.
public final class OutputStore {
    /// Output settings.
    public struct Settings: Sendable {
        public var directory: String
        public var formats: [Format] = [.jsonl]
        public var rotation = RotatingFile.Options()
        public var retention = RetentionPolicy()
        public var compress = false
        /// The layout of CSV files (byte-order mark, local time columns).
        public var csv = CSVRecordEncoder.Style()
        public init(directory: String) { self.directory = directory }
    }

    /// File formats.
    public enum Format: String, CaseIterable, Sendable {
        case jsonl, csv
    }

    public let settings: Settings
    private var files: [RecordFamily: [Format: RotatingFile]] = [:]
    private let housekeeping = DispatchQueue(label: "cbm-ingest.output.housekeeping", qos: .utility)
    private let onEvent: (RotatingFile.Event) -> Void
    private let onError: @Sendable (String) -> Void

    /// `onEvent` hears of repaired files (on the caller's thread); `onError` of housekeeping
    /// failures (on a background queue).
    public init(settings: Settings, onEvent: @escaping (RotatingFile.Event) -> Void,
                onError: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.onEvent = onEvent
        self.onError = onError
    }

    /// The folder of a family.
    public func folder(_ family: RecordFamily) -> String {
        (settings.directory as NSString).appendingPathComponent(family.rawValue)
    }

    /// Opens (and repairs) a family's files on first use, then appends.
    public func append(_ bytes: [UInt8], family: RecordFamily, format: Format, at now: Timestamp) throws(StorageError) {
        try file(family, format).append(bytes, at: now)
    }

    /// Opens every family's files now: a crash's leftovers are repaired at start, not at the first
    /// record of each family.
    public func openAll(_ families: [RecordFamily]) throws(StorageError) {
        for f in families {
            for format in settings.formats { _ = try file(f, format) }
        }
    }

    private func file(_ family: RecordFamily, _ format: Format) throws(StorageError) -> RotatingFile {
        if let f = files[family]?[format] { return f }
        var options = settings.rotation
        options.ext = format.rawValue
        options.header = format == .csv ? CSVRecordEncoder.header(family, style: settings.csv) : []
        let folder = self.folder(family)
        let compress = settings.compress
        let retention = settings.retention
        let onError = self.onError
        let queue = housekeeping
        let f = try RotatingFile(directory: folder, family: family.rawValue, options: options, onClose: { path in
            queue.async { Self.housekeep(closed: path, folder: folder, compress: compress, retention: retention, onError: onError) }
        }, events: onEvent)
        files[family, default: [:]][format] = f
        // Closed files a crash left uncompressed (or compressed twice) are put right.
        if compress {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
            for n in names where n.hasSuffix("." + format.rawValue) {
                let path = (folder as NSString).appendingPathComponent(n)
                queue.async { Self.housekeep(closed: path, folder: folder, compress: true, retention: retention, onError: onError) }
            }
        }
        return f
    }

    private static func housekeep(closed path: String, folder: String, compress: Bool, retention: RetentionPolicy,
                                  onError: @Sendable (String) -> Void) {
        if compress && FileManager.default.fileExists(atPath: path) {
            do {
                try Gzip.compress(path, to: path + ".gz")
                unlink(path)
                syncDirectory(of: path)
            } catch {
                onError("cannot compress \(path): \(error)")
            }
        }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        retention.prune(directory: folder, now: Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000))
    }

    /// Makes everything written so far durable (before a checkpoint that says so).
    public func sync() throws(StorageError) {
        for (_, formats) in files {
            for (_, f) in formats { try f.sync() }
        }
    }

    /// The highest revision of every totals record in the files modified since `since` (all
    /// files if nil): what a restart after a crash must supersede.
    public func writtenRevisions(since: Date?) -> [TotalsRecord.Key: Int] {
        let folder = self.folder(.totals)
        var out: [TotalsRecord.Key: Int] = [:]
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        for name in names where name.contains(".jsonl") && !name.hasSuffix(".tmp") {
            let path = (folder as NSString).appendingPathComponent(name)
            if let since, let attributes = try? FileManager.default.attributesOfItem(atPath: path),
               let modified = attributes[.modificationDate] as? Date, modified < since.addingTimeInterval(-2) { continue }
            guard let bytes = Self.contents(ofRecordFile: path) else { continue }
            for line in splitLines(bytes) {
                if let (key, revision) = TotalsRecord.decodeIdentity(jsonLine: line) { out[key] = max(out[key] ?? 0, revision) }
            }
        }
        return out
    }

    /// The bytes of an output file, decompressed when its name ends in `.gz`; nil when it
    /// cannot be read.
    public static func contents(ofRecordFile path: String) -> [UInt8]? {
        if path.hasSuffix(".gz") { return try? Gzip.decompress(path) }
        return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Before a family's records are appended in every format at `now`: if any format's file would
    /// begin anew (a new period, a size limit), all of them do, with one sequence number, so a JSON
    /// Lines file and its CSV twin always hold the same records under the same name stem.
    public func prepare(_ family: RecordFamily, counts: [Format: Int], at now: Timestamp) throws(StorageError) {
        guard settings.formats.count > 1 else { return }
        var twins: [(file: RotatingFile, count: Int)] = []
        for format in settings.formats { twins.append((try file(family, format), counts[format] ?? 0)) }
        guard twins.contains(where: { $0.count > 0 && $0.file.willBegin(adding: $0.count, at: now) }) else { return }
        let next = twins.map { $0.file.nextSequence(at: now) }.max() ?? 1
        for t in twins { try t.file.begin(at: now, sequence: next) }
    }

    /// What happened to the files while writing (a file replaced behind the writer's back).
    public func takeEvents() -> [RotatingFile.Event] {
        var out: [RotatingFile.Event] = []
        for family in RecordFamily.allCases {
            for format in Format.allCases { out += files[family]?[format]?.takeEvents() ?? [] }
        }
        return out
    }

    /// Every open file and how much of it is written (a checkpoint keeps this: what comes after
    /// it was written after the checkpoint).
    public func positions() -> [(family: RecordFamily, format: Format, path: String, bytes: Int64)] {
        var out: [(RecordFamily, Format, String, Int64)] = []
        for family in RecordFamily.allCases {
            for format in Format.allCases {
                if let p = files[family]?[format]?.position { out.append((family, format, p.path, p.bytes)) }
            }
        }
        return out
    }

    /// For each family: the JSON Lines file being written and how far (or, with none open, the
    /// newest closed one, all of it: -1). What a checkpoint keeps of the output: everything after
    /// these marks was written after it.
    public func marks() -> [(family: RecordFamily, name: String, bytes: Int64)] {
        var out: [(RecordFamily, String, Int64)] = []
        for family in RecordFamily.allCases {
            if let p = files[family]?[.jsonl]?.position {
                out.append((family, (p.path as NSString).lastPathComponent, p.bytes))
            } else if let newest = Self.jsonl(in: folder(family)).last {
                out.append((family, newest, -1))
            }
        }
        return out
    }

    /// The JSON Lines files of a folder (closed or compressed, by their plain names), in order.
    static func jsonl(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { n in
            n.hasSuffix(".jsonl") ? n : n.hasSuffix(".jsonl.gz") ? String(n.dropLast(3)) : nil
        }.sorted()
    }

    /// The JSON Lines written to a family's files after a mark (see ``marks()``), line by line.
    public func lines(after mark: (name: String, bytes: Int64)?, family: RecordFamily) -> [[UInt8]] {
        let folder = self.folder(family)
        var out: [[UInt8]] = []
        for name in Self.jsonl(in: folder) {
            var skip = 0
            if let mark {
                guard name >= mark.name else { continue }
                if name == mark.name {
                    guard mark.bytes >= 0 else { continue }
                    skip = Int(mark.bytes)
                }
            }
            let path = (folder as NSString).appendingPathComponent(name)
            let bytes: [UInt8]
            if let d = FileManager.default.contents(atPath: path) {
                bytes = [UInt8](d)
            } else if let b = try? Gzip.decompress(path + ".gz") {
                bytes = b
            } else {
                continue
            }
            var start = min(skip, bytes.count)
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 10 { end += 1 }
                if end < bytes.count { out.append(Array(bytes[start...end])) }
                start = end + 1
            }
        }
        return out
    }

    /// Time rotation of idle files.
    public func tick(_ now: Timestamp) throws(StorageError) {
        for (_, formats) in files {
            for (_, f) in formats { try f.tick(now) }
        }
    }

    /// Closes every open file and waits for compression and pruning to finish.
    public func close() throws(StorageError) {
        var first: StorageError?
        for (_, formats) in files {
            for (_, f) in formats {
                do { try f.close() } catch { first = first ?? error }
            }
        }
        housekeeping.sync {}
        if let first { throw first }
    }

    /// Replaces `latest.json` atomically: written to a temporary file, fsynced, renamed.
    public func writeSnapshot(_ bytes: [UInt8]) throws(StorageError) {
        try SafeFiles.replace((settings.directory as NSString).appendingPathComponent("latest.json"), with: bytes, mode: 0o640)
    }
}
