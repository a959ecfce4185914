import Foundation

/// Turns messages into readings, or into rejects with one precise reason each.
///
/// A pure value: the time it needs is the message's receive time, and the state it keeps is the
/// set of series seen (for the series limits), each totalizer's last reading (for its
/// plausibility), the watermark and the last receive time. Bad parts of a payload are rejected one
/// by one; the good parts of the same payload still become readings. A message that is wholly
/// rejected never moves the watermark.
public struct TelemetryDecoder: Sendable {
    /// The subscriptions' rules, in configuration order: the first that matches a topic decodes it.
    public private(set) var rules: [DecodeRule]
    /// The asset register.
    public private(set) var register: AssetRegister
    /// The limits.
    public private(set) var limits: DecodeLimits

    /// The assets seen, by id, and their state (series, totalizers, bounds).
    var index: [String: Int] = [:]
    var assets: [AssetState] = []
    /// The assets' ids, by index.
    var ids: [String] = []
    var seriesTotal = 0
    var unknownSeries = 0
    /// The last asset admitted: the values of one message share their asset.
    var cacheAsset = ""
    var cacheIndex = -1
    /// The watermark: the latest event or receive time seen. Windows close when it passes their
    /// end plus the allowed lateness; readings further behind it than the horizon are rejected.
    public internal(set) var watermark = Timestamp(microseconds: .min)
    /// The latest receive time taken.
    var lastReceived = Int64.min
    /// Per rule (subscription), the latest receive time of a message it took (`Int64.min`: none).
    public private(set) var lastReceivedByRule: [Int64] = []
    /// Where each topic seen goes (the rule that decodes it and its captures, or why none does):
    /// a function of the topic and the rules, so a topic is matched once, not once a message.
    var routes = RouteTable<Route>()
    /// Topics remembered at most (a field's assets × their topics; beyond, the table starts over).
    static let maxRoutes = 1 << 16
    /// Per rule, its JSON layout and flat scanner (nil: not JSON).
    var json: [JSONRule?] = []
    /// The scanner's slots, kept (a message allocates none of its own).
    var flatSlots: [FlatJSON.Slot] = []
    /// The Sparkplug B edge nodes heard from: sessions and birth certificates.
    public internal(set) var sparkplug = SparkplugSessions()
    /// Mappings with the unit a birth's `engUnit` gives, made once (emptied on a reload).
    var sparkplugUnits: [SparkplugUnitKey: Result<DecodeRule.ValueMapping, RejectReason>] = [:]
    /// Sparkplug edge nodes (`group/edge_node`) to ask for a rebirth, oldest first: taken by
    /// ``takeRebirths()``.
    var rebirths: [String] = []
    /// Assets whose Sparkplug edge node or device died, with the receive time of the death and
    /// what said so: taken by ``takeOffline()``.
    var offline: [(asset: String, at: Timestamp, why: String)] = []
    /// Whether flat payloads are read by ``FlatJSON`` (false: every payload takes the parser;
    /// for tests that compare the two, which must give the same readings and rejects).
    public var scansFlatPayloads = true

    /// The first time not taken (9999-01-01T00:00:00Z): every window of an accepted reading then
    /// ends within four-digit years.
    public static let endOfTime = Timestamp(seconds: 253_370_764_800)

    /// The Sparkplug edge nodes (`group/edge_node`) to ask for a rebirth since the last call.
    public mutating func takeRebirths() -> [String] {
        defer { rebirths.removeAll() }
        return rebirths
    }

    /// The assets gone offline since the last call.
    public mutating func takeOffline() -> [(asset: String, at: Timestamp, why: String)] {
        defer { offline.removeAll() }
        return offline
    }

    /// Moves the watermark to a time known to have passed (the wall clock, in live mode).
    public mutating func observe(_ t: Timestamp) {
        if t > watermark { watermark = t }
    }

    public init(rules: [DecodeRule], register: AssetRegister, limits: DecodeLimits) {
        self.rules = rules
        self.register = register
        self.limits = limits
        json = JSONRule.of(rules)
        lastReceivedByRule = Array(repeating: .min, count: rules.count)
    }

    /// Takes a new configuration (a reload), keeping the series seen, the totalizers' last
    /// readings and the watermark.
    public mutating func reconfigure(rules: [DecodeRule], register: AssetRegister, limits: DecodeLimits) {
        self.rules = rules
        self.register = register
        self.limits = limits
        routes.removeAll()
        sparkplugUnits.removeAll()
        json = JSONRule.of(rules)
        lastReceivedByRule = Array(repeating: .min, count: rules.count)
        for (id, i) in index { assets[i].bounds(register[id], limits.plausibility) }
    }

