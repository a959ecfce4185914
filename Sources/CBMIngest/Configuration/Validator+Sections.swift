import CBMCore
import CBMMQTT
import CBMStorage
import Foundation
import Logging

extension Validator {
    /// Validates every section; returns nil when a problem was found.
    mutating func configuration(_ raw: RawConfiguration) -> Configuration? {
        let root = ConfigPath.root
        let aggregation = aggregation(raw.aggregation, root / "aggregation")
        let (broker, passwordSource) = broker(raw.broker, root / "broker")
        let subscriptions = subscriptions(raw.subscriptions, root / "subscriptions", reportingBasis: aggregation.basis)
        var limits = limits(raw.limits, root / "limits")
        limits.plausibility = plausibility(raw.plausibility, root / "plausibility")
        let unknown = raw.unknownAssets
        limits.acceptUnknownAssets = bool(unknown?.accept, root / "unknown_assets" / "accept", default: false)
        limits.maxUnknownSeries = integer(unknown?.maxSeries, root / "unknown_assets" / "max_series", default: 1_000, range: 0...10_000_000)
        let (register, source) = register(raw.assets, root / "assets", acceptUnknown: limits.acceptUnknownAssets)
        var factors = Factors()
        factors.coalKgcePerM3 = positive(raw.factors?.coalKgcePerM3, root / "factors" / "coal_kgce_per_m3", default: factors.coalKgcePerM3)
        factors.co2eKgPerM3 = positive(raw.factors?.co2eKgPerM3, root / "factors" / "co2e_kg_per_m3", default: factors.co2eKgPerM3)
        let output = output(raw.output, root / "output")
        var pipeline = Configuration.Pipeline()
        pipeline.queueCapacity = integer(raw.pipeline?.queueCapacity, root / "pipeline" / "queue_capacity", default: pipeline.queueCapacity, range: 1...10_000_000)
        pipeline.partitions = integer(raw.pipeline?.partitions, root / "pipeline" / "partitions", default: pipeline.partitions, range: 1...64)
        pipeline.batch = integer(raw.pipeline?.batch, root / "pipeline" / "batch", default: pipeline.batch, range: 1...1_000_000)
        let journal = journal(raw.journal, root / "journal")
        let http = http(raw.http, root / "http")
        let alerts = alertRules(raw.alerts, root / "alerts", windows: aggregation.windows)
        let maintenance = maintenance(raw.maintenance, root / "maintenance")
        let alarmOutputs = alarmOutputs(raw.alarmOutputs, root / "alarm_outputs")
        var logLevel = Logger.Level.info
        if let l = raw.logLevel {
            if let level = Logger.Level(rawValue: l) { logLevel = level } else {
                problem(root / "log_level", "unknown level \"\(l)\" (use trace, debug, info, notice, warning, error, critical)")
            }
        }
        let shutdownTimeout = duration(raw.shutdownTimeout, root / "shutdown_timeout", default: 30_000_000)
        let sparkplug = subscriptions.contains { if case .sparkplugB = $0.rule.format { true } else { false } }
        var hostID: String?
        if let id = raw.broker?.sparkplugHostID {
            if !sparkplug {
                problem(root / "broker" / "sparkplug_host_id", "only for a sparkplug_b subscription: no subscription here is one")
            } else if id.isEmpty || id.contains(where: { "/+#".contains($0) }) {
                problem(root / "broker" / "sparkplug_host_id", "\"\(id)\" is not one topic level (no /, + or #)")
            }
            hostID = id
        } else if sparkplug {
            hostID = broker?.clientID
        }
        guard problems.isEmpty, let broker else { return nil }
        var c = Configuration(file: file, broker: broker, passwordSource: passwordSource, subscriptions: subscriptions,
                              register: register, registerSource: source, limits: limits, aggregation: aggregation,
                              factors: factors, output: output, pipeline: pipeline, journal: journal)
        c.alerts = alerts
        c.logLevel = logLevel
        c.shutdownTimeoutUS = shutdownTimeout
        c.maintenance = maintenance
        c.alarmOutputs = alarmOutputs
        c.sparkplugHostID = hostID
        c.http = http
        warnAboutAge(c, root)
        c.warnings = warnings
        return c
    }

