import Yams

/// A place in the configuration file: `subscriptions[1].values.gas_m3h.unit`.
struct ConfigPath: CustomStringConvertible, Sendable {
    enum Component: Sendable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = ConfigPath()

    func key(_ k: String) -> ConfigPath { ConfigPath(components: components + [.key(k)]) }
    func index(_ i: Int) -> ConfigPath { ConfigPath(components: components + [.index(i)]) }
    static func / (p: ConfigPath, k: String) -> ConfigPath { p.key(k) }

    var description: String {
        var out = ""
        for c in components {
            switch c {
            case .key(let k): out += out.isEmpty ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }

    /// Builds a path from a Codable coding path (for the rare structural decoding error).
    init(codingPath: [any CodingKey]) {
        components = codingPath.map { k in k.intValue.map(Component.index) ?? .key(k.stringValue) }
    }

    init(components: [Component] = []) { self.components = components }
}

/// Finds the line of a path in the YAML tree: the value's line, or failing that the line of the
/// nearest enclosing node that exists (a missing key is reported where its section is).
struct NodeLocator {
    let root: Node?

    func line(of path: ConfigPath) -> Int {
        guard var node = root else { return 0 }
        var line = node.mark?.line ?? 1
        for c in path.components {
            switch c {
            case .key(let k):
                guard let pair = node.mapping?.first(where: { $0.key.string == k }) else { return line }
                line = pair.key.mark?.line ?? line
                node = pair.value
            case .index(let i):
                guard let seq = node.sequence, i < seq.count else { return line }
                node = seq[i]
                line = node.mark?.line ?? line
            }
        }
        if case .scalar = node, let l = node.mark?.line { line = l }
        return line
    }
}

/// Reports keys the configuration does not know (a typo must not silently fall back to a default).
enum KeyAudit {
    static func unknownKeys(in node: Node, schema: KeySchema, path: ConfigPath, report: (ConfigPath, Int, String) -> Void) {
        switch schema {
        case .scalar:
            return
        case .scalarOrList(let element):
            if case .sequence(let seq) = node {
                for (i, n) in seq.enumerated() { unknownKeys(in: n, schema: element, path: path.index(i), report: report) }
            }
        case .list(let element):
            guard case .sequence(let seq) = node else { return }
            for (i, n) in seq.enumerated() { unknownKeys(in: n, schema: element, path: path.index(i), report: report) }
        case .map(let element):
            guard case .mapping(let m) = node else { return }
            for (k, v) in m { unknownKeys(in: v, schema: element, path: path.key(k.string ?? ""), report: report) }
        case .section(let type):
            guard case .mapping(let m) = node else { return }
            let known = allKeys(of: type)
            let children = type.children
            for (k, v) in m {
                let name = k.string ?? ""
                guard known.contains(name) else {
                    var message = "unknown key"
                    if let guess = closest(to: name, in: known) { message += " (did you mean \(guess)?)" }
                    message += "; known here: \(known.sorted().joined(separator: ", "))"
                    report(path.key(name), k.mark?.line ?? 0, message)
                    continue
                }
                unknownKeys(in: v, schema: children[name] ?? .scalar, path: path.key(name), report: report)
            }
        }
    }

    private static func allKeys<T: RawSection>(of type: T.Type) -> [String] {
        T.Keys.allCases.map(\.stringValue)
    }

    /// The known key within edit distance 2, if any.
    static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = distance(word, c)
            if d <= 2, d < (best?.1 ?? .max) { best = (c, d) }
        }
        return best?.0
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = old
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
