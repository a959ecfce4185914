import Foundation

/// Turns messages into readings, or into rejects with one precise reason each.
///
/// A pure value: the time it needs is the message's receive time, and the only state it keeps is
/// the set of series seen, for the series limits. Bad parts of a payload are rejected one by one;
/// the good parts of the same payload still become readings.
public struct TelemetryDecoder: Sendable {
    /// The subscriptions' rules, in configuration order: the first that matches a topic decodes it.
    public private(set) var rules: [DecodeRule]
    /// The asset register.
    public private(set) var register: AssetRegister
    /// The limits.
    public private(set) var limits: DecodeLimits

    /// Takes a new configuration (a reload), keeping the series seen and the watermark.
    public mutating func reconfigure(rules: [DecodeRule], register: AssetRegister, limits: DecodeLimits) {
        self.rules = rules
        self.register = register
        self.limits = limits
    }

    /// The series seen: a bit per measurement for each asset (one hash per message, not per value).
    private var series: [String: UInt16] = [:]
    private var seriesTotal = 0
    private var unknownSeries = 0
    /// The last asset admitted and its series: the values of one message share their asset.
    private var cacheAsset = ""
    private var cacheMask: UInt16 = 0
    /// The watermark: the latest event or receive time seen. Windows close when it passes their
    /// end plus the allowed lateness; readings further behind it than the horizon are rejected.
    public private(set) var watermark = Timestamp(microseconds: .min)

    /// Moves the watermark to a time known to have passed (the wall clock, in live mode).
    public mutating func observe(_ t: Timestamp) {
        if t > watermark { watermark = t }
    }

    public init(rules: [DecodeRule], register: AssetRegister, limits: DecodeLimits) {
        self.rules = rules
        self.register = register
        self.limits = limits
    }

    /// Number of distinct (asset, measurement) series seen.
    public var seriesCount: Int { seriesTotal }

    /// Decodes a message, appending its readings and rejects.
    public mutating func decode(_ message: InboundMessage, readings: inout [Reading], rejects: inout [Reject]) {
        func reject(_ reason: RejectReason) {
            rejects.append(Reject(time: message.receivedAt, topic: message.topic, reason: reason, payload: message.payload))
        }
        observe(message.receivedAt)
        guard message.payload.count <= limits.maxPayload else {
            return reject(.payloadTooLarge(size: message.payload.count, limit: limits.maxPayload))
        }
        var mismatched: [String] = []
        for rule in rules where rule.filter.matches(message.topic) {
            guard let captures = rule.template.match(message.topic) else {
                mismatched.append(rule.template.text)
                continue
            }
            switch rule.format {
            case .json(let layout):
                decodeJSON(message, layout: layout, captures: captures, readings: &readings, reject: reject)
            case .value(let layout):
                decodeValue(message, layout: layout, captures: captures, readings: &readings, reject: reject)
            }
            return
        }
        reject(mismatched.isEmpty ? .noSubscription : .topicMismatch(templates: mismatched))
    }

    // MARK: value

    private mutating func decodeValue(_ message: InboundMessage, layout: DecodeRule.ValueLayout,
                                      captures: TopicTemplate.Captures, readings: inout [Reading],
                                      reject: (RejectReason) -> Void) {
        guard let name = captures.measurement else {
            return reject(.unknownMeasurement(name: "", known: layout.values.keys.sorted()))
        }
        guard let mapping = layout.values[String(name)] else {
            return reject(.unknownMeasurement(name: String(name), known: layout.values.keys.sorted()))
        }
        guard let asset = captures.asset.map(String.init) else { return reject(.missingAsset(key: "{asset}")) }
        let text = String(decoding: message.payload, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return reject(.emptyPayload) }
        guard let raw = Double(text) else { return reject(.notANumber(path: "payload", found: Self.excerpt(text))) }
        guard raw.isFinite else { return reject(.notFinite(path: "payload", text: text)) }
        if let reason = admit(asset: asset, measurement: mapping.measurement) { return reject(reason) }
        readings.append(Reading(time: message.receivedAt, asset: asset, measurement: mapping.measurement,
                                value: mapping.conversion.apply(raw), rollover: mapping.rollover))
    }

    // MARK: json

    private mutating func decodeJSON(_ message: InboundMessage, layout: DecodeRule.JSONLayout,
                                     captures: TopicTemplate.Captures, readings: inout [Reading],
                                     reject: (RejectReason) -> Void) {
        let root: JSONValue
        switch JSONParser.parse(message.payload) {
        case .success(let v): root = v
        case .failure(let e): return reject(.notJSON(e))
        }
        switch root {
        case .object:
            decodeObject(root, path: "payload", message: message, layout: layout, captures: captures, readings: &readings, reject: reject)
        case .array(let items):
            for (i, item) in items.enumerated() {
                let path = "[\(i)]"
                guard case .object = item else {
                    reject(.notAnObject(path: path, found: item.typeName))
                    continue
                }
                decodeObject(item, path: path, message: message, layout: layout, captures: captures, readings: &readings, reject: reject)
            }
        default:
            reject(.notAnObject(path: "payload", found: root.typeName))
        }
    }

