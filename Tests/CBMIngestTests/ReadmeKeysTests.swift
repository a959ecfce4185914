@testable import CBMIngest
import CBMTestSupport
import Foundation
import Testing
import Yams

/// The README documents configuration keys in three ways: dotted paths (`broker.session_expiry`,
/// `rotate.max_bytes`), `key: value` snippets (`csv: { bom: true }`) and YAML examples of
/// subscriptions. Every one of them must be a key the configuration accepts: a key the README
/// names and `check-config` calls unknown is a broken promise to the reader.
@Suite("README and configuration")
struct ReadmeKeysTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let dir = TemporaryDirectory("readme-keys")

    init() {
        dir.write("assets.csv", "id,kind,field,block,sector,expected_gas_m3d\nW01,well,F1,B1,,1200\n")
    }

    /// A step of a key path in the schema: a key, and whether its value is a list of sections.
    struct Step: Equatable {
        var key: String  // "*" for a name the user chooses (a payload key, a metric name)
        var list = false
    }

    /// Every key path the configuration's schema knows.
    static func paths(_ section: any RawSection.Type, _ prefix: [Step] = []) -> [[Step]] {
        var out: [[Step]] = []
        for key in keys(section) {
            let here = prefix + [Step(key: key)]
            out.append(here)
            if let child = section.children[key] { out += paths(child, here) }
        }
        return out
    }

    private static func keys<S: RawSection>(_ s: S.Type) -> [String] { S.Keys.allCases.map(\.stringValue) }

    private static func paths(_ schema: KeySchema, _ here: [Step]) -> [[Step]] {
        switch schema {
        case .section(let s): return paths(s, here)
        case .list(let inner):
            var marked = here
            marked[marked.count - 1].list = true
            return paths(inner, marked)
        case .map(let inner):
            let named = here + [Step(key: "*")]
            return [named] + paths(inner, named)
        case .scalar, .scalarOrList: return []
        }
    }

    /// The shortest known path that ends with `segments` (a `*` step matches any name).
    static func resolve(_ segments: [String], in known: [[Step]]) -> [Step]? {
        known.filter { p in
            p.count >= segments.count && zip(p.suffix(segments.count), segments).allSatisfy { $0.key == "*" || $0.key == $1 }
        }.min { $0.count < $1.count }
    }

    /// A configuration with the minimal keys and `path` set to a placeholder (or to `value`), as
    /// nested JSON (which YAML reads).
    func configuration(with path: [Step]) throws -> String {
        var root: [String: Any] = [
            "broker": ["url": "mqtt://127.0.0.1:1883"],
            "subscriptions": [["topic": "cbm/+/+/+/telemetry", "template": "cbm/{field}/{block}/{asset}/telemetry", "format": "json",
                               "values": ["gas_m3h": ["measurement": "gas_rate", "unit": "m3/h"]]]],
            "assets": "assets.csv",
        ]
        func set(_ node: Any?, _ rest: ArraySlice<Step>) -> Any {
            guard let step = rest.first else { return "x" }
            let key = step.key == "*" ? "x" : step.key
            var dict = node as? [String: Any] ?? [:]
            if step.list {
                // A new item of the list, beside the items there.
                dict[key] = (dict[key] as? [Any] ?? []) + [set(nil, rest.dropFirst())]
            } else {
                dict[key] = set(dict[key], rest.dropFirst())
            }
            return dict
        }
        root = set(root, path[...]) as! [String: Any]
        return String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
    }

    func unknownKeys(_ yaml: String) -> [String] {
        let file = dir.write("c.yaml", yaml)
        guard case .failure(let e) = ConfigurationLoader.load(file: file) else { return [] }
        return e.problems.filter { $0.message.contains("unknown key") }.map(\.description)
    }

    static func readme() throws -> String {
        try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// The text between backticks on one line.
    static func codeSpans(_ text: String) -> [String] {
        text.split(separator: "\n").flatMap { line in
            line.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        }
    }

    @Test("the schema walk knows the keys it should (the test's own check)")
    func schemaWalk() {
        let known = Self.paths(RawConfiguration.self)
        #expect(Self.resolve(["rotate", "max_bytes"], in: known)?.map(\.key) == ["output", "rotate", "max_bytes"])
        #expect(Self.resolve(["values", "gas_m3h", "unit"], in: known)?.map(\.key) == ["subscriptions", "values", "*", "unit"])
        #expect(Self.resolve(["broker", "no_such_key"], in: known) == nil)
        #expect(unknownKeys(try! configuration(with: [Step(key: "broker"), Step(key: "no_such_key")])).count == 1)
    }

    @Test("every dotted key and `key: value` snippet in the README is a key check-config accepts")
    func documentedKeys() throws {
        let known = Self.paths(RawConfiguration.self)
        // Names of files and of record fields look like keys: not configuration.
        let notKeys: Set<String> = ["json", "jsonl", "sqlite", "bin", "csv", "yaml", "gz", "txt", "open"]
        let recordFields: Set<String> = ["revision"]
        var documented: [[String]] = []
        for span in Self.codeSpans(try Self.readme()) {
            if span.range(of: #"^[a-z_]+(\.[a-z_0-9]+)+$"#, options: .regularExpression) != nil {
                let segments = span.split(separator: ".").map(String.init)
                if !notKeys.contains(segments.last!) { documented.append(segments) }
            } else if span.range(of: #"^[a-z_]+: "#, options: .regularExpression) != nil,
                      let node = try? Yams.load(yaml: span) as? [String: Any] {
                func flatten(_ n: [String: Any], _ prefix: [String]) {
                    for (k, v) in n where !recordFields.contains(k) {
                        documented.append(prefix + [k])
                        if let d = v as? [String: Any] { flatten(d, prefix + [k]) }
                    }
                }
                flatten(node, [])
            }
        }
        #expect(documented.count > 40, "\(documented.count) keys found in the README")
        for segments in documented {
            guard let path = Self.resolve(segments, in: known) else {
                Issue.record("the README documents `\(segments.joined(separator: "."))`, which is no configuration key")
                continue
            }
            let unknown = unknownKeys(try configuration(with: path))
            #expect(unknown.isEmpty, "`\(segments.joined(separator: "."))`: \(unknown)")
        }
    }

    @Test("every YAML example of a subscription in the README is accepted by check-config without an unknown key")
    func subscriptionExamples() throws {
        let text = try Self.readme()
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == "```yaml" {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        #expect(blocks.count >= 3)
        for block in blocks {
            let items = try #require(try Yams.load(yaml: block) as? [[String: Any]], "not a list of subscriptions: \(block)")
            var root: [String: Any] = ["broker": ["url": "mqtt://127.0.0.1:1883"], "subscriptions": items, "assets": "assets.csv"]
            if items.contains(where: { $0["format"] as? String == "sparkplug_b" }) {
                root["broker"] = ["url": "mqtt://127.0.0.1:1883", "sparkplug_host_id": "host"]
            }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: root), as: UTF8.self)
            let file = dir.write("block.yaml", json)
            switch ConfigurationLoader.load(file: file) {
            case .success(let c): #expect(c.subscriptions.count == items.count)
            case .failure(let e): Issue.record("README example refused:\n\(block)\n\(e)")
            }
        }
    }

    @Test("the example configuration, which the README says documents every key, names every key of the schema")
    func exampleNamesEveryKey() throws {
        let example = try String(contentsOf: Self.repository.appendingPathComponent("config/cbm-ingest.yaml"), encoding: .utf8)
        // A key is named where it is set or shown in a comment: `key:` after a space, `{`, `(`, `#` or a line start.
        let named = Set(example.split(whereSeparator: { " {(#,-\n".contains($0) }).filter { $0.hasSuffix(":") }.map { String($0.dropLast()) })
        let deprecated: Set<String> = ["horizon"]  // read as hot_span, with a warning
        var missing: [String] = []
        for path in Self.paths(RawConfiguration.self) where path.last!.key != "*" && !named.contains(path.last!.key)
            && !deprecated.contains(path.last!.key) {
            missing.append(path.map(\.key).joined(separator: "."))
        }
        #expect(missing.isEmpty, "not in config/cbm-ingest.yaml: \(missing)")
    }
}