    /// How far a recording's message was received after the latest time seen (the watermark, and
    /// the last receive time taken), when that is more than `limits.max_receive_jump`: its line may
    /// be damaged (``DecodeStep`` waits for the next message to tell). Nil for the daemon's own
    /// clock, and when nothing was seen yet.
    public func receiveJump(_ m: some TelemetryMessage) -> Int64? {
        guard !m.ownClock else { return nil }
        let reference = max(watermark.microseconds, lastReceived)
        guard reference > Int64.min else { return nil }
        let ahead = m.receivedAt.microseconds &- reference
        return ahead > limits.maxReceiveJumpUS ? ahead : nil
    }

    /// Number of distinct (asset, measurement) series seen.
    public var seriesCount: Int { seriesTotal }

    /// Decodes a message, appending its readings and rejects.
    public mutating func decode<Message: TelemetryMessage>(_ message: Message, readings: inout [Reading], rejects: inout [Reject]) {
        let rejectsBefore = rejects.count, readingsBefore = readings.count
        var out = Output(message: message)
        swap(&out.readings, &readings)
        swap(&out.rejects, &rejects)
        decode(message, into: &out)
        swap(&out.readings, &readings)
        swap(&out.rejects, &rejects)
        // A message wholly rejected says nothing of the time: it never moves the watermark.
        if readings.count > readingsBefore || rejects.count == rejectsBefore { observe(message.receivedAt) }
    }

    /// Where one message's readings and rejects go.
    struct Output<Message: TelemetryMessage> {
        let message: Message
        var readings: [Reading] = []
        var rejects: [Reject] = []
        mutating func reject(_ reason: RejectReason) {
            let m = message.message
            rejects.append(Reject(time: m.receivedAt, topic: m.topic, reason: reason, payload: m.payload))
        }
    }

    private mutating func decode<Message: TelemetryMessage>(_ message: Message, into out: inout Output<Message>) {
        guard message.receivedAt < Self.endOfTime else {
            return out.reject(.badReceiveTime(why: "\(message.receivedAt) is after 9998-12-31, the last day taken"))
        }
        guard message.receivedAt.microseconds > 0 else {
            return out.reject(.badReceiveTime(why: "\(message.receivedAt) is not after 1970"))
        }
        lastReceived = max(lastReceived, message.receivedAt.microseconds)
        guard message.payloadCount <= limits.maxPayload else {
            return out.reject(.payloadTooLarge(size: message.payloadCount, limit: limits.maxPayload))
        }
        // A prepared line's route was found on the thread that read it (``LinePreparer``); it is
        // used where it lies, its reference count untouched (the preparer keeps it).
        if let prepared = (message as? RawMessage)?.prepared {
            return prepared.rule._withUnsafeGuaranteedRef { decode(message, rule: $0, prepared: prepared, into: &out) }
        }
        switch message.withTopic({ route($0) }) {
        case .rule(let r): decode(message, rule: r, prepared: nil, into: &out)
        case .none(let reason): out.reject(reason)
        }
    }

    private mutating func decode<Message: TelemetryMessage>(_ message: Message, rule r: RouteRule, prepared: RawMessage.Prepared?,
                                                            into out: inout Output<Message>) {
        if r.index < lastReceivedByRule.count { lastReceivedByRule[r.index] = message.receivedAt.microseconds }
        if let j = json[r.index] {
            decodeJSON(message, rule: j, route: r, prepared: prepared, into: &out)
        } else if case .value(let layout) = rules[r.index].format {
            decodeValue(message, layout: layout, route: r, into: &out)
        } else if case .sparkplugB(let layout) = rules[r.index].format {
            decodeSparkplug(message, layout: layout, route: r, into: &out)
        }
    }

    // MARK: value

