import Foundation
import SwiftProtobuf

/// Sparkplug B as a host application reads it (Sparkplug 3.0): births declare the metrics of an
/// edge node and its devices, with aliases; data names them by alias (or name); deaths end a
/// session. A message out of that order is rejected with its reason, and its node is asked for a
/// rebirth (``SparkplugSessions/Node/rebirthAsked``), so nothing is lost that the node can send
/// again.
extension TelemetryDecoder {
    /// The parts of a Sparkplug topic: `spBv1.0/group/type/edge_node[/device]`.
    struct SparkplugTopic {
        var group: Substring
        var type: Substring
        var edgeNode: Substring
        var device: Substring?

        /// The node's key in ``SparkplugSessions/nodes``.
        var node: String { "\(group)/\(edgeNode)" }
        /// The node, or the node and device, as a message names them.
        var source: String { device.map { "\(group)/\(edgeNode)/\($0)" } ?? "\(group)/\(edgeNode)" }

        static let deviceTypes: Set<Substring> = ["DBIRTH", "DDATA", "DDEATH", "DCMD"]
        static let nodeTypes: Set<Substring> = ["NBIRTH", "NDATA", "NDEATH", "NCMD"]

        /// The topic's parts; `.success(nil)` for the host STATE topic (`spBv1.0/STATE/host`).
        static func parse(_ topic: String) -> Result<SparkplugTopic?, RejectReason> {
            let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
            guard levels.first == "spBv1.0" else { return .failure(.sparkplugTopic(why: "it does not begin with spBv1.0/")) }
            if levels.count == 3 && levels[1] == "STATE" { return .success(nil) }
            guard levels.count == 4 || levels.count == 5 else {
                return .failure(.sparkplugTopic(why: "\(levels.count) levels, expected spBv1.0/group/type/edge_node[/device]"))
            }
            guard levels.dropFirst().allSatisfy({ !$0.isEmpty }) else { return .failure(.sparkplugTopic(why: "an empty level")) }
            let t = SparkplugTopic(group: levels[1], type: levels[2], edgeNode: levels[3], device: levels.count == 5 ? levels[4] : nil)
            guard (t.device != nil ? deviceTypes : nodeTypes).contains(t.type) else {
                return .failure(.sparkplugTopic(why: "\"\(t.type)\" is not a \(t.device != nil ? "device" : "node") message type"))
            }
            return .success(t)
        }
    }

    /// How long a node is not asked for a rebirth again after being asked.
    static let rebirthIntervalUS: Int64 = 10_000_000

    mutating func decodeSparkplug<Message: TelemetryMessage>(_ message: Message, layout: DecodeRule.SparkplugLayout, route: RouteRule,
                                                               into out: inout Output<Message>) {
        // (The topic was read once, with its route.)
        guard let parts = route.sparkplug else { return }  // the host STATE: nothing to total
        // Commands go to nodes: nothing to total.
        if parts.type == "NCMD" || parts.type == "DCMD" { return }
        let payload: Cbm_Sparkplug_Payload
        do {
            payload = try message.withPayload { try Cbm_Sparkplug_Payload(serializedBytes: [UInt8]($0)) }
        } catch {
            return out.reject(.notSparkplug(why: "\(error)"))
        }
        let key = parts.node
        let now = message.receivedAt.microseconds
        switch parts.type {
        case "NBIRTH":
            guard sparkplug.nodes[key] != nil || sparkplug.nodes.count < SparkplugSessions.maxNodes else {
                return out.reject(.tooManySeries(limit: SparkplugSessions.maxNodes))
            }
            var node = SparkplugSessions.Node()
            node.bdSeq = Self.bdSeq(payload)
            node.seq = Int(payload.seq % 256)
            node.table = Self.table(payload)
            node.rebirthAsked = sparkplug.nodes[key]?.rebirthAsked ?? .min
            sparkplug.nodes[key] = node
            readings(payload, table: node.table!, parts: parts, layout: layout, route: route.index, message: message, into: &out)
        case "NDEATH":
            // A death of another session than the one born (an old will, delivered late) is ignored.
            let bdSeq = Self.bdSeq(payload)
            guard var node = sparkplug.nodes[key], node.table != nil, bdSeq == nil || node.bdSeq == nil || bdSeq == node.bdSeq else { return }
            var gone = node.devices.keys.sorted().compactMap {
                layout.asset.id(group: Substring(parts.group), edgeNode: Substring(parts.edgeNode), device: Substring($0))
            }
            if let own = parts.device == nil ? parts.asset : nil { gone.append(own) }
            for asset in gone { offline.append((asset, message.receivedAt, "the death certificate (NDEATH) of edge node \(parts.source)")) }
            node.table = nil
            node.devices = [:]
            node.seq = nil
            sparkplug.nodes[key] = node
        default:
            guard var node = sparkplug.nodes[key], node.table != nil else {
                askRebirth(key, at: now)
                return out.reject(.sparkplugNoBirth(source: parts.source))
            }
            let seq = Int(payload.seq % 256)
            if let last = node.seq, seq != (last + 1) % 256 {
                node.seq = seq
                sparkplug.nodes[key] = node
                askRebirth(key, at: now)
                return out.reject(.sparkplugSeqGap(source: parts.source, expected: (last + 1) % 256, got: seq))
            }
            node.seq = seq
            let device = parts.device
            switch parts.type {
            case "DBIRTH":
                let table = Self.table(payload)
                node.devices[device!] = table
                sparkplug.nodes[key] = node
                readings(payload, table: table, parts: parts, layout: layout, route: route.index, message: message, into: &out)
            case "DDEATH":
                if node.devices[device!] != nil, let asset = parts.asset {
                    offline.append((asset, message.receivedAt, "the death certificate (DDEATH) of device \(parts.source)"))
                }
                node.devices[device!] = nil
                sparkplug.nodes[key] = node
            default:
                sparkplug.nodes[key] = node
                guard let table = device == nil ? node.table : node.devices[device!] else {
                    askRebirth(key, at: now)
                    return out.reject(.sparkplugNoBirth(source: parts.source))
                }
                readings(payload, table: table, parts: parts, layout: layout, route: route.index, message: message, into: &out)
            }
        }
    }