    /// Ages that contradict each other: readings the configuration says it takes, but the
    /// aggregation refuses; a broker that queues longer than readings are taken for.
    mutating func warnAboutAge(_ c: Configuration, _ root: ConfigPath) {
        let d = Quantities.describe(microseconds:)
        let expiryUS = Int64(c.broker.sessionExpirySeconds) * 1_000_000
        if c.broker.protocolVersion == .v5, c.broker.persistentSession, c.limits.maxPastUS < expiryUS {
            warning(root / "limits" / "max_past", "\(d(c.limits.maxPastUS)) is shorter than broker.session_expiry (\(d(expiryUS))): "
                + "after an outage the broker delivers messages older than max_past, and they are rejected (time_too_old)")
        }
    }

    // MARK: assets

    mutating func register(_ raw: RawAssets?, _ path: ConfigPath, acceptUnknown: Bool) -> (AssetRegister, String) {
        switch raw {
        case nil:
            if !acceptUnknown {
                problem(path, "missing: a CSV register (assets: assets.csv) or an inline list; without one every reading is rejected (or set unknown_assets.accept)")
            }
            return (AssetRegister(), "nowhere")
        case .path(let p):
            guard let full = readableFile(p, path) else { return (AssetRegister(), p) }
            guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                problem(path, "\(full) is not UTF-8 text")
                return (AssetRegister(), full)
            }
            let parsed = AssetRegister.parseCSV(text, file: full)
            problems.append(contentsOf: parsed.problems)
            return (parsed.register, full)
        case .inline(let rows):
            var assets: [Asset] = []
            var seen = Set<String>()
            for (i, row) in rows.enumerated() {
                let rowPath = path.index(i)
                for column in row.keys where !Asset.knownColumns.contains(column) && column.hasPrefix("expected") {
                    problem(rowPath / column, "unknown column (did you mean expected_gas_m3d?)")
                }
                let made = Asset.make(row) { column in (file, locator.line(of: rowPath / column), (rowPath / column).description) }
                problems.append(contentsOf: made.problems)
                if let a = made.asset {
                    if !seen.insert(a.id).inserted { problem(rowPath / "id", "\"\(a.id)\" is registered twice") }
                    assets.append(a)
                }
            }
            return (AssetRegister(assets), "inline")
        }
    }

    // MARK: journal

    mutating func journal(_ raw: RawJournal?, _ path: ConfigPath) -> Configuration.JournalSettings {
        var j = Configuration.JournalSettings(directory: resolve(raw?.directory ?? "/var/lib/cbm-ingest/journal"))
        if let f = raw?.fsync {
            if let p = Journal.SyncPolicy(rawValue: f) { j.policy = p } else {
                problem(path / "fsync", "unknown policy \"\(f)\" (use always, interval or never)")
            }
        }
        j.fsyncIntervalUS = duration(raw?.fsyncInterval, path / "fsync_interval", default: j.fsyncIntervalUS)
        if j.fsyncIntervalUS < 1_000 { problem(path / "fsync_interval", "must be at least 1ms") }
        j.segmentBytes = size(raw?.segmentBytes, path / "segment_bytes", default: j.segmentBytes)
        if j.segmentBytes < 65_536 { problem(path / "segment_bytes", "must be at least 64KiB") }
        if let text = raw?.retain {
            j.retainUS = text == "forever" ? nil : duration(text, path / "retain", default: 0)
        }
        if let text = raw?.maxBytes {
            j.maxBytes = text == "unlimited" ? nil : size(text, path / "max_bytes", default: 0)
        }
        j.checkpointIntervalUS = duration(raw?.checkpointInterval, path / "checkpoint_interval", default: j.checkpointIntervalUS)
        if j.checkpointIntervalUS < 1_000_000 { problem(path / "checkpoint_interval", "must be at least 1s") }
        return j
    }

    // MARK: http

    mutating func http(_ raw: RawHTTP?, _ path: ConfigPath) -> Configuration.HTTPSettings {
        var h = Configuration.HTTPSettings()
        if let listen = raw?.listen {
            if listen == "off" {
                h.host = nil
            } else if let (host, port) = Self.hostPort(listen) {
                (h.host, h.port) = (host, port)
            } else {
                problem(path / "listen", "\"\(listen)\" is not host:port (127.0.0.1:9108, [::1]:9108, 0.0.0.0:9108) or off")
            }
        }
        if let f = raw?.tokenFile, let full = readableFile(f, path / "token_file"), privateFile(full, path / "token_file") {
            let token = ((try? String(contentsOfFile: full, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if token.count < 16 {
                problem(path / "token_file", "\(full) holds \(token.count) characters: a token needs at least 16")
            } else if token.contains(where: { $0.isWhitespace }) {
                problem(path / "token_file", "\(full): a token is one line without spaces")
            } else {
                h.token = token
                h.tokenSource = "file \(full)"
            }
        }
        if let host = h.host, !Configuration.HTTPSettings.isLoopback(host), raw?.tokenFile == nil {
            problem(path / "token_file", "missing: listening on \(host), beyond loopback, needs a bearer token for the write actions")
        }
        h.refreshSeconds = Int(duration(raw?.refresh, path / "refresh", default: 30_000_000) / 1_000_000)
        if h.refreshSeconds < 2 { problem(path / "refresh", "must be at least 2s") }
        return h
    }

    /// `host:port`, `[v6]:port`; the port 0…65535.
    static func hostPort(_ text: String) -> (String, Int)? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let p = Int(port), (0...65_535).contains(p) else { return nil }
        return (String(host), p)
    }

    // MARK: output

    mutating func output(_ raw: RawOutput?, _ path: ConfigPath) -> Configuration.Output {
        var o = Configuration.Output(directory: resolve(raw?.directory ?? "/var/lib/cbm-ingest/out"),
                                     readings: bool(raw?.readings, path / "readings", default: false))
        if let formats = raw?.formats {
            var out: [OutputStore.Format] = []
            for (i, f) in formats.enumerated() {
                if let format = OutputStore.Format(rawValue: f.lowercased()) {
                    if !out.contains(format) { out.append(format) }
                } else {
                    problem((path / "formats").index(i), "unknown format \"\(f)\" (use jsonl, csv)")
                }
            }
            if formats.isEmpty { problem(path / "formats", "empty: keep at least one of jsonl, csv") }
            o.formats = out.isEmpty ? [.jsonl] : out
        }
        o.maxBytes = size(raw?.rotate?.maxBytes, path / "rotate" / "max_bytes", default: o.maxBytes)
        if o.maxBytes < 4096 { problem(path / "rotate" / "max_bytes", "must be at least 4KiB") }
        if let text = raw?.rotate?.interval {
            let v = duration(text, path / "rotate" / "interval", default: o.intervalUS)
            if RotationSchedule.allowedIntervals.contains(v) {
                o.intervalUS = v
            } else if Quantities.duration(text) != nil {
                problem(path / "rotate" / "interval", "\"\(text)\" does not divide a day; use 1m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h or 1d")
            }
        }
        let r = raw?.retain
        if let text = r?.maxAge {
            o.retention.maxAgeUS = text == "forever" ? nil : duration(text, path / "retain" / "max_age", default: 0)
        }
        if let text = r?.maxBytes {
            o.retention.maxBytes = text == "unlimited" ? nil : size(text, path / "retain" / "max_bytes", default: 0)
        }
        if let text = r?.maxFiles {
            o.retention.maxFiles = integer(text, path / "retain" / "max_files", default: 0, range: 1...100_000_000)
        }
        switch raw?.compress?.lowercased() {
        case nil, "none", "false", "no": o.compress = false
        case "gzip": o.compress = true
        case let other?: problem(path / "compress", "unknown compression \"\(other)\" (use gzip or none)")
        }
        o.csv.byteOrderMark = bool(raw?.csv?.bom, path / "csv" / "bom", default: false)
        o.csv.localTimes = bool(raw?.csv?.localTimes, path / "csv" / "local_times", default: false)
        if raw?.csv != nil && !o.formats.contains(.csv) {
            problem(path / "csv", "set, but csv is not among output.formats (add it: formats: [jsonl, csv])")
        }
        o.snapshotIntervalUS = duration(raw?.snapshotInterval, path / "snapshot_interval", default: o.snapshotIntervalUS)
        if o.snapshotIntervalUS < 1_000_000 { problem(path / "snapshot_interval", "must be at least 1s") }
        return o
    }
}
