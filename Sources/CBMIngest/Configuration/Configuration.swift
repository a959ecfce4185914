import CBMCore
import CBMMQTT
import CBMStorage
import Foundation
import Logging

/// The validated configuration: immutable, complete, every default applied. Built once by
/// ``ConfigurationLoader`` from the YAML file.
public struct Configuration: Sendable {
    /// The file it was read from.
    public var file: String
    /// How to reach the broker (the password, if any, is inside and is never printed).
    public var broker: MQTTOptions
    /// The Sparkplug B host application id (`broker.sparkplug_host_id`, else the client id), when
    /// a subscription is `sparkplug_b`: the daemon's STATE is `spBv1.0/STATE/<id>`.
    public var sparkplugHostID: String?
    /// Where the password came from, for summaries: `file /path`, `environment VAR`, or nil.
    public var passwordSource: String?
    /// The subscriptions: topic filters with their QoS, and how to decode what they deliver.
    public var subscriptions: [Subscription]
    /// The asset register.
    public var register: AssetRegister
    /// Where the register came from: a file path, or `inline`.
    public var registerSource: String
    /// Limits on payloads, timestamps and series.
    public var limits: DecodeLimits
    /// Aggregation settings (used by the aggregation stage).
    public var aggregation: AggregationSettings
    /// Factors for derived figures.
    public var factors: Factors
    /// Output settings.
    public var output: Output
    /// Pipeline sizing.
    public var pipeline: Pipeline
    /// The journal and checkpoints.
    public var journal: JournalSettings
    /// The log level (`--log-level` overrides it).
    public var logLevel: Logger.Level = .info
    /// How long a stop may take (drain, checkpoint, close) before the daemon exits anyway.
    public var shutdownTimeoutUS: Int64 = 30_000_000
    /// Alert rules.
    public var alerts: [AlertRule] = []
    /// Declared maintenance.
    public var maintenance: [AlertEngine.Maintenance] = []
    /// What is allowed but probably not meant, each with its line and key.
    public var warnings: [ConfigProblem] = []
    /// Where alarms go besides `alerts/`.
    public var alarmOutputs = AlarmOutputs()

    /// Where alarms go besides `alerts/` and the log.
    public struct AlarmOutputs: Sendable {
        /// Retained JSON state per alarm under `<mqttPrefix>/<scope>/<id>/<rule>`; nil: not published.
        public var mqttPrefix: String? = "cbm/alarms"
        /// Operators' commands (acknowledge, shelve, unshelve, maintenance); nil: none.
        public var commandTopic: String? = "cbm/alarms/command"
        /// A program run with each alarm change's JSON on stdin.
        public var hookCommand: String?
        public var hookTimeoutUS: Int64 = 10_000_000
        /// Who may sign commands, and their keys (`command_users`); empty: commands are unsigned,
        /// and may only acknowledge and unshelve.
        public var commandUsers: [String: [UInt8]] = [:]
        /// The longest a command may shelve an alarm, or declare maintenance.
        public var maxShelveUS: Int64 = 86_400_000_000
        public var maxMaintenanceUS: Int64 = 14 * 86_400_000_000
    }

    /// The HTTP server: metrics, health, the JSON API and the status page.
    public var http = HTTPSettings()

    public struct HTTPSettings: Sendable, Equatable {
        /// Where it listens (nil: no server). Port 0 takes a free port (the log says which).
        public var host: String? = "127.0.0.1"
        public var port = 9108
        /// The bearer token that write actions (alarm commands) need; required beyond loopback.
        public var token: String?
        /// Where the token came from (for the log; the token itself is never logged).
        public var tokenSource: String?
        /// How often the status page reloads itself.
        public var refreshSeconds = 30
        public init() {}
        /// Whether the address is a loopback one (127.0.0.0/8, ::1, localhost).
        public static func isLoopback(_ host: String) -> Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// The journal and checkpoints.
    public struct JournalSettings: Sendable {
        /// Where segments and the checkpoint live (absolute).
        public var directory: String
        /// When appended messages are made durable.
        public var policy: Journal.SyncPolicy = .interval
        /// The group commit interval of the `interval` policy.
        public var fsyncIntervalUS: Int64 = 100_000
        /// Segment size.
        public var segmentBytes: Int64 = 64 << 20
        /// Segments the last checkpoint no longer needs are kept this long...
        public var retainUS: Int64? = 7 * 86_400_000_000
        /// ...and within this many bytes.
        public var maxBytes: Int64? = 10 << 30
        /// How often the pipeline's state is checkpointed.
        public var checkpointIntervalUS: Int64 = 30_000_000
    }

    /// A subscription.
    public struct Subscription: Sendable {
        /// The MQTT subscription.
        public var mqtt: MQTTSubscription
        /// How to decode its messages.
        public var rule: DecodeRule
    }

