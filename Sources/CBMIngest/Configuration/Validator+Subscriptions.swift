import CBMCore
import CBMMQTT
import CBMStorage
import Foundation
import Logging

extension Validator {
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
        let sparkplug = s.format == "sparkplug_b"
        if sparkplug {
            if s.template != nil {
                problem(path / "template", "a Sparkplug B topic's levels are fixed (spBv1.0/group/type/edge_node/device): name the asset with asset:, e.g. \"{device}\"")
            }
            if let filter, !filter.text.hasPrefix("spBv1.0/") {
                problem(path / "topic", "a sparkplug_b subscription is in the Sparkplug B namespace, e.g. spBv1.0/my_group/+/my_edge_node/#")
            }
        } else if let t = s.template {
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
        case "sparkplug_b"?:
            format = sparkplugFormat(s, path, meterBasis: meterBasis, reportingBasis: reportingBasis)
        case let other?:
            problem(path / "format", "unknown format \"\(other)\" (use json, value or sparkplug_b)")
        case nil:
            problem(path / "format", "missing: json, value or sparkplug_b")
        }
        guard problems.count == before, let filter, template != nil || sparkplug, let format else { return nil }
        return Configuration.Subscription(mqtt: MQTTSubscription(topic: filter.text, qos: qos),
                                          rule: DecodeRule(filter: filter, template: template, format: format))
    }

    /// The `sparkplug_b` format: the asset template and the metrics mapped.
    mutating func sparkplugFormat(_ s: RawSubscription, _ path: ConfigPath, meterBasis: VolumeBasis,
                                  reportingBasis: VolumeBasis) -> DecodeRule.Format? {
        for (given, key) in [(s.time != nil, "time"), (s.timeFormat != nil, "time_format"), (s.units != nil, "units")] where given {
            problem(path / key, "not for sparkplug_b: a metric's time is its own timestamp (else the payload's), its unit in values:")
        }
        var asset: SparkplugAssetTemplate?
        switch SparkplugAssetTemplate.parse(s.asset ?? "{device}") {
        case .success(let a): asset = a
        case .failure(let e): problem(path / "asset", "\"\(s.asset ?? "")\" is not an asset template: \(e)")
        }
        var values: [String: DecodeRule.SparkplugValue] = [:]
        if let raw = s.values, !raw.isEmpty {
            for name in raw.keys.sorted() {
                let r = raw[name]!
                if r.unit == nil && r.rollover != nil {
                    problem(path / "values" / name / "rollover", "needs unit: (the rollover value is in the configured unit, not the metric's engUnit)")
                }
                if let m = mapping(r, path / "values" / name, basis: meterBasis, reporting: reportingBasis) {
                    let unit = r.unit.flatMap { try? MeasurementUnit.parse($0, for: m.measurement.dimension).get() }
                    values[name] = .init(mapping: m, unit: unit, meterBasis: meterBasis, reportingBasis: reportingBasis)
                }
            }
        } else {
            problem(path / "values", "missing: map metric names to measurements, e.g. \"Gas/Flow\": { measurement: gas_rate, unit: m3/h }")
        }
        return asset.map { .sparkplugB(.init(asset: $0, values: values)) }
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
}