    /// The session number a birth or death carries (its `bdSeq` metric).
    private static func bdSeq(_ payload: Cbm_Sparkplug_Payload) -> UInt64? {
        payload.metrics.first { $0.name == "bdSeq" }.flatMap { SparkplugDatatype.number($0.value, datatype: 8) }.map { UInt64($0) }
    }

    /// The metrics a birth certificate declares (with its values, which are also readings).
    private static func table(_ payload: Cbm_Sparkplug_Payload) -> SparkplugSessions.Table {
        var t = SparkplugSessions.Table()
        for m in payload.metrics where m.hasName {
            var unit: String?
            if m.hasProperties, let i = m.properties.keys.firstIndex(of: "engUnit"), i < m.properties.values.count,
               case .stringValue(let u)? = m.properties.values[i].value {
                unit = u
            }
            t.declare(.init(name: m.name, datatype: m.datatype, engUnit: unit), alias: m.hasAlias ? m.alias : nil)
        }
        return t
    }

    /// Notes that a node should be asked for a rebirth (at most once in ``rebirthIntervalUS``).
    private mutating func askRebirth(_ key: String, at t: Int64) {
        var node = sparkplug.nodes[key] ?? SparkplugSessions.Node()
        guard node.rebirthAsked == .min || t - node.rebirthAsked >= Self.rebirthIntervalUS || t < node.rebirthAsked else { return }
        node.rebirthAsked = t
        if sparkplug.nodes[key] != nil || sparkplug.nodes.count < SparkplugSessions.maxNodes { sparkplug.nodes[key] = node }
        rebirths.append(key)
    }

    /// The readings of a birth or data payload's mapped metrics, found by alias or name in `table`.
    private mutating func readings<Message: TelemetryMessage>(_ payload: Cbm_Sparkplug_Payload, table: SparkplugSessions.Table,
                                                              parts: SparkplugRoute, layout: DecodeRule.SparkplugLayout, route: Int,
                                                              message: Message, into out: inout Output<Message>) {
        var unknown: [String] = []
        let asset = parts.asset
        for m in payload.metrics {
            let declared = m.hasAlias && !m.hasName ? table.metric(alias: m.alias) : table.metric(name: m.name)
            guard let declared else {
                unknown.append(m.hasName ? "\"\(m.name)\"" : "alias \(m.alias)")
                continue
            }
            guard let value = layout.values[declared.name] else { continue }  // not mapped: ignored
            let path = declared.name  // (where a reject says the value was)
            // No value (null, or a birth that declares the metric without one) is not zero.
            if m.isNull || m.value == nil { continue }
            let datatype = m.hasDatatype ? m.datatype : declared.datatype
            guard SparkplugDatatype.isNumber(datatype), let raw = SparkplugDatatype.number(m.value, datatype: datatype) else {
                out.reject(.sparkplugWrongDatatype(metric: declared.name, datatype: SparkplugDatatype.name(datatype)))
                continue
            }
            guard let asset else {
                out.reject(.missingAsset(key: layout.asset.text))
                continue
            }
            let mapping: DecodeRule.ValueMapping
            switch engUnitMapping(value, metric: declared, rule: route) {
            case .success(let v): mapping = v
            case .failure(let reason):
                out.reject(reason)
                continue
            }
            // The metric's time, else the payload's (so a redelivery is the same reading), else
            // the receive time.
            let ms = m.hasTimestamp ? m.timestamp : payload.hasTimestamp ? payload.timestamp : nil
            let time = ms.map { Timestamp(microseconds: Int64(clamping: $0) &* 1000) } ?? message.receivedAt
            guard ms.map({ $0 < UInt64(Self.endOfTime.microseconds / 1000) }) ?? true else {
                out.reject(.badTime(path: path, text: "\(ms!)", why: "milliseconds after 9998-12-31"))
                continue
            }
            if let problem = timeProblem(time, receivedAt: message.receivedAt, path: path) {
                out.reject(problem)
                continue
            }
            accept(raw, shown: Quantities.describe(number: raw), path: path, mapping: HotMapping(mapping), asset: asset, hint: nil, time: time, into: &out)
        }
        if !unknown.isEmpty {
            askRebirth(parts.node, at: message.receivedAt.microseconds)
            out.reject(.sparkplugUnknownMetric(source: parts.source, metrics: unknown))
        }
    }

    /// A metric's mapping with the unit its birth gives (parsed once per rule, metric and unit).
    private mutating func engUnitMapping(_ value: DecodeRule.SparkplugValue, metric: SparkplugSessions.Metric, rule: Int)
        -> Result<DecodeRule.ValueMapping, RejectReason>
    {
        if value.unit != nil { return .success(value.mapping) }
        let key = SparkplugUnitKey(rule: rule, metric: metric.name, unit: metric.engUnit)
        if let known = sparkplugUnits[key] { return known }
        let made = value.mapping(engUnit: metric.engUnit)
        if sparkplugUnits.count >= 4096 { sparkplugUnits.removeAll() }  // units births make up: bounded
        sparkplugUnits[key] = made
        return made
    }
}

/// What a metric's mapping with its birth's unit is cached under.
struct SparkplugUnitKey: Hashable, Sendable {
    var rule: Int
    var metric: String
    var unit: String?
}
