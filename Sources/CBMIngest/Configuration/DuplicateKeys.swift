import Yams

/// Every key given more than once in its mapping, each repeat with its place. The YAML reader
/// stops at the first mapping with a repeated key and names only where the key was first given;
/// this marks that occurrence in the text (a prefix no configuration uses) and reads again, until
/// the text reads, then finds each marked key beside the repeat it stood for.
enum DuplicateKeys {
    struct Repeat: Equatable {
        var path: String
        var line: Int
        var firstLine: Int
    }

    private static let marker = "cbm-duplicate-key-"

    /// The repeats, in the order of the file; nil when the text has some other YAML problem first
    /// (that is reported instead).
    static func find(in yaml: String, limit: Int = 200) -> [Repeat]? {
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        var root: Node?
        for n in 0...limit {
            let text = lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
            do {
                root = try Yams.compose(yaml: text)
                break
            } catch YamlError.duplicatedKeysInMapping(_, let context) {
                // Libyaml counts lines from 1 and columns in Unicode scalars from 1.
                let l = context.mark.line - 1
                var c = context.mark.column - 1
                guard n < limit, lines.indices.contains(l), c >= 0, c < lines[l].count else { return nil }
                if lines[l][c] == "\"" || lines[l][c] == "'" { c += 1 }
                lines[l].insert(contentsOf: "\(marker)\(n)-".unicodeScalars, at: c)
            } catch {
                return nil
            }
        }
        guard let root else { return nil }
        var out: [Repeat] = []
        visit(root, path: .root, into: &out)
        return out.sorted { ($0.line, $0.path) < ($1.line, $1.path) }
    }

    /// A marked key's mark number and the key it stands for.
    private static func unmarked(_ key: String?) -> (n: Int, key: String)? {
        guard let key, key.hasPrefix(marker) else { return nil }
        let rest = key.dropFirst(marker.count)
        guard let dash = rest.firstIndex(of: "-"), let n = Int(rest[..<dash]) else { return nil }
        return (n, String(rest[rest.index(after: dash)...]))
    }

    private static func visit(_ node: Node, path: ConfigPath, into out: inout [Repeat]) {
        if let mapping = node.mapping {
            // The marked keys, by the key they stand for: each occurrence but the last, in order.
            var marked: [String: [(n: Int, line: Int)]] = [:]
            for (key, _) in mapping {
                if let (n, original) = unmarked(key.string) { marked[original, default: []].append((n, key.mark?.line ?? 0)) }
            }
            for (original, occurrences) in marked {
                let earlier = occurrences.sorted { $0.n < $1.n }.map(\.line)
                let last = mapping.first { $0.key.string == original }?.key.mark?.line
                let all = earlier + (last.map { [$0] } ?? [])
                for line in all.dropFirst() { out.append(Repeat(path: (path / original).description, line: line, firstLine: all[0])) }
            }
            for (key, value) in mapping {
                visit(value, path: path / (unmarked(key.string)?.key ?? key.string ?? "?"), into: &out)
            }
        } else if let sequence = node.sequence {
            for (i, item) in sequence.enumerated() { visit(item, path: path.index(i), into: &out) }
        }
    }
}