    /// Output settings.
    public struct Output: Sendable {
        /// The output directory (absolute).
        public var directory: String
        /// Whether every decoded reading is written to `readings/`.
        public var readings: Bool
        /// Formats every family is written in.
        public var formats: [OutputStore.Format] = [.jsonl]
        /// How CSV files are laid out for spreadsheets.
        public var csv = CSVRecordEncoder.Style()
        /// Rotation by size and time.
        public var maxBytes: Int64 = 64 << 20
        public var intervalUS: Int64 = 86_400_000_000
        /// Retention of closed files, per family.
        public var retention = RetentionPolicy(maxAgeUS: 400 * 86_400_000_000, maxBytes: 20 << 30, maxFiles: nil)
        /// Whether closed files are gzip-compressed.
        public var compress = false
        /// How often `latest.json` is replaced.
        public var snapshotIntervalUS: Int64 = 5_000_000
    }

    /// Pipeline sizing.
    public struct Pipeline: Sendable, Equatable {
        /// Messages the intake queue holds before the MQTT callback blocks (and with it the broker).
        public var queueCapacity: Int = 10_000
        /// Partitions of the per-asset stage.
        public var partitions: Int = 2
        /// Most messages a stage takes at once.
        public var batch: Int = 512
    }

    /// What to subscribe to: each filter once, leaving out those another filter covers (the
    /// broker would deliver such messages twice, once per subscription), at the highest QoS asked.
    public var mqttSubscriptions: [MQTTSubscription] {
        var out: [MQTTSubscription] = []
        let filters = subscriptions.map(\.rule.filter)
        for (i, s) in subscriptions.enumerated() {
            let f = filters[i]
            let coveredBy = filters.indices.filter { j in
                j != i && filters[j].covers(f) && (!f.covers(filters[j]) || j < i)
            }
            if !coveredBy.isEmpty { continue }
            let qos = subscriptions.indices.filter { f.covers(filters[$0]) }.map { subscriptions[$0].mqtt.qos }.max() ?? s.mqtt.qos
            out.append(MQTTSubscription(topic: f.text, qos: qos))
        }
        return out
    }

    /// Configured filters that are not subscribed because another covers them; unsubscribed on
    /// connect, in case a persistent session still holds them.
    public var coveredFilters: [String] {
        let subscribed = Set(mqttSubscriptions.map(\.topic))
        return subscriptions.map(\.mqtt.topic).filter { !subscribed.contains($0) }
    }

    /// The decoding rules of all subscriptions, in order.
    public var rules: [DecodeRule] { subscriptions.map(\.rule) }

