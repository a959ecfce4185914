/// A topic template: `cbm/{field}/{block}/{asset}/{measurement}`. `{name}` matches one whole
/// level and captures it; other levels must match literally.
///
/// The names with a meaning are `field`, `block`, `asset` and `measurement`; any other name
/// matches a level and ignores it (`{site}`, `{_}`).
public struct TopicTemplate: Hashable, Sendable, CustomStringConvertible {
    /// A level of the template.
    public enum Level: Hashable, Sendable {
        case literal(String)
        case capture(String)
    }

    /// The template as written.
    public let text: String
    /// Its levels.
    public let levels: [Level]
    private let fieldIndex: Int?
    private let blockIndex: Int?
    private let assetIndex: Int?
    private let measurementIndex: Int?

    public var description: String { text }

    /// Whether the template captures a name.
    public func captures(_ name: String) -> Bool { levels.contains(.capture(name)) }

    /// Parses a template, or says why it is not one.
    public static func parse(_ text: String) -> Result<TopicTemplate, MeasurementUnit.Problem> {
        guard !text.isEmpty else { return .failure(.init(description: "empty template")) }
        var levels: [Level] = []
        var names = Set<String>()
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            if part.first == "{" || part.last == "}" {
                guard part.count > 2, part.first == "{", part.last == "}" else {
                    return .failure(.init(description: "\"\(part)\": a {name} must be a whole level"))
                }
                let name = String(part.dropFirst().dropLast())
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    return .failure(.init(description: "\"\(part)\": a name is letters, digits and _"))
                }
                guard names.insert(name).inserted || name == "_" else {
                    return .failure(.init(description: "{\(name)} appears twice"))
                }
                levels.append(.capture(name))
            } else {
                guard !part.contains("+"), !part.contains("#"), !part.contains("{"), !part.contains("}") else {
                    return .failure(.init(description: "\"\(part)\": wildcards belong in topic:, the template names each level with {name}"))
                }
                levels.append(.literal(String(part)))
            }
        }
        return .success(TopicTemplate(text: text, levels: levels))
    }

    private init(text: String, levels: [Level]) {
        self.text = text
        self.levels = levels
        func index(_ name: String) -> Int? { levels.firstIndex(of: .capture(name)) }
        fieldIndex = index("field")
        blockIndex = index("block")
        assetIndex = index("asset")
        measurementIndex = index("measurement")
    }

    /// What a topic says about the reading's identity.
    public struct Captures: Equatable, Sendable {
        public var field: Substring?
        public var block: Substring?
        public var asset: Substring?
        public var measurement: Substring?
    }

    /// Matches a topic level by level, or returns nil. (Works on the UTF-8 bytes: a `/` never
    /// occurs inside a multi-byte character.)
    public func match(_ topic: String) -> Captures? {
        var result = Captures()
        var i = 0
        let u = topic.utf8
        var start = u.startIndex
        let end = u.endIndex
        while true {
            guard i < levels.count else { return nil }
            let stop = u[start...].firstIndex(of: 47) ?? end
            switch levels[i] {
            case .literal(let l):
                guard u[start..<stop].elementsEqual(l.utf8) else { return nil }
            case .capture:
                guard start < stop else { return nil }
                let part = Substring(topic[start..<stop])
                switch i {
                case fieldIndex: result.field = part
                case blockIndex: result.block = part
                case assetIndex: result.asset = part
                case measurementIndex: result.measurement = part
                default: break
                }
            }
            i += 1
            if stop == end { break }
            start = u.index(after: stop)
        }
        return i == levels.count ? result : nil
    }

    /// Checks that every topic the subscription `filter` can deliver has the template's shape,
    /// or says where they differ.
    public func check(against filter: TopicFilter) -> String? {
        let f = filter.levels
        if f.last == "#" {
            if levels.count < f.count - 1 {
                return "the template has \(levels.count) levels, topic \"\(filter.text)\" at least \(f.count - 1)"
            }
        } else if f.count != levels.count {
            return "the template has \(levels.count) levels, topic \"\(filter.text)\" has \(f.count)"
        }
        for (i, level) in levels.enumerated() where i < f.count && f[i] != "#" {
            if case .literal(let l) = level, f[i] != "+", f[i] != l {
                return "level \(i + 1) is \"\(l)\" in the template but \"\(f[i])\" in topic \"\(filter.text)\""
            }
        }
        return nil
    }
}

/// An MQTT topic filter (`cbm/+/+/+/telemetry`, `cbm/#`), for routing received messages.
public struct TopicFilter: Hashable, Sendable, CustomStringConvertible {
    /// The filter as written.
    public let text: String
    /// Its levels.
    public let levels: [String]

    public var description: String { text }

    /// Parses a filter, or says why it is not valid MQTT.
    public static func parse(_ text: String) -> Result<TopicFilter, MeasurementUnit.Problem> {
        guard !text.isEmpty else { return .failure(.init(description: "empty topic")) }
        let levels = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for (i, l) in levels.enumerated() {
            if l.contains("#") && (l != "#" || i != levels.count - 1) {
                return .failure(.init(description: "# must be the whole last level"))
            }
            if l.contains("+") && l != "+" {
                return .failure(.init(description: "+ must be a whole level"))
            }
        }
        return .success(TopicFilter(text: text, levels: levels))
    }

    /// Whether every topic that `other` matches is matched by this filter too. A broker delivers
    /// a message once per matching subscription, so a filter covered by another is not
    /// subscribed on its own.
    public func covers(_ other: TopicFilter) -> Bool {
        for (i, level) in levels.enumerated() {
            if level == "#" { return true }
            guard i < other.levels.count else { return false }
            let o = other.levels[i]
            if o == "#" { return false }
            if level != "+" && (o == "+" || o != level) { return false }
        }
        return levels.count == other.levels.count
    }

    /// Whether a topic name matches the filter (MQTT 3.1.1 §4.7; `$` topics only match filters
    /// that name them).
    public func matches(_ topic: String) -> Bool {
        let u = topic.utf8
        if u.first == 36 && (levels.first == "+" || levels.first == "#") { return false }  // $
        var i = 0
        var start = u.startIndex
        let end = u.endIndex
        while true {
            guard i < levels.count else { return false }
            if levels[i] == "#" { return true }
            let stop = u[start...].firstIndex(of: 47) ?? end
            if levels[i] != "+" && !u[start..<stop].elementsEqual(levels[i].utf8) { return false }
            i += 1
            if stop == end { break }
            start = u.index(after: stop)
        }
        return i == levels.count || (i == levels.count - 1 && levels[i] == "#")
    }
}
