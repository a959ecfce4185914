import Foundation

/// A metered asset of the field: a producing well, a delivery meter or a flare (DESIGN §3.3).
public struct Asset: Hashable, Sendable {
    /// What an asset is, which decides what its gas counts as.
    public enum Kind: String, CaseIterable, Hashable, Sendable {
        /// A producing well: its gas is production.
        case well
        /// A delivery (custody transfer) meter: its gas is utilisation, for a sector.
        case delivery
        /// A flare or vent: its gas is a loss.
        case flare
    }

    /// The consumer sectors gas is utilised by.
    public enum Sector: String, CaseIterable, Hashable, Sendable {
        case power, transport, industry, materials, storage
        case cityGas = "city_gas"
        case pipelineExport = "pipeline_export"
    }

    /// The asset's id, as telemetry names it.
    public var id: String
    /// Well, delivery meter or flare.
    public var kind: Kind
    /// The field (production roll-up above the block).
    public var field: String?
    /// The block (production roll-up above the well).
    public var block: String?
    /// The consumer sector of a delivery meter.
    public var sector: Sector?
    /// What the well is expected to make per day, in m³ at the reporting basis.
    public var expectedGasM3d: Double?
    /// Other columns of the register, kept for records and alerts.
    public var attributes: [String: String]

    public init(id: String, kind: Kind, field: String? = nil, block: String? = nil, sector: Sector? = nil,
                expectedGasM3d: Double? = nil, attributes: [String: String] = [:]) {
        self.id = id
        self.kind = kind
        self.field = field
        self.block = block
        self.sector = sector
        self.expectedGasM3d = expectedGasM3d
        self.attributes = attributes
    }

    /// The register's columns that have a meaning; any other column is kept as an attribute.
    public static let knownColumns = ["id", "kind", "field", "block", "sector", "expected_gas_m3d"]

    /// A field without the white space (`CharacterSet.whitespaces`) at its ends. A field that
    /// begins and ends with a visible ASCII character has none (a register's thousands of fields
    /// are read without Foundation); any other is trimmed by Foundation.
    static func trimmed(_ s: String) -> String {
        guard let first = s.utf8.first, let last = s.utf8.last else { return s }
        if first > 0x20, first < 0x7f, last > 0x20, last < 0x7f { return s }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// Builds an asset from a register row (CSV or inline), reporting every problem it has.
    /// `place` says where a column's value came from, for the messages.
    public static func make(
        _ row: [String: String],
        place: (_ column: String) -> (file: String, line: Int, key: String)
    ) -> (asset: Asset?, problems: [ConfigProblem]) {
        var problems: [ConfigProblem] = []
        func problem(_ column: String, _ message: String) {
            let p = place(column)
            problems.append(ConfigProblem(file: p.file, line: p.line, key: p.key, message: message))
        }
        func value(_ column: String) -> String? {
            guard let raw = row[column], case let v = Self.trimmed(raw), !v.isEmpty else { return nil }
            return v
        }
        let id = value("id")
        if id == nil { problem("id", "missing: every asset needs an id") }
        if let id, id.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" }) {
            problem("id", "\"\(id)\" contains an MQTT topic character (/ + #)")
        }
        var kind: Kind?
        if let k = value("kind") {
            kind = Kind(rawValue: k.lowercased())
            if kind == nil { problem("kind", "unknown kind \"\(k)\" (use well, delivery or flare)") }
        } else {
            problem("kind", "missing: use well, delivery or flare")
        }
        var sector: Sector?
        if let s = value("sector") {
            sector = Sector(rawValue: s.lowercased())
            if sector == nil {
                problem("sector", "unknown sector \"\(s)\" (use \(Sector.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        } else if kind == .delivery {
            problem("sector", "missing: a delivery meter needs the sector it delivers to")
        }
        if kind == .well {
            if value("field") == nil { problem("field", "missing: a well needs its field") }
            if value("block") == nil { problem("block", "missing: a well needs its block") }
        }
        var expected: Double?
        if let e = value("expected_gas_m3d") {
            if let d = Double(e), d.isFinite, d >= 0 {
                expected = d
            } else {
                problem("expected_gas_m3d", "\"\(e)\" is not a volume in m3/d (a number ≥ 0)")
            }
        }
        guard problems.isEmpty, let id, let kind else { return (nil, problems) }
        var attributes: [String: String] = [:]
        for (k, v) in row where !knownColumns.contains(k) && !v.isEmpty { attributes[k] = v }
        return (Asset(id: id, kind: kind, field: value("field"), block: value("block"), sector: sector,
                      expectedGasM3d: expected, attributes: attributes), [])
    }
}