    /// A few lines that say what this configuration will do (never the password).
    public var summary: String {
        var lines: [String] = []
        let scheme = broker.tls == nil ? "mqtt" : "mqtts"
        lines.append("broker: \(scheme)://\(broker.host):\(broker.port) as \"\(broker.clientID)\", MQTT \(broker.protocolVersion.rawValue)"
            + (broker.protocolVersion == .v5 ? ", session expiry \(Quantities.describe(microseconds: Int64(broker.sessionExpirySeconds) * 1_000_000))" : ", persistent session")
            + (broker.username.map { ", user \($0)" } ?? "")
            + (passwordSource.map { ", password from \($0)" } ?? "")
            + (broker.tls.map { ", CA \($0.caFile)" + ($0.certFile.map { ", client certificate \($0)" } ?? "") } ?? ""))
        for s in subscriptions {
            let format: String
            switch s.rule.format {
            case .json(let j): format = "json, time \"\(j.timeKey)\", \(j.values.count) mapped keys"
            case .value(let v): format = "value, \(v.values.count) measurements"
            case .sparkplugB(let sp): format = "sparkplug_b, asset \(sp.asset.text), \(sp.values.count) mapped metrics"
                + (sp.values.values.contains { $0.unit == nil } ? " (units from engUnit where the mapping gives none)" : "")
            }
            lines.append("subscription: \(s.mqtt.topic) (QoS \(s.mqtt.qos)) as \(s.rule.template?.text ?? "the Sparkplug B namespace"): \(format)")
            let mappings: [(String, DecodeRule.ValueMapping)]
            switch s.rule.format {
            case .json(let j): mappings = j.values.map { ($0.key, $0.mapping) }
            case .value(let v): mappings = v.values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            case .sparkplugB(let sp): mappings = sp.values.sorted { $0.key < $1.key }.map { ($0.key, $0.value.mapping) }
            }
            for (key, m) in mappings { if let c = m.counter { lines.append("  \(key): \(Self.explain(c))") } }
        }
        lines.append("assets: \(register.count) from \(registerSource) (wells \(register.count(of: .well)), delivery meters \(register.count(of: .delivery)), flares \(register.count(of: .flare)))"
            + (limits.acceptUnknownAssets ? "; unregistered assets accepted up to \(limits.maxUnknownSeries) series" : "; unregistered assets rejected"))
        let a = aggregation
        lines.append("aggregation: \(a.windows.map(\.rawValue).joined(separator: ", ")) in \(a.timeZone.identifier), gas day from \(String(format: "%02d:%02d", a.dayStartMinutes / 60, a.dayStartMinutes % 60)), basis \(a.basis.name) 101.325 kPa, lateness \(Quantities.describe(microseconds: a.allowedLatenessUS)), max gap \(Quantities.describe(microseconds: a.maxGapUS)), \(a.integration.rawValue)")
        lines.append("factors: \(factors.coalKgcePerM3) kgce/m3 standard coal, \(factors.co2eKgPerM3) kg CO2e/m3")
        lines.append("limits: payload \(Quantities.describe(bytes: Int64(limits.maxPayload))), future \(Quantities.describe(microseconds: limits.maxFutureUS)), past \(Quantities.describe(microseconds: limits.maxPastUS)), \(limits.maxSeries) series, a recording's receive time jumping over \(Quantities.describe(microseconds: limits.maxReceiveJumpUS)) waits for the next message")
        lines.append("plausibility: " + Self.explain(limits.plausibility))
        lines.append("journal: \(journal.directory), fsync \(journal.policy.rawValue)"
            + (journal.policy == .interval ? " every \(Quantities.describe(microseconds: journal.fsyncIntervalUS))" : "")
            + ", checkpoint every \(Quantities.describe(microseconds: journal.checkpointIntervalUS))"
            + (journal.retainUS.map { ", kept \(Quantities.describe(microseconds: $0))" } ?? ""))
        if let host = http.host {
            lines.append("http: the status page, /metrics, /healthz and /api on \(host.contains(":") ? "[\(host)]" : host):\(http.port)"
                + (http.port == 0 ? " (a free port, logged)" : "") + ", refreshed every \(http.refreshSeconds)s; alarm actions "
                + (http.tokenSource.map { "need the bearer token in \($0.replacingOccurrences(of: "file ", with: ""))" } ?? "from loopback, as unsigned commands"))
        } else {
            lines.append("http: off")
        }
        for rule in alerts {
            lines.append("alert: \(rule.name) (\(rule.severity)) on \(rule.scope.rawValue)" + {
                switch rule.kind {
                case .noData(let after): return " silent for \(Quantities.describe(microseconds: after))"
                case .lowUtilisation(let b, let c): return " \(rule.window.rawValue) utilisation below \(b), clear above \(c)"
                case .lowOutput(let t):
                    switch t {
                    case .fractionOfExpected(let b, let c): return " \(rule.window.rawValue) volume below \(b) of expected, clear above \(c)"
                    case .absolute(let b, let c): return " \(rule.window.rawValue) volume below \(b) m3, clear above \(c) m3"
                    case .baseline(let b, let c, let n): return " \(rule.window.rawValue) volume below \(b) of the median of \(n) windows, clear above \(c)"
                    }
                }
            }())
        }
        lines.append("output: \(output.directory), \(output.formats.map(\.rawValue).joined(separator: " and "))"
            + (output.readings ? ", readings on" : "")
            + ", rotate at \(Quantities.describe(bytes: output.maxBytes)) or every \(Quantities.describe(microseconds: output.intervalUS))"
            + (output.compress ? ", closed files gzipped" : "")
            + (output.retention.maxAgeUS.map { ", kept \(Quantities.describe(microseconds: $0))" } ?? "")
            + (output.retention.maxBytes.map { " and at most \(Quantities.describe(bytes: $0)) a family" } ?? "")
            + (output.retention.maxFiles.map { ", \($0) files a family" } ?? ""))
        return lines.joined(separator: "\n")
    }

    /// How a totalizer's changes will be read, in words.
    static func explain(_ c: CounterRules) -> String {
        func pct(_ v: Double) -> String { Quantities.describe(number: v * 100) + "%" }
        var text = "totalizer: a rise is volume; a fall to \(pct(c.resetBelow)) of the previous reading or less is a reset (the new reading counts from zero)"
        if let r = c.rollover {
            text += "; a fall that passes through its rollover at \(Quantities.describe(number: r)) m3 to within \(pct(c.rolloverMargin)) of it "
                + "(rollover - old + new <= \(Quantities.describe(number: r * c.rolloverMargin)) m3) is a rollover"
        } else {
            text += "; no rollover value"
        }
        return text + "; any other fall is a step back, counted as the negative volume it is (reset_below, rollover_margin)"
    }

    /// The plausibility bounds, in words.
    static func explain(_ p: Plausibility) -> String {
        var parts: [String] = []
        for m in Measurement.allCases {
            guard let b = p.bounds[m], b.min != nil || b.max != nil else { continue }
            let unit = m.dimension.reportingUnit
            let lo = b.min.map { Quantities.describe(number: $0) }, hi = b.max.map { Quantities.describe(number: $0) }
            var text = "\(m.rawValue) " + (lo != nil && hi != nil ? "\(lo!) to \(hi!)" : lo != nil ? "at least \(lo!)" : "at most \(hi!)") + " \(unit)"
            if m == .gasRate, let f = p.wellRateFactor { text += " (a well at most \(Quantities.describe(number: f))x its expected_gas_m3d)" }
            parts.append(text)
        }
        parts.append("a totalizer's rise in one interval at most the rate above allows, over at least \(Quantities.describe(microseconds: p.totalizerSpanUS))"
            + ", and a step back at most what it makes in \(Quantities.describe(microseconds: p.stepBackSpanUS))")
        return parts.joined(separator: "; ")
    }
}
