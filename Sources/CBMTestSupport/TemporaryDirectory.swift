import Foundation

/// A fresh directory under the system's temporary directory, removed when released.
public final class TemporaryDirectory: @unchecked Sendable {
    /// Its absolute path.
    public let path: String

    public init(_ prefix: String = "cbm-ingest-test") {
        let base = NSTemporaryDirectory()
        let p = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the directory.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes a text file inside the directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) -> String {
        let p = file(name)
        try! FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

/// Polls a condition until it holds or the time is up; returns whether it held. For waiting on
/// real processes and files, never as a speed assertion.
public func eventually(timeout: Double = 20, interval: Double = 0.05, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return condition()
}

/// The lines of every file under a directory whose name starts with `prefix`, in name order.
public func lines(under directory: String, prefix: String = "") -> [String] {
    let fm = FileManager.default
    guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
    var out: [String] = []
    for name in names.sorted() where name.hasPrefix(prefix) {
        guard let data = fm.contents(atPath: (directory as NSString).appendingPathComponent(name)) else { continue }
        out += String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
    return out
}

/// JSON objects of every line of the files under a directory.
public func records(under directory: String) -> [[String: Any]] {
    lines(under: directory).compactMap {
        (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
}
