/// How to read the messages of one subscription: which topics, how the topic names the reading,
/// and how to read the payload (DESIGN §3.2). Built from the configuration, already validated.
public struct DecodeRule: Sendable {
    /// The subscription's topic filter.
    public var filter: TopicFilter
    /// How topic levels name the field, block, asset and measurement (nil for Sparkplug B, whose
    /// topic namespace is fixed).
    public var template: TopicTemplate?
    /// The payload format.
    public var format: Format

    public init(filter: TopicFilter, template: TopicTemplate?, format: Format) {
        self.filter = filter
        self.template = template
        self.format = format
    }

    /// Payload formats.
    public enum Format: Sendable {
        /// A JSON object, or an array of them.
        case json(JSONLayout)
        /// One number; the measurement comes from the topic, the time is the receive time.
        case value(ValueLayout)
        /// Eclipse Sparkplug B: protobuf payloads of edge nodes and their devices, metrics named
        /// in birth certificates and sent by alias.
        case sparkplugB(SparkplugLayout)
    }

    /// How the time of a JSON payload is written.
    public enum TimeFormat: String, Sendable, CaseIterable {
        /// Numbers by magnitude (seconds below 10¹¹, milliseconds below 10¹⁴, else microseconds);
        /// text as RFC 3339.
        case auto
        case seconds
        case milliseconds
        case microseconds
        case rfc3339
    }

    /// A payload key (or topic measurement name) and what it means.
    public struct ValueMapping: Sendable {
        /// The measurement.
        public var measurement: Measurement
        /// From the configured unit and basis to the reporting unit and basis.
        public var conversion: Conversion
        /// A totalizer's rules (rollover value already in the reporting unit; what is a reset
        /// and a rollover); nil for other measurements.
        public var counter: CounterRules?

        public init(measurement: Measurement, conversion: Conversion, rollover: Double? = nil) {
            self.init(measurement: measurement, conversion: conversion,
                      counter: measurement.isTotalizer ? CounterRules(rollover: rollover) : nil)
        }

        public init(measurement: Measurement, conversion: Conversion, counter: CounterRules?) {
            self.measurement = measurement
            self.conversion = conversion
            self.counter = measurement.isTotalizer ? counter ?? CounterRules() : nil
        }

        /// A totalizer's rollover value, in the reporting unit.
        public var rollover: Double? { counter?.rollover }
    }

    /// The `json` format.
    public struct JSONLayout: Sendable {
        /// The key of the timestamp.
        public var timeKey: String
        /// How the timestamp is written.
        public var timeFormat: TimeFormat
        /// The key that names the asset, when the topic does not.
        public var assetKey: String?
        /// Payload keys and what they measure, in configuration order.
        public var values: [(key: String, mapping: ValueMapping)]

        public init(timeKey: String, timeFormat: TimeFormat = .auto, assetKey: String? = nil,
                    values: [(key: String, mapping: ValueMapping)]) {
            self.timeKey = timeKey
            self.timeFormat = timeFormat
            self.assetKey = assetKey
            self.values = values
        }
    }

    /// The `value` format.
    public struct ValueLayout: Sendable {
        /// Topic measurement names and what they measure.
        public var values: [String: ValueMapping]

        public init(values: [String: ValueMapping]) { self.values = values }
    }
}

extension DecodeRule {
    /// The `sparkplug_b` format: how a topic's group, edge node and device name the asset, and
    /// which metrics are measurements.
    public struct SparkplugLayout: Sendable {
        /// The asset id, from `{group}`, `{edge_node}` and `{device}` and literal text.
        public var asset: SparkplugAssetTemplate
        /// Metric names and what they measure. A mapping without a unit takes the unit from the
        /// metric's `engUnit` property in its birth certificate.
        public var values: [String: SparkplugValue]

        public init(asset: SparkplugAssetTemplate, values: [String: SparkplugValue]) {
            self.asset = asset
            self.values = values
        }
    }

    /// A Sparkplug metric's mapping: as configured, or with its unit left to the birth certificate.
    public struct SparkplugValue: Sendable {
        /// The mapping (its conversion is from `unit`; unused when `unit` is nil).
        public var mapping: ValueMapping
        /// The configured unit; nil: the metric's `engUnit`.
        public var unit: MeasurementUnit?
        /// The reference conditions the meter states gas volumes at, and the reporting ones.
        public var meterBasis: VolumeBasis
        public var reportingBasis: VolumeBasis

