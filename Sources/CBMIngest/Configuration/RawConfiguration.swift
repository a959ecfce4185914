import CBMCore
import Yams

// The configuration file as written: every leaf is text, so that a wrong value is reported by
// the validator with its line and key path instead of stopping the decoding at the first one.
// `ConfigurationLoader` turns these into the immutable, validated `Configuration`.

/// A section of the file whose keys are known: unknown keys are reported.
protocol RawSection: Decodable {
    associatedtype Keys: CodingKey & CaseIterable
    /// The schema of keys whose values are sections, lists or maps.
    static var children: [String: KeySchema] { get }
}

extension RawSection {
    static var children: [String: KeySchema] { [:] }
}

/// What the audit of unknown keys expects at a place in the file.
indirect enum KeySchema {
    case section(any RawSection.Type)
    case list(KeySchema)
    case map(KeySchema)
    case scalar
    /// A scalar or a list (e.g. `assets: path` or an inline list of assets).
    case scalarOrList(KeySchema)
}

struct RawConfiguration: RawSection {
    var broker: RawBroker?
    var subscriptions: [RawSubscription]?
    var assets: RawAssets?
    var unknownAssets: RawUnknownAssets?
    var aggregation: RawAggregation?
    var factors: RawFactors?
    var limits: RawLimits?
    var plausibility: RawPlausibility?
    var output: RawOutput?
    var pipeline: RawPipeline?
    var journal: RawJournal?
    var http: RawHTTP?
    var alerts: [RawAlertRule]?
    var alarmOutputs: RawAlarmOutputs?
    var maintenance: [RawMaintenance]?
    var logLevel: String?
    var shutdownTimeout: String?

    enum Keys: String, CodingKey, CaseIterable {
        case logLevel = "log_level"
        case shutdownTimeout = "shutdown_timeout"
        case broker, subscriptions, assets, aggregation, factors, limits, plausibility, output, pipeline, journal, http, alerts, maintenance
        case alarmOutputs = "alarm_outputs"
        case unknownAssets = "unknown_assets"
    }
    typealias CodingKeys = Keys

    static var children: [String: KeySchema] {
        [
            "broker": .section(RawBroker.self),
            "subscriptions": .list(.section(RawSubscription.self)),
            "assets": .scalarOrList(.map(.scalar)),
            "unknown_assets": .section(RawUnknownAssets.self),
            "aggregation": .section(RawAggregation.self),
            "factors": .section(RawFactors.self),
            "limits": .section(RawLimits.self),
            "plausibility": .section(RawPlausibility.self),
            "output": .section(RawOutput.self),
            "pipeline": .section(RawPipeline.self),
            "journal": .section(RawJournal.self),
            "http": .section(RawHTTP.self),
            "alerts": .list(.section(RawAlertRule.self)),
            "alarm_outputs": .section(RawAlarmOutputs.self),
            "maintenance": .list(.section(RawMaintenance.self)),
        ]
    }
}

struct RawBroker: RawSection {
    var url: String?
    var clientID: String?
    var `protocol`: String?
    var sessionExpiry: String?
    var keepalive: String?
    var username: String?
    var passwordFile: String?
    var passwordEnv: String?
    var tls: RawTLS?
    var reconnect: RawReconnect?
    var receiveMaximum: String?
    var sparkplugHostID: String?

    enum Keys: String, CodingKey, CaseIterable {
        case url, username, tls, keepalive, reconnect, `protocol`
        case sparkplugHostID = "sparkplug_host_id"
        case clientID = "client_id"
        case sessionExpiry = "session_expiry"
        case passwordFile = "password_file"
        case passwordEnv = "password_env"
        case receiveMaximum = "receive_maximum"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] { ["tls": .section(RawTLS.self), "reconnect": .section(RawReconnect.self)] }
}

struct RawTLS: RawSection {
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    enum Keys: String, CodingKey, CaseIterable {
        case caFile = "ca_file"
        case certFile = "cert_file"
        case keyFile = "key_file"
    }
    typealias CodingKeys = Keys
}

struct RawReconnect: RawSection {
    var min: String?
    var max: String?
    enum Keys: String, CodingKey, CaseIterable { case min, max }
    typealias CodingKeys = Keys
}

struct RawSubscription: RawSection {
    var topic: String?
    var template: String?
    var format: String?
    var qos: String?
    var time: String?
    var timeFormat: String?
    var asset: String?
    var values: [String: RawValueMapping]?
    var units: [String: String]?
    var basis: String?

    enum Keys: String, CodingKey, CaseIterable {
        case topic, template, format, qos, time, asset, values, units, basis
        case timeFormat = "time_format"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] {
        ["values": .map(.section(RawValueMapping.self)), "units": .map(.scalar)]
    }
}

