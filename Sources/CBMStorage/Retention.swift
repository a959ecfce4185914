import CBMCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How long closed output files are kept, per family.
public struct RetentionPolicy: Sendable, Equatable {
    /// Files older than this (by modification time) are deleted.
    public var maxAgeUS: Int64?
    /// The oldest files are deleted while the family's closed files take more than this.
    public var maxBytes: Int64?
    /// The oldest files are deleted while there are more than this many.
    public var maxFiles: Int?
    public init(maxAgeUS: Int64? = nil, maxBytes: Int64? = nil, maxFiles: Int? = nil) {
        self.maxAgeUS = maxAgeUS
        self.maxBytes = maxBytes
        self.maxFiles = maxFiles
    }

    /// Deletes the oldest closed files of a folder until the policy holds; returns what it
    /// deleted. Files being written (`.open`) and half-written ones (`.tmp`) are never touched.
    /// Names sort in time order, so the oldest are the first.
    @discardableResult
    public func prune(directory: String, now: Timestamp) -> [String] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { !$0.hasSuffix(".open") && !$0.hasSuffix(".tmp") && !$0.hasPrefix(".") }
            .sorted()
        var files: [(path: String, size: Int64, modified: Int64)] = []
        for n in names {
            let p = (directory as NSString).appendingPathComponent(n)
            var st = stat()
            guard stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append((p, Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000 + Int64(st.st_mtim.tv_nsec) / 1000))
        }
        var total = files.reduce(Int64(0)) { $0 + $1.size }
        var removed: [String] = []
        var i = 0
        while i < files.count {
            let f = files[i]
            let tooOld = maxAgeUS.map { now.microseconds - f.modified > $0 } ?? false
            let tooBig = maxBytes.map { total > $0 } ?? false
            let tooMany = maxFiles.map { files.count - i > $0 } ?? false
            guard tooOld || tooBig || tooMany else { break }
            if unlink(f.path) == 0 { removed.append(f.path) }
            total -= f.size
            i += 1
        }
        return removed
    }
}
