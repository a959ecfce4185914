/// What a Sparkplug host keeps of the edge nodes it hears (Sparkplug 3.0): each node's session
/// (the `bdSeq` of its birth), the last `seq`, and the metrics its birth certificates declared,
/// for the node and each of its devices, by alias and by name.
public struct SparkplugSessions: Sendable, Equatable {
    /// One metric of a birth certificate.
    public struct Metric: Sendable, Equatable {
        public var name: String
        /// The Sparkplug data type number (``SparkplugDatatype``).
        public var datatype: UInt32
        /// Its `engUnit` property, when it has one.
        public var engUnit: String?
    }

    /// The metrics a birth certificate declared.
    public struct Table: Sendable, Equatable {
        public private(set) var metrics: [Metric] = []
        var byAlias: [UInt64: Int] = [:]
        var byName: [String: Int] = [:]

        /// Declares a metric (a later one of the same name or alias replaces it).
        mutating func declare(_ m: Metric, alias: UInt64?) {
            let i: Int
            if let j = byName[m.name] {
                i = j
                metrics[i] = m
            } else {
                i = metrics.count
                metrics.append(m)
                byName[m.name] = i
            }
            if let alias { byAlias[alias] = i }
        }

        func metric(alias: UInt64) -> Metric? { byAlias[alias].map { metrics[$0] } }
        func metric(name: String) -> Metric? { byName[name].map { metrics[$0] } }
    }

    /// One edge node.
    public struct Node: Sendable, Equatable {
        /// The `bdSeq` of its birth: a death with another one is of an older session.
        public var bdSeq: UInt64?
        /// The last `seq` taken (0–255).
        public var seq: Int?
        /// Its own metrics; nil before its birth and after its death.
        public var table: Table?
        /// Its devices' metrics, by device id (a device that died is gone).
        public var devices: [String: Table] = [:]
        /// When it last asked for a rebirth (microseconds; rate-limited).
        public var rebirthAsked = Int64.min
    }

    /// The nodes, by `group/edge_node`.
    public internal(set) var nodes: [String: Node] = [:]

    /// Nodes remembered at most (beyond, births of new ones are refused).
    public static let maxNodes = 10_000

    public init() {}
}

/// Sparkplug B data types (Sparkplug 3.0, 6.4.16) that matter here.
enum SparkplugDatatype {
    static let names: [UInt32: String] = [
        0: "Unknown", 1: "Int8", 2: "Int16", 3: "Int32", 4: "Int64", 5: "UInt8", 6: "UInt16", 7: "UInt32", 8: "UInt64",
        9: "Float", 10: "Double", 11: "Boolean", 12: "String", 13: "DateTime", 14: "Text", 15: "UUID", 16: "DataSet",
        17: "Bytes", 18: "File", 19: "Template", 20: "PropertySet", 21: "PropertySetList",
    ]

    static func name(_ t: UInt32) -> String { names[t] ?? (22...34 ~= t ? "an array (\(t))" : "type \(t)") }

    /// Whether the type is a number (integers of every width, Float, Double).
    static func isNumber(_ t: UInt32) -> Bool { (1...10).contains(t) }

    /// The number a metric holds, read as its data type says (signed integers of up to 32 bits
    /// travel as two's complement in `int_value`, 64-bit ones in `long_value`); nil when the
    /// value is not a number.
    static func number(_ value: Cbm_Sparkplug_Payload.Metric.OneOf_Value?, datatype: UInt32) -> Double? {
        switch value {
        case .intValue(let v)?:
            switch datatype {
            case 1: return Double(Int8(truncatingIfNeeded: v))
            case 2: return Double(Int16(truncatingIfNeeded: v))
            case 3: return Double(Int32(bitPattern: v))
            default: return Double(v)
            }
        case .longValue(let v)?:
            return datatype == 4 || datatype == 3 ? Double(Int64(bitPattern: v)) : Double(v)
        case .floatValue(let v)?: return Double(v)
        case .doubleValue(let v)?: return v
        default: return nil
        }
    }
}

extension SparkplugSessions {
    /// The sessions for a checkpoint: a restart goes on decoding data by alias without a rebirth.
    func save(into w: inout BinaryWriter) {
        func table(_ t: Table?) {
            w.bool(t != nil)
            guard let t else { return }
            w.int(t.metrics.count)
            for m in t.metrics {
                w.string(m.name)
                w.int(Int64(m.datatype))
                w.bool(m.engUnit != nil)
                if let u = m.engUnit { w.string(u) }
            }
            let aliases = t.byAlias.sorted { $0.key < $1.key }
            w.int(aliases.count)
            for (alias, i) in aliases {
                w.int(Int64(bitPattern: alias))
                w.int(i)
            }
        }
        w.int(nodes.count)
        for key in nodes.keys.sorted() {
            let n = nodes[key]!
            w.string(key)
            w.bool(n.bdSeq != nil)
            if let b = n.bdSeq { w.int(Int64(bitPattern: b)) }
            w.int(n.seq ?? -1)
            table(n.table)
            w.int(n.devices.count)
            for d in n.devices.keys.sorted() {
                w.string(d)
                table(n.devices[d])
            }
            w.int(n.rebirthAsked)
        }
    }

    /// Reads what ``save(into:)`` wrote.
    init(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        func table() throws(BinaryReader.Malformed) -> Table? {
            guard try r.bool() else { return nil }
            var t = Table()
            for _ in 0..<(try r.count()) {
                let name = try r.string()
                let datatype = UInt32(truncatingIfNeeded: try r.int())
                let unit = try r.bool() ? try r.string() : nil
                t.declare(Metric(name: name, datatype: datatype, engUnit: unit), alias: nil)
            }
            for _ in 0..<(try r.count()) {
                let alias = UInt64(bitPattern: try r.int())
                let i = try r.count()
                guard i < t.metrics.count else { throw BinaryReader.Malformed() }
                t.byAlias[alias] = i
            }
            return t
        }
        self.init()
        for _ in 0..<(try r.count()) {
            let key = try r.string()
            var n = Node()
            n.bdSeq = try r.bool() ? UInt64(bitPattern: try r.int()) : nil
            let seq = try r.int()
            guard (-1...255).contains(seq) else { throw BinaryReader.Malformed() }
            n.seq = seq < 0 ? nil : Int(seq)
            n.table = try table()
            for _ in 0..<(try r.count()) {
                let d = try r.string()
                n.devices[d] = try table()
            }
            n.rebirthAsked = try r.int()
            nodes[key] = n
        }
    }
}