    private mutating func decodeObject(_ object: JSONValue, path: String, message: InboundMessage,
                                       layout: DecodeRule.JSONLayout, captures: TopicTemplate.Captures,
                                       readings: inout [Reading], reject: (RejectReason) -> Void) {
        func at(_ key: String) -> String { path == "payload" ? key : "\(path).\(key)" }
        // Time.
        let time: Timestamp
        switch object[layout.timeKey] {
        case nil, .null?:
            return reject(.missingTime(key: at(layout.timeKey)))
        case let value?:
            switch Self.time(value, format: layout.timeFormat) {
            case .success(let t): time = t
            case .failure(let why): return reject(.badTime(path: at(layout.timeKey), text: Self.show(value), why: why.message))
            }
        }
        let ahead = time - message.receivedAt
        if ahead > limits.maxFutureUS {
            return reject(.timeInFuture(path: at(layout.timeKey), aheadUS: ahead, limitUS: limits.maxFutureUS))
        }
        if -ahead > limits.maxPastUS {
            return reject(.timeTooOld(path: at(layout.timeKey), behindUS: -ahead, limitUS: limits.maxPastUS))
        }
        if watermark - time > limits.horizonUS {
            return reject(.beyondHorizon(path: at(layout.timeKey), behindUS: watermark - time, limitUS: limits.horizonUS))
        }
        // Asset.
        var asset: String?
        if let key = layout.assetKey, let v = object[key] {
            switch v {
            case .string(let s) where !s.isEmpty: asset = s
            case .number(let n) where n == n.rounded() && abs(n) < 1e15: asset = String(Int64(n))
            default: break
            }
        }
        if asset == nil { asset = captures.asset.map(String.init) }
        guard let asset else { return reject(.missingAsset(key: layout.assetKey ?? "{asset}")) }
        // Values.
        var found = false
        for (key, mapping) in layout.values {
            guard let v = object[key] else { continue }
            found = true
            let raw: Double
            switch v {
            case .null:
                continue  // offline: no value is not zero
            case .number(let n):
                raw = n
            case .string(let s):
                guard let n = Double(s.trimmingCharacters(in: .whitespaces)) else {
                    reject(.notANumber(path: at(key), found: Self.show(v)))
                    continue
                }
                raw = n
            default:
                reject(.notANumber(path: at(key), found: Self.show(v)))
                continue
            }
            guard raw.isFinite else {
                reject(.notFinite(path: at(key), text: Self.show(v)))
                continue
            }
            if let reason = admit(asset: asset, measurement: mapping.measurement) {
                reject(reason)
                continue
            }
            readings.append(Reading(time: time, asset: asset, measurement: mapping.measurement,
                                    value: mapping.conversion.apply(raw), rollover: mapping.rollover))
            observe(time)
        }
        if !found {
            reject(.noMeasurement(path: path, keys: layout.values.map(\.key)))
        }
    }

    // MARK: helpers

    /// Checks the register and the series limits for a new reading; nil when it is admitted.
    private mutating func admit(asset: String, measurement: Measurement) -> RejectReason? {
        let bit = measurement.bit
        if cacheMask & bit != 0 && asset == cacheAsset { return nil }
        let mask = series[asset] ?? 0
        if mask & bit != 0 {
            cacheAsset = asset
            cacheMask = mask
            return nil
        }
        let known = register[asset] != nil
        if !known && !limits.acceptUnknownAssets { return .unknownAsset(id: asset) }
        if seriesTotal >= limits.maxSeries { return .tooManySeries(limit: limits.maxSeries) }
        if !known {
            if unknownSeries >= limits.maxUnknownSeries { return .tooManyUnknownSeries(limit: limits.maxUnknownSeries) }
            unknownSeries += 1
        }
        series[asset] = mask | bit
        seriesTotal += 1
        cacheAsset = asset
        cacheMask = mask | bit
        return nil
    }

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
            return .success(t)
        }
        switch value {
        case .number(let n):
            return fromNumber(n)
        case .string(let s):
            if format != .rfc3339, let n = Double(s) { return fromNumber(n) }
            guard format == .rfc3339 || format == .auto else {
                return .failure(TimeProblem(message: "text, expected epoch \(format.rawValue)"))
            }
            switch RFC3339.parse(s) {
            case .success(let t): return .success(t)
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

// MARK: checkpoint

extension TelemetryDecoder {
    /// The decoder's state (series seen, watermark) for a checkpoint.
    public func save(into w: inout BinaryWriter) {
        w.int(watermark.microseconds)
        w.int(unknownSeries)
        w.int(seriesTotal)
        for asset in series.keys.sorted() {
            for m in Measurement.allCases where series[asset]! & m.bit != 0 {
                w.string(asset)
                w.string(m.rawValue)
            }
        }
    }

    /// Restores the state a checkpoint saved.
    public mutating func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        watermark = Timestamp(microseconds: try r.int())
        unknownSeries = Int(try r.int())
        let n = try r.count()
        series.removeAll()
        seriesTotal = n
        cacheAsset = ""
        cacheMask = 0
        for _ in 0..<n {
            let asset = try r.string()
            guard let m = Measurement(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            series[asset, default: 0] |= m.bit
        }
    }
}
