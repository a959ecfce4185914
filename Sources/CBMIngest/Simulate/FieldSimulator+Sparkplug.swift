import CBMCore

extension FieldSimulator {
    /// A message whose payload is bytes (Sparkplug B), or text.
    public struct BinaryMessage: Sendable {
        public var time: Timestamp
        public var topic: String
        public var payload: [UInt8]
    }

    /// The metrics a well's edge node declares: name, alias, JSON key, engUnit.
    static let sparkplugMetrics: [(name: String, alias: UInt64, key: String, unit: String)] = [
        ("Gas/Flow", 1, "gas_m3h", "m3/h"),
        ("Gas/Total", 2, "gas_total", "m3"),
        ("Water/Flow", 3, "water_m3d", "m3/d"),
        ("Casing/Pressure", 4, "casing_kpa", "kPa"),
    ]

    /// The same field as Sparkplug B edge nodes would send it: each block an edge node of its
    /// field's group (`spBv1.0/<field>/…/<block>/<well>`), each well a device. A node's first
    /// message is preceded by its NBIRTH; a well's first is its DBIRTH (metrics by name, alias,
    /// engUnit, with the values); the rest are DDATA by alias. `seq` counts in the order sent,
    /// buffered history included. The readings are the JSON messages' numbers, bit for bit, so
    /// the truth is unchanged; messages that are not a well's regular telemetry (meters, flares,
    /// the junk) stay as they were.
    public static func sparkplug(_ messages: [Message]) -> [BinaryMessage] {
        var seq: [String: Int] = [:]
        var born: Set<String> = []
        var out: [BinaryMessage] = []
        out.reserveCapacity(messages.count + messages.count / 100)
        for m in messages {
            let parts = m.topic.split(separator: "/")
            guard parts.count == 5, parts[0] == "cbm", parts[4] == "telemetry", let (ts, values) = wellValues(m.payload) else {
                out.append(BinaryMessage(time: m.time, topic: m.topic, payload: Array(m.payload.utf8)))
                continue
            }
            let (group, node, device) = (String(parts[1]), String(parts[2]), String(parts[3]))
            let key = "\(group)/\(node)"
            let ms = Int64(ts * 1000)
            func next() -> Int {
                let s = seq[key] ?? 0
                seq[key] = (s + 1) % 256
                return s
            }
            if !born.contains(key) {
                born.insert(key)
                out.append(BinaryMessage(time: m.time, topic: "spBv1.0/\(group)/NBIRTH/\(node)", payload: SparkplugEncoding.payload(
                    seq: next(), timestamp: ms, metrics: [.init(name: "bdSeq", datatype: 4, long: 0, timestamp: ms),
                                                          .init(name: "Node Control/Rebirth", datatype: 11, bool: false, timestamp: ms)])))
            }
            let birth = !born.contains(m.topic)
            born.insert(m.topic)
            let metrics = zip(sparkplugMetrics, values).map { metric, v in
                birth ? SparkplugEncoding.Metric(name: metric.name, alias: metric.alias, datatype: 10, double: v, timestamp: ms, engUnit: metric.unit)
                      : SparkplugEncoding.Metric(alias: metric.alias, datatype: 10, double: v, timestamp: ms)
            }
            out.append(BinaryMessage(time: m.time, topic: "spBv1.0/\(group)/\(birth ? "DBIRTH" : "DDATA")/\(node)/\(device)",
                                     payload: SparkplugEncoding.payload(seq: next(), timestamp: ms, metrics: metrics)))
        }
        return out
    }

    /// A well's regular telemetry: its time and the numbers of ``sparkplugMetrics``, as the JSON
    /// decoder reads them; nil for anything else (the junk).
    private static func wellValues(_ payload: String) -> (ts: Double, values: [Double])? {
        guard case .success(let json) = JSONParser.parse(Array(payload.utf8)), case .number(let ts)? = json["ts"] else { return nil }
        var values: [Double] = []
        for metric in sparkplugMetrics {
            guard case .number(let v)? = json[metric.key] else { return nil }
            values.append(v)
        }
        return (ts, values)
    }
}
