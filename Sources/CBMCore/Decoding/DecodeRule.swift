/// How to read the messages of one subscription: which topics, how the topic names the reading,
/// and how to read the payload (DESIGN §3.2). Built from the configuration, already validated.
public struct DecodeRule: Sendable {
    /// The subscription's topic filter.
    public var filter: TopicFilter
    /// How topic levels name the field, block, asset and measurement.
    public var template: TopicTemplate
    /// The payload format.
    public var format: Format

    public init(filter: TopicFilter, template: TopicTemplate, format: Format) {
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
