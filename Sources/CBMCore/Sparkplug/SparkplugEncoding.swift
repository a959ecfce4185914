/// Sparkplug B payloads as an edge node writes them (the simulator) or a host sends them (commands).
public enum SparkplugEncoding {
    /// One metric: by name (a birth) or alias (data), a number or a boolean, with its time.
    public struct Metric: Sendable {
        public var name: String?
        public var alias: UInt64?
        /// The data type number (10 Double, 4 Int64, 11 Boolean, ...).
        public var datatype: UInt32
        public var double: Double?
        public var long: Int64?
        public var bool: Bool?
        /// Milliseconds since 1970.
        public var timestamp: Int64?
        /// The `engUnit` property.
        public var engUnit: String?

        public init(name: String? = nil, alias: UInt64? = nil, datatype: UInt32, double: Double? = nil, long: Int64? = nil,
                    bool: Bool? = nil, timestamp: Int64? = nil, engUnit: String? = nil) {
            self.name = name
            self.alias = alias
            self.datatype = datatype
            self.double = double
            self.long = long
            self.bool = bool
            self.timestamp = timestamp
            self.engUnit = engUnit
        }
    }

    /// A payload's bytes: `seq` (nil for commands), its time, its metrics.
    public static func payload(seq: Int?, timestamp: Int64, metrics: [Metric]) -> [UInt8] {
        var p = Cbm_Sparkplug_Payload()
        if let seq { p.seq = UInt64(seq) }
        p.timestamp = UInt64(max(0, timestamp))
        p.metrics = metrics.map { m in
            var x = Cbm_Sparkplug_Payload.Metric()
            if let n = m.name { x.name = n }
            if let a = m.alias { x.alias = a }
            if m.name != nil { x.datatype = m.datatype }  // declared in births; data names it by alias
            if let t = m.timestamp { x.timestamp = UInt64(max(0, t)) }
            if let d = m.double { x.doubleValue = d }
            if let l = m.long { x.longValue = UInt64(bitPattern: l) }
            if let b = m.bool { x.booleanValue = b }
            if let u = m.engUnit {
                var v = Cbm_Sparkplug_Payload.PropertyValue()
                v.type = 12  // String
                v.stringValue = u
                x.properties.keys = ["engUnit"]
                x.properties.values = [v]
            }
            return x
        }
        return (try? p.serializedBytes()) ?? []
    }
}

/// What a host sends to edge nodes.
public enum SparkplugCommand {
    /// The NCMD that asks the edge node `group/edge_node` for a rebirth (`Node Control/Rebirth`
    /// true): its topic and payload.
    public static func rebirth(node: String, at t: Timestamp) -> (topic: String, payload: [UInt8]) {
        let parts = node.split(separator: "/", maxSplits: 1)
        let ms = t.microseconds / 1000
        let bytes = SparkplugEncoding.payload(seq: nil, timestamp: ms, metrics: [
            .init(name: "Node Control/Rebirth", datatype: 11, bool: true, timestamp: ms),
        ])
        return ("spBv1.0/\(parts.first ?? "")/NCMD/\(parts.count > 1 ? parts[1] : "")", bytes)
    }
}