struct RawValueMapping: RawSection {
    var measurement: String?
    var unit: String?
    var rollover: String?
    var resetBelow: String?
    var rolloverMargin: String?
    enum Keys: String, CodingKey, CaseIterable {
        case measurement, unit, rollover
        case resetBelow = "reset_below"
        case rolloverMargin = "rollover_margin"
    }
    typealias CodingKeys = Keys
}

/// `assets:` is a path to a CSV register, or an inline list of assets.
enum RawAssets: Decodable {
    case path(String)
    case inline([[String: String]])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let path = try? c.decode(String.self) {
            self = .path(path)
        } else {
            self = .inline(try c.decode([[String: String]].self))
        }
    }
}

struct RawUnknownAssets: RawSection {
    var accept: String?
    var maxSeries: String?
    enum Keys: String, CodingKey, CaseIterable {
        case accept
        case maxSeries = "max_series"
    }
    typealias CodingKeys = Keys
}

struct RawAggregation: RawSection {
    var timezone: String?
    var dayStart: String?
    var windows: [String]?
    var basis: String?
    var allowedLateness: String?
    var maxGap: String?
    var integration: String?
    var flushInterval: String?
    var horizon: String?
    var hotSpan: String?
    enum Keys: String, CodingKey, CaseIterable {
        case timezone, windows, basis, integration, horizon
        case hotSpan = "hot_span"
        case dayStart = "day_start"
        case allowedLateness = "allowed_lateness"
        case maxGap = "max_gap"
        case flushInterval = "flush_interval"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] { ["windows": .list(.scalar)] }
}

struct RawFactors: RawSection {
    var coalKgcePerM3: String?
    var co2eKgPerM3: String?
    enum Keys: String, CodingKey, CaseIterable {
        case coalKgcePerM3 = "coal_kgce_per_m3"
        case co2eKgPerM3 = "co2e_kg_per_m3"
    }
    typealias CodingKeys = Keys
}

struct RawLimits: RawSection {
    var maxPayload: String?
    var maxFuture: String?
    var maxPast: String?
    var maxSeries: String?
    var maxReceiveJump: String?
    enum Keys: String, CodingKey, CaseIterable {
        case maxPayload = "max_payload"
        case maxFuture = "max_future"
        case maxPast = "max_past"
        case maxSeries = "max_series"
        case maxReceiveJump = "max_receive_jump"
    }
    typealias CodingKeys = Keys
}

struct RawOutput: RawSection {
    var directory: String?
    var readings: String?
    var formats: [String]?
    var rotate: RawRotate?
    var retain: RawRetain?
    var compress: String?
    var snapshotInterval: String?
    var csv: RawCSV?
    enum Keys: String, CodingKey, CaseIterable {
        case directory, readings, formats, rotate, retain, compress, csv
        case snapshotInterval = "snapshot_interval"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] {
        ["formats": .list(.scalar), "rotate": .section(RawRotate.self), "retain": .section(RawRetain.self),
         "csv": .section(RawCSV.self)]
    }
}

struct RawCSV: RawSection {
    var bom: String?
    var localTimes: String?
    enum Keys: String, CodingKey, CaseIterable {
        case bom
        case localTimes = "local_times"
    }
    typealias CodingKeys = Keys
}

struct RawRotate: RawSection {
    var maxBytes: String?
    var interval: String?
    enum Keys: String, CodingKey, CaseIterable {
        case interval
        case maxBytes = "max_bytes"
    }
    typealias CodingKeys = Keys
}

struct RawRetain: RawSection {
    var maxAge: String?
    var maxBytes: String?
    var maxFiles: String?
    enum Keys: String, CodingKey, CaseIterable {
        case maxAge = "max_age"
        case maxBytes = "max_bytes"
        case maxFiles = "max_files"
    }
    typealias CodingKeys = Keys
}

struct RawPipeline: RawSection {
    var queueCapacity: String?
    var partitions: String?
    var batch: String?
    enum Keys: String, CodingKey, CaseIterable {
        case partitions, batch
        case queueCapacity = "queue_capacity"
    }
    typealias CodingKeys = Keys
}

struct RawJournal: RawSection {
    var directory: String?
    var fsync: String?
    var fsyncInterval: String?
    var segmentBytes: String?
    var retain: String?
    var maxBytes: String?
    var checkpointInterval: String?
    enum Keys: String, CodingKey, CaseIterable {
        case directory, fsync, retain
        case fsyncInterval = "fsync_interval"
        case segmentBytes = "segment_bytes"
        case maxBytes = "max_bytes"
        case checkpointInterval = "checkpoint_interval"
    }
    typealias CodingKeys = Keys
}

struct RawHTTP: RawSection {
    var listen: String?
    var tokenFile: String?
    var refresh: String?
    enum Keys: String, CodingKey, CaseIterable {
        case listen, refresh
        case tokenFile = "token_file"
    }
    typealias CodingKeys = Keys
}
