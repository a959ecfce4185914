import CBMCore
import CBMMQTT
import Foundation
import Yams

/// Every problem found in a configuration, each as `file:line: key.path: what is wrong`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads the YAML configuration (Yams into Codable), then validates it once into an immutable
/// ``Configuration``, collecting every problem rather than stopping at the first.
public enum ConfigurationLoader {
    /// Loads and validates a configuration file. Relative paths inside it (assets, password and
    /// TLS files, output directory) are relative to the file's directory.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Result<Configuration, ConfigurationError>
    {
        guard let data = FileManager.default.contents(atPath: file) else {
            return .failure(ConfigurationError(problems: [ConfigProblem(file: file, line: 0, key: "", message: "cannot read the file")]))
        }
        let text = String(decoding: data, as: UTF8.self)
        let base = (URL(fileURLWithPath: file).deletingLastPathComponent().path)
        return parse(yaml: text, file: file, baseDirectory: base, environment: environment)
    }

    /// Validates a configuration text.
    public static func parse(yaml: String, file: String, baseDirectory: String, environment: [String: String] = [:])
        -> Result<Configuration, ConfigurationError>
    {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            if case .duplicatedKeysInMapping = e, let repeats = DuplicateKeys.find(in: yaml), !repeats.isEmpty {
                return .failure(ConfigurationError(problems: repeats.map {
                    ConfigProblem(file: file, line: $0.line, key: $0.path, message: "given again in one mapping (first on line \($0.firstLine))")
                }))
            }
            return .failure(ConfigurationError(problems: [yamlProblem(e, file: file)]))
        } catch {
            return .failure(ConfigurationError(problems: [ConfigProblem(file: file, line: 0, key: "", message: "not YAML: \(error)")]))
        }
        guard let node, case .mapping = node else {
            return .failure(ConfigurationError(problems: [ConfigProblem(file: file, line: node?.mark?.line ?? 1, key: "",
                                                                        message: "expected a mapping of sections (broker:, subscriptions:, assets:, ...)")]))
        }
        let locator = NodeLocator(root: node)
        let raw: RawConfiguration
        do {
            raw = try YAMLDecoder().decode(RawConfiguration.self, from: node)
        } catch let e as DecodingError {
            return .failure(ConfigurationError(problems: [decodingProblem(e, file: file, locator: locator)]))
        } catch {
            return .failure(ConfigurationError(problems: [ConfigProblem(file: file, line: 0, key: "", message: "\(error)")]))
        }
        var v = Validator(file: file, base: baseDirectory, locator: locator, environment: environment)
        KeyAudit.unknownKeys(in: node, schema: .section(RawConfiguration.self), path: .root) { path, line, message in
            v.problems.append(ConfigProblem(file: file, line: line, key: path.description, message: message))
        }
        let config = v.configuration(raw)
        if v.problems.isEmpty, let config { return .success(config) }
        return .failure(ConfigurationError(problems: v.problems.sorted { ($0.file, $0.line) < ($1.file, $1.line) }))
    }

    private static func yamlProblem(_ e: YamlError, file: String) -> ConfigProblem {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return ConfigProblem(file: file, line: mark.line, key: "",
                                 message: "not valid YAML: \(problem)" + (context.map { " \($0.text)" } ?? ""))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigProblem(file: file, line: context.mark.line, key: duplicates.joined(separator: ", "),
                                 message: "given twice in one mapping")
        default:
            return ConfigProblem(file: file, line: 0, key: "", message: "not valid YAML: \(e)")
        }
    }

    private static func decodingProblem(_ e: DecodingError, file: String, locator: NodeLocator) -> ConfigProblem {
        let (context, message): (DecodingError.Context, String)
        switch e {
        case .typeMismatch(let type, let c):
            let expected = type == String.self ? "a single value" : (String(describing: type).hasPrefix("Array") ? "a list" : "a mapping of keys")
            (context, message) = (c, "expected \(expected) here")
        case .valueNotFound(_, let c): (context, message) = (c, "missing value")
        case .keyNotFound(let k, let c): (context, message) = (c, "missing key \(k.stringValue)")
        case .dataCorrupted(let c): (context, message) = (c, c.debugDescription)
        @unknown default: return ConfigProblem(file: file, line: 0, key: "", message: "\(e)")
        }
        let path = ConfigPath(codingPath: context.codingPath)
        return ConfigProblem(file: file, line: locator.line(of: path), key: path.description, message: message)
    }
}