    private mutating func decodeValue<Message: TelemetryMessage>(_ message: Message, layout: DecodeRule.ValueLayout,
                                                                 route: RouteRule, into out: inout Output<Message>) {
        guard let name = route.captures.measurement else {
            return out.reject(.unknownMeasurement(name: "", known: layout.values.keys.sorted()))
        }
        guard let mapping = layout.values[String(name)] else {
            return out.reject(.unknownMeasurement(name: String(name), known: layout.values.keys.sorted()))
        }
        guard let asset = route.asset else { return out.reject(.missingAsset(key: "{asset}")) }
        let text = message.withPayload { String(decoding: $0, as: UTF8.self) }.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return out.reject(.emptyPayload) }
        guard let raw = DecimalNumber.parse(text) else { return out.reject(.notANumber(path: "payload", found: Self.excerpt(text))) }
        // Its time is the receive time: as far behind the watermark as any reading may be.
        if watermark.microseconds > Int64.min, watermark - message.receivedAt > limits.maxPastUS {
            return out.reject(.timeBehindWatermark(path: "receive time", behindUS: watermark - message.receivedAt, limitUS: limits.maxPastUS))
        }
        accept(raw, shown: text, path: "payload", mapping: HotMapping(mapping), asset: asset, hint: route, time: message.receivedAt, into: &out)
    }

    /// Why an event time is not taken (too far ahead of the receive time, or behind it or the
    /// watermark), or nil.
    func timeProblem(_ time: Timestamp, receivedAt: Timestamp, path: @autoclosure () -> String) -> RejectReason? {
        let ahead = time - receivedAt
        if ahead > limits.maxFutureUS {
            return .timeInFuture(path: path(), aheadUS: ahead, limitUS: limits.maxFutureUS)
        }
        if -ahead > limits.maxPastUS {
            return .timeTooOld(path: path(), behindUS: -ahead, limitUS: limits.maxPastUS)
        }
        // A recording can hold a reading received long after its time and also long after the
        // watermark: the same limit holds against the watermark.
        if watermark.microseconds > Int64.min, watermark - time > limits.maxPastUS {
            return .timeBehindWatermark(path: path(), behindUS: watermark - time, limitUS: limits.maxPastUS)
        }
        return nil
    }

    // MARK: one value

    /// Converts a value, checks it (finite before and after conversion, the register and series
    /// limits, plausibility) and appends it as a reading, or rejects it.
    mutating func accept<Message: TelemetryMessage>(_ raw: Double, shown: @autoclosure () -> String, path: @autoclosure () -> String,
                                                            mapping: HotMapping, asset: String, hint: RouteRule?,
                                                            time: Timestamp, into out: inout Output<Message>) {
        guard raw.isFinite else { return out.reject(.notFinite(path: path(), text: shown())) }
        let value = mapping.apply(raw)
        guard value.isFinite else {
            return out.reject(.notFinite(path: path(), text: "\(shown()), which is \(value) \(mapping.measurement.dimension.reportingUnit)"))
        }
        let a: Int
        switch admit(asset: asset, measurement: mapping.measurement, hint: hint) {
        case .admitted(let i): a = i
        case .refused(let reason): return out.reject(reason)
        }
        var counter = mapping.rules
        if let reason = check(value, path: path(), measurement: mapping.measurement, asset: a, time: time.microseconds,
                              counter: &counter) {
            return out.reject(reason)
        }
        let rules = counterNumber(counter, measurement: mapping.measurement, asset: a)
        out.readings.append(Reading(time: time, id: assets[a].id, measurement: mapping.measurement, value: value, counterNumber: rules))
        observe(time)
    }

    // MARK: helpers

    struct TimeProblem: Error { var message: String }

    /// Reads a JSON timestamp.
    static func time(_ value: JSONValue, format: DecodeRule.TimeFormat) -> Result<Timestamp, TimeProblem> {
        func fromNumber(_ n: Double) -> Result<Timestamp, TimeProblem> {
            guard n.isFinite else { return .failure(TimeProblem(message: "not finite")) }
            let seconds: Double
            switch format {
            case .seconds: seconds = n
            case .milliseconds: seconds = n / 1e3
            case .microseconds: seconds = n / 1e6
            case .rfc3339: return .failure(TimeProblem(message: "a number, expected RFC 3339 text"))
            case .auto: seconds = abs(n) >= 1e14 ? n / 1e6 : abs(n) >= 1e11 ? n / 1e3 : n
            }
            guard seconds > 0, let t = Timestamp(epochSeconds: seconds) else {
                return .failure(TimeProblem(message: "not a time after 1970"))
            }
            return checked(t)
        }
        func checked(_ t: Timestamp) -> Result<Timestamp, TimeProblem> {
            t < endOfTime ? .success(t) : .failure(TimeProblem(message: "after 9998-12-31, the last day taken"))
        }
        switch value {
        case .number(let n):
            return fromNumber(n)
        case .string(let s):
            if format != .rfc3339, let n = DecimalNumber.parse(s) { return fromNumber(n) }
            guard format == .rfc3339 || format == .auto else {
                return .failure(TimeProblem(message: "text, expected epoch \(format.rawValue)"))
            }
            switch RFC3339.parse(s) {
            case .success(let t): return checked(t)
            case .failure(.missingOffset): return .failure(TimeProblem(message: "no UTC offset: add Z or +08:00"))
            case .failure(.outOfRange): return .failure(TimeProblem(message: "a field is out of range"))
            case .failure(.malformed): return .failure(TimeProblem(message: "expected epoch seconds or milliseconds, or RFC 3339 text"))
            }
        default:
            return .failure(TimeProblem(message: "\(value.typeName), expected a number or text"))
        }
    }

    /// A JSON value shown in a message, shortened.
    static func show(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return "\(n)"
        case .string(let s): return "\"\(excerpt(s))\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    static func excerpt(_ s: String) -> String { s.count <= 40 ? s : String(s.prefix(40)) + "…" }
}