        public init(mapping: ValueMapping, unit: MeasurementUnit?, meterBasis: VolumeBasis, reportingBasis: VolumeBasis) {
            self.mapping = mapping
            self.unit = unit
            self.meterBasis = meterBasis
            self.reportingBasis = reportingBasis
        }

        /// The mapping for a metric whose birth certificate gives `engUnit`; or why there is none.
        public func mapping(engUnit: String?) -> Result<ValueMapping, RejectReason> {
            if unit != nil { return .success(mapping) }
            let dimension = mapping.measurement.dimension
            guard let text = engUnit, !text.isEmpty else {
                return .failure(.sparkplugNoUnit(measurement: mapping.measurement.rawValue))
            }
            guard case .success(let u) = MeasurementUnit.parse(text, for: dimension) else {
                return .failure(.sparkplugBadUnit(unit: text, measurement: mapping.measurement.rawValue, dimension: dimension.rawValue))
            }
            var m = mapping
            m.conversion = Conversion(unit: u, meterBasis: meterBasis, reportingBasis: reportingBasis)
            return .success(m)
        }
    }
}

/// An asset id made from a Sparkplug topic: `{device}`, `{edge_node}-{device}`, `{group}.{edge_node}`.
public struct SparkplugAssetTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case group, edgeNode, device
    }
    public let text: String
    public let parts: [Part]

    public var description: String { text }

    /// Whether a node's own metrics (no device) can name an asset.
    public var needsDevice: Bool { parts.contains(.device) }

    /// Parses a template, or says why it is not one.
    public static func parse(_ text: String) -> Result<SparkplugAssetTemplate, MeasurementUnit.Problem> {
        var parts: [Part] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else {
                    return .failure(.init(description: "\"{\" without \"}\""))
                }
                switch rest[rest.index(after: rest.startIndex)..<close] {
                case "group": parts.append(.group)
                case "edge_node": parts.append(.edgeNode)
                case "device": parts.append(.device)
                case let other: return .failure(.init(description: "{\(other)}: use {group}, {edge_node} or {device}"))
                }
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: "{") ?? rest.endIndex
                let literal = rest[..<end]
                guard !literal.contains("}") else { return .failure(.init(description: "\"}\" without \"{\"")) }
                parts.append(.literal(String(literal)))
                rest = rest[end...]
            }
        }
        guard parts.contains(where: { !Self.isLiteral($0) }) else {
            return .failure(.init(description: "names no part of the topic: use {group}, {edge_node} or {device}"))
        }
        return .success(SparkplugAssetTemplate(text: text, parts: parts))
    }

    private static func isLiteral(_ p: Part) -> Bool { if case .literal = p { true } else { false } }

    /// The id for a topic's parts; nil when it needs a device and there is none.
    public func id(group: Substring, edgeNode: Substring, device: Substring?) -> String? {
        var out = ""
        for p in parts {
            switch p {
            case .literal(let s): out += s
            case .group: out += group
            case .edgeNode: out += edgeNode
            case .device:
                guard let device else { return nil }
                out += device
            }
        }
        return out
    }
}

/// Limits that protect memory and files from bad senders (`limits` and `unknown_assets` keys).
public struct DecodeLimits: Sendable, Equatable {
    /// Largest payload accepted, in bytes.
    public var maxPayload: Int = 65_536
    /// How far event time may be ahead of the receive time, in microseconds.
    public var maxFutureUS: Int64 = 5 * 60 * 1_000_000
    /// How far event time may be behind the receive time, in microseconds.
    public var maxPastUS: Int64 = 7 * 86_400 * 1_000_000
    /// Most (asset, measurement) series kept.
    public var maxSeries: Int = 100_000
    /// Whether readings of assets missing from the register are accepted.
    public var acceptUnknownAssets = false
    /// Most series of unregistered assets, when they are accepted.
    public var maxUnknownSeries: Int = 1_000
    /// How far a recording's receive time may jump ahead of the latest time seen before the next
    /// message must confirm it (a damaged line is rejected). Not applied to the daemon's own clock
    /// (live messages, and its journal read back).
    public var maxReceiveJumpUS: Int64 = 3_600_000_000
    /// What readings may be.
    public var plausibility = Plausibility()

    public init() {}
}