/// Checks the raw values one by one, collecting problems with their places.
struct Validator {
    let file: String
    let base: String
    let locator: NodeLocator
    let environment: [String: String]
    var problems: [ConfigProblem] = []
    /// What is allowed but probably not meant (`check-config` prints them, the daemon logs them).
    var warnings: [ConfigProblem] = []

    init(file: String, base: String, locator: NodeLocator, environment: [String: String]) {
        self.file = file
        self.base = base
        self.locator = locator
        self.environment = environment
    }

    mutating func problem(_ path: ConfigPath, _ message: String) {
        problems.append(ConfigProblem(file: file, line: locator.line(of: path), key: path.description, message: message))
    }

    mutating func warning(_ path: ConfigPath, _ message: String) {
        warnings.append(ConfigProblem(file: file, line: locator.line(of: path), key: path.description, message: message))
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    // MARK: typed readers: nil (and a problem) when the text is not valid

    mutating func duration(_ text: String?, _ path: ConfigPath, default d: Int64) -> Int64 {
        guard let text else { return d }
        guard let v = Quantities.duration(text) else {
            problem(path, "\"\(text)\" is not a duration (write it like 500ms, 30s, 15m, 2h or 7d)")
            return d
        }
        return v
    }

    mutating func size(_ text: String?, _ path: ConfigPath, default d: Int64) -> Int64 {
        guard let text else { return d }
        guard let v = Quantities.size(text), v > 0 else {
            problem(path, "\"\(text)\" is not a size (write it like 64KiB, 64MiB or 20GiB)")
            return d
        }
        return v
    }

    mutating func integer(_ text: String?, _ path: ConfigPath, default d: Int, range: ClosedRange<Int>) -> Int {
        guard let text else { return d }
        guard let v = Int(text), range.contains(v) else {
            problem(path, "\"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
            return d
        }
        return v
    }

    mutating func positive(_ text: String?, _ path: ConfigPath, default d: Double) -> Double {
        guard let text else { return d }
        guard let v = Double(text), v.isFinite, v > 0 else {
            problem(path, "\"\(text)\" is not a positive number")
            return d
        }
        return v
    }

    mutating func bool(_ text: String?, _ path: ConfigPath, default d: Bool) -> Bool {
        guard let text else { return d }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(path, "\"\(text)\" is not true or false")
            return d
        }
    }

    mutating func basis(_ text: String?, _ path: ConfigPath, default d: VolumeBasis) -> VolumeBasis {
        guard let text else { return d }
        guard let b = VolumeBasis.named(text) else {
            problem(path, "unknown basis \"\(text)\" (use 20C, 0C, 15C or 60F; all at 101.325 kPa)")
            return d
        }
        return b
    }

    /// Whether a file holding a secret is kept from other users: one every user can read is
    /// refused (a reload or a restart would go on using a leaked secret without a word).
    mutating func privateFile(_ full: String, _ path: ConfigPath) -> Bool {
        var st = stat()
        guard stat(full, &st) == 0 else { return true }
        guard st.st_mode & 0o004 == 0 else {
            problem(path, "\(full) can be read by every user (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it, or use password_env")
            return false
        }
        return true
    }

    mutating func readableFile(_ text: String?, _ path: ConfigPath) -> String? {
        guard let text else { return nil }
        let full = resolve(text)
        guard FileManager.default.isReadableFile(atPath: full) else {
            problem(path, "cannot read \(full)")
            return nil
        }
        return full
    }
}
