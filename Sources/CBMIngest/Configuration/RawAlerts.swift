import CBMCore
import Yams

// `alerts:`, `alarm_outputs:` and `maintenance:` as written (see RawConfiguration.swift).

struct RawAlertRule: RawSection {
    var name: String?
    var kind: String?
    var severity: String?
    var scope: String?
    var ids: [String]?
    var match: String?
    var window: String?
    var below: String?
    var belowM3: String?
    var belowBaseline: String?
    var baseline: String?
    var clearAbove: String?
    var clearAboveM3: String?
    var onDelay: String?
    var offDelay: String?
    var minCoverage: String?
    var after: String?
    enum Keys: String, CodingKey, CaseIterable {
        case name, kind, severity, scope, ids, match, window, below, baseline, after
        case belowM3 = "below_m3"
        case belowBaseline = "below_baseline"
        case clearAbove = "clear_above"
        case clearAboveM3 = "clear_above_m3"
        case onDelay = "on_delay"
        case offDelay = "off_delay"
        case minCoverage = "min_coverage"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] { ["ids": .list(.scalar)] }
}

struct RawAlarmOutputs: RawSection {
    var mqttPrefix: String?
    var commandTopic: String?
    var hook: RawHook?
    var commandUsers: String?
    var maxShelve: String?
    var maxMaintenance: String?
    enum Keys: String, CodingKey, CaseIterable {
        case hook
        case mqttPrefix = "mqtt_prefix"
        case commandTopic = "command_topic"
        case commandUsers = "command_users"
        case maxShelve = "max_shelve"
        case maxMaintenance = "max_maintenance"
    }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] { ["hook": .section(RawHook.self)] }
}

struct RawHook: RawSection {
    var command: String?
    var timeout: String?
    enum Keys: String, CodingKey, CaseIterable { case command, timeout }
    typealias CodingKeys = Keys
}

struct RawMaintenance: RawSection {
    var ids: [String]?
    var match: String?
    var from: String?
    var until: String?
    var reason: String?
    enum Keys: String, CodingKey, CaseIterable { case ids, match, from, until, reason }
    typealias CodingKeys = Keys
    static var children: [String: KeySchema] { ["ids": .list(.scalar)] }
}
