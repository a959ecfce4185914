import Foundation

/// Why (part of) a message was not accepted. Each case is one precise reason, with a stable
/// `code` for counting and the details a user needs to fix the sender.
public enum RejectReason: Equatable, Sendable, CustomStringConvertible {
    case payloadTooLarge(size: Int, limit: Int)
    case emptyPayload
    case noSubscription
    case topicMismatch(templates: [String])
    case notJSON(JSONSyntaxError)
    case notAnObject(path: String, found: String)
    case missingTime(key: String)
    case badTime(path: String, text: String, why: String)
    case timeInFuture(path: String, aheadUS: Int64, limitUS: Int64)
    case timeTooOld(path: String, behindUS: Int64, limitUS: Int64)
    case notANumber(path: String, found: String)
    case notFinite(path: String, text: String)
    case missingAsset(key: String)
    case unknownAsset(id: String)
    case unknownMeasurement(name: String, known: [String])
    case noMeasurement(path: String, keys: [String])
    case tooManySeries(limit: Int)
    case tooManyUnknownSeries(limit: Int)
    case timeBehindWatermark(path: String, behindUS: Int64, limitUS: Int64)
    /// A value outside its plausible bounds (`above`: over the maximum, else under the minimum).
    case implausibleValue(path: String, value: Double, unit: String, limit: Double, above: Bool, key: String)
    /// A totalizer whose change from the reading before it implies an impossible rate.
    case implausibleIncrease(path: String, from: Double, to: Double, spanUS: Int64, counted: Double, allowed: Double, key: String)
    /// A totalizer whose fall from the reading before it is larger than a correction can be.
    case implausibleStepBack(path: String, from: Double, to: Double, spanUS: Int64, amount: Double, allowed: Double, key: String)
    /// A receive time implausibly far after the latest time seen (a damaged recording).
    case receiveTimeJump(aheadUS: Int64, limitUS: Int64)
    /// A receive time that cannot be right (beyond the last date taken).
    case badReceiveTime(why: String)
    /// A payload on a `sparkplug_b` subscription that is not a Sparkplug B payload.
    case notSparkplug(why: String)
    /// A topic outside the Sparkplug B namespace (`spBv1.0/group/type/edge_node[/device]`).
    case sparkplugTopic(why: String)
    /// Data from an edge node or device whose birth certificate has not been seen (a rebirth is asked for).
    case sparkplugNoBirth(source: String)
    /// Metrics by alias (or name) that the birth certificate did not declare (a rebirth is asked for).
    case sparkplugUnknownMetric(source: String, metrics: [String])
    /// A `seq` that does not follow the one before (messages were lost; a rebirth is asked for).
    case sparkplugSeqGap(source: String, expected: Int, got: Int)
    /// A mapped metric whose data type is not a number.
    case sparkplugWrongDatatype(metric: String, datatype: String)
    /// A mapped metric without a unit: neither the mapping nor its birth certificate gives one.
    case sparkplugNoUnit(measurement: String)
    /// A metric's `engUnit` that is not a unit of its measurement.
    case sparkplugBadUnit(unit: String, measurement: String, dimension: String)

    /// A stable identifier of the reason, for counting and filtering.
    public var code: String {
        switch self {
        case .payloadTooLarge: return "payload_too_large"
        case .emptyPayload: return "empty_payload"
        case .noSubscription: return "no_subscription"
        case .topicMismatch: return "topic_mismatch"
        case .notJSON: return "not_json"
        case .notAnObject: return "not_an_object"
        case .missingTime: return "missing_time"
        case .badTime: return "bad_time"
        case .timeInFuture: return "time_in_future"
        case .timeTooOld: return "time_too_old"
        case .notANumber: return "not_a_number"
        case .notFinite: return "not_finite"
        case .missingAsset: return "missing_asset"
        case .unknownAsset: return "unknown_asset"
        case .unknownMeasurement: return "unknown_measurement"
        case .noMeasurement: return "no_measurement"
        case .tooManySeries: return "too_many_series"
        case .tooManyUnknownSeries: return "too_many_unknown_series"
        case .timeBehindWatermark: return "time_too_old"
        case .implausibleValue: return "implausible_value"
        case .implausibleIncrease: return "implausible_increase"
        case .implausibleStepBack: return "implausible_step_back"
        case .receiveTimeJump: return "receive_time_jump"
        case .badReceiveTime: return "bad_receive_time"
        case .notSparkplug: return "not_sparkplug"
        case .sparkplugTopic: return "sparkplug_topic"
        case .sparkplugNoBirth: return "sparkplug_no_birth"
        case .sparkplugUnknownMetric: return "sparkplug_unknown_metric"
        case .sparkplugSeqGap: return "sparkplug_seq_gap"
        case .sparkplugWrongDatatype: return "sparkplug_wrong_datatype"
        case .sparkplugNoUnit: return "sparkplug_no_unit"
        case .sparkplugBadUnit: return "sparkplug_bad_unit"
        }
    }

