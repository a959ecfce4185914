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
        limits.horizonUS = aggregation.horizonUS
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
        guard problems.isEmpty, let broker else { return nil }
        var c = Configuration(file: file, broker: broker, passwordSource: passwordSource, subscriptions: subscriptions,
                              register: register, registerSource: source, limits: limits, aggregation: aggregation,
                              factors: factors, output: output, pipeline: pipeline, journal: journal)
        c.alerts = alerts
        c.logLevel = logLevel
        c.shutdownTimeoutUS = shutdownTimeout
        c.maintenance = maintenance
        c.alarmOutputs = alarmOutputs
        return c
    }

    // MARK: broker

    mutating func broker(_ raw: RawBroker?, _ path: ConfigPath) -> (MQTTOptions?, String?) {
        let url = raw?.url ?? "mqtt://127.0.0.1:1883"
        guard let parsed = MQTTOptions.parseURL(url) else {
            problem(path / "url", "\"\(url)\" is not a broker URL (mqtt://host:port or mqtts://host:port)")
            return (nil, nil)
        }
        let clientID = raw?.clientID ?? "cbm-ingest"
        if clientID.isEmpty || clientID.utf8.count > 65_535 {
            problem(path / "client_id", "must be a fixed, non-empty id: the broker keys the persistent session on it")
        }
        var options = MQTTOptions(host: parsed.host, port: parsed.port, clientID: clientID)
        switch raw?.protocol ?? "5" {
        case "5", "5.0", "v5": options.protocolVersion = .v5
        case "3.1.1", "311", "v3.1.1", "4": options.protocolVersion = .v311
        case let other: problem(path / "protocol", "\"\(other)\" is not a supported MQTT version (use \"5\" or \"3.1.1\")")
        }
        let expiry = duration(raw?.sessionExpiry, path / "session_expiry", default: 7 * 86_400 * 1_000_000)
        if expiry / 1_000_000 > Int64(UInt32.max) || expiry < 1_000_000 {
            problem(path / "session_expiry", "must be from 1s to about 136 years (MQTT 5 counts it in seconds)")
        } else {
            options.sessionExpirySeconds = UInt32(expiry / 1_000_000)
        }
        let keepalive = duration(raw?.keepalive, path / "keepalive", default: 30_000_000)
        if keepalive < 5_000_000 || keepalive > 65_535_000_000 {
            problem(path / "keepalive", "must be from 5s to 65535s")
        } else {
            options.keepAliveSeconds = Int(keepalive / 1_000_000)
        }
        let rmin = duration(raw?.reconnect?.min, path / "reconnect" / "min", default: 1_000_000)
        let rmax = duration(raw?.reconnect?.max, path / "reconnect" / "max", default: 30_000_000)
        if rmin < 1_000_000 { problem(path / "reconnect" / "min", "must be at least 1s (libmosquitto counts whole seconds)") }
        if rmax < rmin { problem(path / "reconnect" / "max", "must not be shorter than reconnect.min") }
        options.reconnectMinSeconds = UInt32(clamping: rmin / 1_000_000)
        options.reconnectMaxSeconds = UInt32(clamping: rmax / 1_000_000)
        options.receiveMaximum = integer(raw?.receiveMaximum, path / "receive_maximum", default: 20, range: 1...65_535)
        options.username = raw?.username
        var source: String?
        if raw?.passwordFile != nil && raw?.passwordEnv != nil {
            problem(path / "password_env", "give the password in password_file or password_env, not both")
        } else if let f = raw?.passwordFile {
            if let full = readableFile(f, path / "password_file"), privateFile(full, path / "password_file") {
                let text = (try? String(contentsOfFile: full, encoding: .utf8)) ?? ""
                options.password = text.trimmingCharacters(in: .newlines)
                source = "file \(full)"
            }
        } else if let name = raw?.passwordEnv {
            if let value = environment[name] {
                options.password = value
                source = "environment variable \(name)"
            } else {
                problem(path / "password_env", "the environment variable \(name) is not set")
            }
        }
        if options.password != nil && options.username == nil {
            problem(path / "username", "missing: a password is given but no user name")
        }
        if let tls = raw?.tls {
            if !parsed.secure { problem(path / "tls", "TLS settings need an mqtts:// URL") }
            let ca = readableFile(tls.caFile, path / "tls" / "ca_file")
            if tls.caFile == nil { problem(path / "tls" / "ca_file", "missing: the CA that signed the broker's certificate") }
            let cert = readableFile(tls.certFile, path / "tls" / "cert_file")
            let key = readableFile(tls.keyFile, path / "tls" / "key_file")
            if (tls.certFile == nil) != (tls.keyFile == nil) {
                problem(path / "tls" / (tls.certFile == nil ? "cert_file" : "key_file"), "a client certificate needs both cert_file and key_file")
            }
            if let ca { options.tls = MQTTOptions.TLS(caFile: ca, certFile: cert, keyFile: key) }
        } else if parsed.secure {
            problem(path / "tls", "missing: an mqtts:// URL needs tls.ca_file to verify the broker")
        }
        return (options, source)
    }

    // MARK: subscriptions

    mutating func subscriptions(_ raw: [RawSubscription]?, _ path: ConfigPath, reportingBasis: VolumeBasis) -> [Configuration.Subscription] {
        guard let raw, !raw.isEmpty else {
            problem(path, "missing: at least one subscription is needed")
            return []
        }
        var out: [Configuration.Subscription] = []
        for (i, s) in raw.enumerated() {
            if let sub = subscription(s, path.index(i), reportingBasis: reportingBasis) { out.append(sub) }
        }
        return out
    }

    mutating func subscription(_ s: RawSubscription, _ path: ConfigPath, reportingBasis: VolumeBasis) -> Configuration.Subscription? {
        let before = problems.count
        var filter: TopicFilter?
        if let t = s.topic {
            switch TopicFilter.parse(t) {
            case .success(let f): filter = f
            case .failure(let e): problem(path / "topic", "\"\(t)\" is not a topic filter: \(e)")
            }
        } else {
            problem(path / "topic", "missing: the topic filter to subscribe to, e.g. cbm/+/+/+/telemetry")
        }
        var template: TopicTemplate?
        if let t = s.template {
            switch TopicTemplate.parse(t) {
            case .success(let tt): template = tt
            case .failure(let e): problem(path / "template", "\"\(t)\" is not a template: \(e)")
            }
        } else {
            problem(path / "template", "missing: how topic levels name the reading, e.g. cbm/{field}/{block}/{asset}/telemetry")
        }
        if let filter, let template, let mismatch = template.check(against: filter) {
            problem(path / "template", mismatch)
        }
        let qos = integer(s.qos, path / "qos", default: 1, range: 0...2)
        if qos == 2 {
            problem(path / "qos", "QoS 2 cannot be made crash-safe with libmosquitto 2.0 (it forgets the message at PUBREL); use 1")
        }
        let meterBasis = basis(s.basis, path / "basis", default: reportingBasis)
        var format: DecodeRule.Format?
        switch s.format {
        case "json"?:
            let timeFormat: DecodeRule.TimeFormat
            if let tf = s.timeFormat {
                if let f = DecodeRule.TimeFormat(rawValue: tf) {
                    timeFormat = f
                } else {
                    timeFormat = .auto
                    problem(path / "time_format", "unknown time format \"\(tf)\" (use \(DecodeRule.TimeFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            } else {
                timeFormat = .auto
            }
            if s.units != nil { problem(path / "units", "units: is for the value format; json maps keys under values:") }
            var values: [(key: String, mapping: DecodeRule.ValueMapping)] = []
            if let raw = s.values, !raw.isEmpty {
                for key in raw.keys.sorted() {
                    if let m = mapping(raw[key]!, path / "values" / key, basis: meterBasis, reporting: reportingBasis) {
                        values.append((key, m))
                    }
                }
            } else {
                problem(path / "values", "missing: map payload keys to measurements, e.g. gas_m3h: { measurement: gas_rate, unit: m3/h }")
            }
            if let template, s.asset == nil, !template.captures("asset") {
                problem(path / "asset", "missing: the template has no {asset} level, so name the payload key that holds the asset id")
            }
            format = .json(.init(timeKey: s.time ?? "ts", timeFormat: timeFormat, assetKey: s.asset, values: values))
        case "value"?:
            if s.time != nil { problem(path / "time", "a value payload has no time key: its time is the receive time") }
            if s.asset != nil { problem(path / "asset", "a value payload is one number: the asset comes from the template's {asset}") }
            if let template {
                if !template.captures("measurement") { problem(path / "template", "the value format needs a {measurement} level") }
                if !template.captures("asset") { problem(path / "template", "the value format needs an {asset} level") }
            }
            var values: [String: DecodeRule.ValueMapping] = [:]
            for (name, unit) in s.units ?? [:] {
                guard let measurement = Measurement(rawValue: name) else {
                    problem(path / "units" / name, "unknown measurement (use \(Measurement.allCases.map(\.rawValue).joined(separator: ", ")), or map a topic name under values:)")
                    continue
                }
                let raw = RawValueMapping(measurement: measurement.rawValue, unit: unit)
                if let m = mapping(raw, path / "units" / name, basis: meterBasis, reporting: reportingBasis, unitKeyIsPath: true) {
                    values[name] = m
                }
            }
            for (name, raw) in s.values ?? [:] {
                if values[name] != nil { problem(path / "values" / name, "also given under units:") }
                if let m = mapping(raw, path / "values" / name, basis: meterBasis, reporting: reportingBasis) { values[name] = m }
            }
            if s.units == nil && s.values == nil {
                problem(path / "units", "missing: the unit of each measurement the topics carry, e.g. { gas_rate: m3/h, casing_pressure: kPa }")
            }
            format = .value(.init(values: values))
        case let other?:
            problem(path / "format", "unknown format \"\(other)\" (use json or value)")
        case nil:
            problem(path / "format", "missing: json or value")
        }
        guard problems.count == before, let filter, let template, let format else { return nil }
        return Configuration.Subscription(mqtt: MQTTSubscription(topic: filter.text, qos: qos),
                                          rule: DecodeRule(filter: filter, template: template, format: format))
    }

    mutating func mapping(_ raw: RawValueMapping, _ path: ConfigPath, basis: VolumeBasis, reporting: VolumeBasis,
                          unitKeyIsPath: Bool = false) -> DecodeRule.ValueMapping? {
        guard let name = raw.measurement else {
            problem(path / "measurement", "missing: one of \(Measurement.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        guard let measurement = Measurement(rawValue: name) else {
            problem(path / "measurement", "unknown measurement \"\(name)\" (use \(Measurement.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        let unitPath = unitKeyIsPath ? path : path / "unit"
        let unitText = raw.unit ?? measurement.dimension.reportingUnit
        let unit: MeasurementUnit
        switch MeasurementUnit.parse(unitText, for: measurement.dimension) {
        case .success(let u): unit = u
        case .failure:
            let d = measurement.dimension
            problem(unitPath, "\(measurement.rawValue) needs a unit of \(d.rawValue), not \"\(unitText)\" (use one of: \(d.examples))")
            return nil
        }
        let conversion = Conversion(unit: unit, meterBasis: basis, reportingBasis: reporting)
        var rollover: Double?
        if let r = raw.rollover {
            if !measurement.isTotalizer {
                problem(path / "rollover", "only a totalizer (gas_total, water_total) rolls over")
            } else if let v = DecimalNumber.parse(r), v.isFinite, v > 0 {
                rollover = conversion.apply(v)
            } else {
                problem(path / "rollover", "\"\(r)\" is not a positive number (the counter's value at which it wraps to zero)")
            }
        }
        var counter = CounterRules(rollover: rollover)
        for (text, key) in [(raw.resetBelow, "reset_below"), (raw.rolloverMargin, "rollover_margin")] {
            guard let text else { continue }
            guard measurement.isTotalizer else {
                problem(path / key, "only a totalizer (gas_total, water_total) has \(key)")
                continue
            }
            guard let v = share(text, path / key) else { continue }
            if key == "reset_below" { counter.resetBelow = v } else { counter.rolloverMargin = v }
        }
        if raw.rolloverMargin != nil && raw.rollover == nil && measurement.isTotalizer {
            problem(path / "rollover_margin", "needs rollover: the value at which the counter wraps to zero")
        }
        return DecodeRule.ValueMapping(measurement: measurement, conversion: conversion, counter: counter)
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
        o.snapshotIntervalUS = duration(raw?.snapshotInterval, path / "snapshot_interval", default: o.snapshotIntervalUS)
        if o.snapshotIntervalUS < 1_000_000 { problem(path / "snapshot_interval", "must be at least 1s") }
        return o
    }
}
