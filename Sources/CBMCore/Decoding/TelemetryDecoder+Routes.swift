import Synchronization

/// What a message is matched with: the rules compiled for the hot path, and the route of each
/// topic seen (its rule and captures, or why none takes it).
extension TelemetryDecoder {
    /// A `json` rule's layout and its flat scanner, by reference: a message reads them without
    /// copying them. The scanner's keys are the time key (slot 0), the asset key when there is one,
    /// then the value keys in configuration order, from `valuesBase`; nil when it cannot take them.
    final class JSONRule: Sendable {
        let layout: DecodeRule.JSONLayout
        let scanner: FlatJSON?
        let valuesBase: Int
        /// The values' keys and mappings, as a value reads them.
        let keys: [String]
        let mappings: [HotMapping]

        init(_ layout: DecodeRule.JSONLayout) {
            self.layout = layout
            keys = layout.values.map(\.key)
            mappings = layout.values.map { HotMapping($0.mapping) }
            let head = [layout.timeKey] + (layout.assetKey.map { [$0] } ?? [])
            valuesBase = head.count
            scanner = FlatJSON(keys: head + layout.values.map(\.key))
        }

        static func of(_ rules: [DecodeRule]) -> [JSONRule?] {
            rules.map { if case .json(let layout) = $0.format { JSONRule(layout) } else { nil } }
        }
    }

    /// What a value's mapping is to a reading: plain numbers, copied as they are (the mapping's
    /// basis, with its name, is not).
    struct HotMapping: Sendable {
        let measurement: Measurement
        let scale: Double
        let offset: Double
        /// A totalizer's rules (for other measurements, unused).
        let rules: CounterRules

        init(_ m: DecodeRule.ValueMapping) {
            measurement = m.measurement
            scale = m.conversion.scale
            offset = m.conversion.offset
            rules = m.counter ?? CounterRules()
        }

        /// The value in the reporting unit (as ``Conversion/apply(_:)``).
        @inline(__always)
        func apply(_ value: Double) -> Double { value * scale + offset }
    }

    enum Route: Sendable {
        case rule(RouteRule)
        case none(RejectReason)
    }

    /// A topic's rule and what its template captured, with the asset's id made once, and the
    /// asset's index once known (a hint: checked against ``ids`` before it is used).
    final class RouteRule: Sendable {
        let index: Int
        let captures: TopicTemplate.Captures
        let asset: String?
        let assetIndex = Atomic<Int>(-1)
        /// A Sparkplug B topic's parts, read once (nil: the host STATE, or not Sparkplug).
        let sparkplug: SparkplugRoute?
        init(index: Int, captures: TopicTemplate.Captures, sparkplug: SparkplugRoute? = nil) {
            self.index = index
            self.captures = captures
            self.sparkplug = sparkplug
            asset = sparkplug?.asset ?? captures.asset.map(String.init)
        }
    }

    /// What a Sparkplug B topic says: its message type, the node's key, what the messages name
    /// as their source, and the asset id the rule's template makes of it.
    struct SparkplugRoute: Sendable {
        let group: String
        let type: String
        let edgeNode: String
        let device: String?
        let node: String
        let source: String
        let asset: String?

        init(_ t: SparkplugTopic, template: SparkplugAssetTemplate) {
            group = String(t.group)
            type = String(t.type)
            edgeNode = String(t.edgeNode)
            device = t.device.map(String.init)
            node = t.node
            source = t.source
            asset = template.id(group: t.group, edgeNode: t.edgeNode, device: t.device)
        }
    }

    /// The first rule whose filter and template match the topic, with its captures; or why none does.
    mutating func route(_ bytes: UnsafeRawBufferPointer) -> Route {
        let hash = RouteTable<Route>.hash(bytes)
        if let e = routes.find(bytes, hash: hash) { return routes.values[e] }
        let topic = String(decoding: bytes, as: UTF8.self)
        var mismatched: [String] = []
        var found: Route?
        for (i, rule) in rules.enumerated() where rule.filter.matches(topic) {
            guard let template = rule.template else {
                // Sparkplug B: the namespace names the parts.
                guard case .sparkplugB(let layout) = rule.format else { continue }
                switch SparkplugTopic.parse(topic) {
                case .failure(let reason): found = .none(reason)
                case .success(let t): found = .rule(RouteRule(index: i, captures: TopicTemplate.Captures(),
                                                              sparkplug: t.map { SparkplugRoute($0, template: layout.asset) }))
                }
                break
            }
            guard let captures = template.match(topic) else {
                mismatched.append(template.text)
                continue
            }
            found = .rule(RouteRule(index: i, captures: captures))
            break
        }
        let r = found ?? .none(mismatched.isEmpty ? .noSubscription : .topicMismatch(templates: mismatched))
        if routes.count >= Self.maxRoutes { routes.removeAll() }
        _ = routes.insert(bytes, hash: hash, r)
        return r
    }
}

/// The members of a payload object that ``TelemetryDecoder`` looks up: from a parsed object by
/// key, or from what ``FlatJSON`` found, by slot.
protocol PayloadFields {
    /// The time key's value (slot 0), or the asset key's (slot 1).
    func field(_ key: String, slot: Int) -> JSONValue?
    /// The value of the layout's value key number `valueAt`.
    func field(_ key: String, valueAt: Int) -> JSONValue?
    /// The same when it is a number (nil: it is not, or there is none); read without making a value.
    func number(valueAt: Int) -> Double?
    /// Slot `slot`'s value when it is a number (the time's, say).
    func number(slot: Int) -> Double?
}

extension JSONValue: PayloadFields {
    func field(_ key: String, slot: Int) -> JSONValue? { self[key] }
    func field(_ key: String, valueAt: Int) -> JSONValue? { self[key] }
    func number(valueAt: Int) -> Double? { nil }
    func number(slot: Int) -> Double? { nil }
}

/// What ``FlatJSON`` found for a layout's keys, in the payload it found them in.
struct ScannedFields: PayloadFields {
    let slots: UnsafeBufferPointer<FlatJSON.Slot>
    let bytes: UnsafeRawBufferPointer
    let valuesBase: Int
    func field(_ key: String, slot: Int) -> JSONValue? { slots[slot].value(in: bytes) }
    func field(_ key: String, valueAt i: Int) -> JSONValue? { slots[valuesBase + i].value(in: bytes) }
    @inline(__always)
    func number(valueAt i: Int) -> Double? { number(slot: valuesBase + i) }
    @inline(__always)
    func number(slot i: Int) -> Double? {
        let s = slots[i]
        return s.kind == .number ? s.number : nil
    }
}