    public var description: String {
        func n(_ v: Double) -> String { Quantities.describe(number: v) }
        switch self {
        case .payloadTooLarge(let size, let limit):
            return "payload of \(size) bytes is over the limit of \(limit) bytes (limits.max_payload)"
        case .emptyPayload:
            return "empty payload"
        case .noSubscription:
            return "topic matches no subscription"
        case .topicMismatch(let templates):
            return "topic does not match template \(templates.map { "\"\($0)\"" }.joined(separator: " or "))"
        case .notJSON(let e):
            return "not JSON: \(e)"
        case .notAnObject(let path, let found):
            return "\(path) is \(found), expected an object"
        case .missingTime(let key):
            return "missing time: no key \"\(key)\""
        case .badTime(let path, let text, let why):
            return "unparsable time at \(path): \(text) (\(why))"
        case .timeInFuture(let path, let ahead, let limit):
            return "time at \(path) is \(Quantities.describe(microseconds: ahead)) ahead of the receive time (limits.max_future is \(Quantities.describe(microseconds: limit)))"
        case .timeTooOld(let path, let behind, let limit):
            return "time at \(path) is \(Quantities.describe(microseconds: behind)) before the receive time (limits.max_past is \(Quantities.describe(microseconds: limit)))"
        case .notANumber(let path, let found):
            return "value at \(path) is not a decimal number: \(found)"
        case .notFinite(let path, let text):
            return "value at \(path) is not finite: \(text)"
        case .missingAsset(let key):
            return "no asset: neither the topic nor the payload key \"\(key)\" names one"
        case .unknownAsset(let id):
            return "unknown asset \"\(id)\": not in the asset register"
        case .unknownMeasurement(let name, let known):
            return "unknown measurement \"\(name)\" (this subscription knows: \(known.joined(separator: ", ")))"
        case .noMeasurement(let path, let keys):
            return "no known measurement in \(path) (expected one of the keys: \(keys.joined(separator: ", ")))"
        case .tooManySeries(let limit):
            return "new series refused: \(limit) series already (limits.max_series)"
        case .timeBehindWatermark(let path, let behind, let limit):
            return "time at \(path) is \(Quantities.describe(microseconds: behind)) before the watermark (limits.max_past is \(Quantities.describe(microseconds: limit)))"
        case .tooManyUnknownSeries(let limit):
            return "new series of an unregistered asset refused: \(limit) such series already (unknown_assets.max_series)"
        case .implausibleValue(let path, let value, let unit, let limit, let above, let key):
            return "value at \(path) is \(n(value)) \(unit), \(above ? "above the plausible maximum" : "below the plausible minimum") "
                + "\(n(limit)) \(unit) (\(key))"
        case .implausibleIncrease(let path, let from, let to, let span, let counted, let allowed, let key):
            return "totalizer at \(path) went from \(n(from)) to \(n(to)) m3 in \(Quantities.describe(microseconds: span)): "
                + "\(n(counted)) m3, more than the \(n(allowed)) m3 a plausible rate allows (\(key), plausibility.totalizer_span)"
        case .implausibleStepBack(let path, let from, let to, let span, let amount, let allowed, let key):
            return "totalizer at \(path) went from \(n(from)) to \(n(to)) m3 in \(Quantities.describe(microseconds: span)), neither a reset nor "
                + "a rollover: a step back of \(n(amount)) m3, more than the \(n(allowed)) m3 a correction can take back (\(key), "
                + "plausibility.step_back_span)"
        case .receiveTimeJump(let ahead, let limit):
            return "receive time is \(Quantities.describe(microseconds: ahead)) after the latest time seen, and the next message "
                + "does not follow it (limits.max_receive_jump is \(Quantities.describe(microseconds: limit))): a damaged recording line?"
        case .badReceiveTime(let why):
            return "receive time \(why)"
        case .notSparkplug(let why):
            return "not a Sparkplug B payload: \(why)"
        case .sparkplugTopic(let why):
            return "not a Sparkplug B topic: \(why)"
        case .sparkplugNoBirth(let source):
            return "data from \(source) before its birth certificate: a rebirth is asked for"
        case .sparkplugUnknownMetric(let source, let metrics):
            return "\(metrics.joined(separator: ", ")) not declared in the birth certificate of \(source): a rebirth is asked for"
        case .sparkplugSeqGap(let source, let expected, let got):
            return "seq \(got) from \(source), expected \(expected): messages were lost, a rebirth is asked for"
        case .sparkplugWrongDatatype(let metric, let datatype):
            return "metric \"\(metric)\" is mapped to a measurement but its data type is \(datatype), not a number"
        case .sparkplugNoUnit(let measurement):
            return "no unit for \(measurement): the mapping gives none and the metric's birth certificate has no engUnit property"
        case .sparkplugBadUnit(let unit, let measurement, let dimension):
            return "the metric's engUnit \"\(unit)\" is not a unit of \(dimension) (\(measurement)): give unit: in the mapping"
        }
    }
}

/// A message, or part of one, that was not accepted, with its reason (a `rejects` record).
public struct Reject: Sendable, Equatable {
    /// The receive time of the message.
    public var time: Timestamp
    /// Its topic.
    public var topic: String
    /// Why.
    public var reason: RejectReason
    /// The payload (the record truncates it).
    public var payload: [UInt8]

    public init(time: Timestamp, topic: String, reason: RejectReason, payload: [UInt8]) {
        self.time = time
        self.topic = topic
        self.reason = reason
        self.payload = payload
    }
}

/// (A reason can be the failure of a `Result`.)
extension RejectReason: Error {}
