import Foundation

/// The field's assets, looked up by id.
public struct AssetRegister: Sendable {
    /// Assets by id.
    public private(set) var byID: [String: Asset]
    /// Assets in the order they were registered.
    public private(set) var assets: [Asset]

    /// An empty register.
    public init() {
        byID = [:]
        assets = []
    }

    /// A register of the given assets; the first of two with one id wins (check `problems` of
    /// ``parseCSV(_:file:)`` to refuse duplicates).
    public init(_ assets: [Asset]) {
        self.init()
        for a in assets where byID[a.id] == nil {
            byID[a.id] = a
            self.assets.append(a)
        }
    }

    /// The asset with an id, if registered.
    @inline(__always)
    public subscript(id: String) -> Asset? { byID[id] }

    /// Number of assets.
    public var count: Int { assets.count }

    /// Counts by kind, for summaries.
    public func count(of kind: Asset.Kind) -> Int { assets.lazy.filter { $0.kind == kind }.count }

    /// Parses a register in CSV: a header naming the columns (`id,kind,field,block,sector,
    /// expected_gas_m3d`, in any order, more allowed), then one asset per row. Every problem is
    /// reported with its line; rows with problems are left out of the register.
    public static func parseCSV(_ text: String, file: String) -> (register: AssetRegister, problems: [ConfigProblem]) {
        let rows: [CSV.Row]
        switch CSV.parse(text) {
        case .success(let r): rows = r
        case .failure(let e): return (AssetRegister(), [ConfigProblem(file: file, line: e.line, key: "", message: e.message)])
        }
        guard let header = rows.first else {
            return (AssetRegister(), [ConfigProblem(file: file, line: 1, key: "", message: "empty register: expected a header line id,kind,field,block,sector,expected_gas_m3d")])
        }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var problems: [ConfigProblem] = []
        for required in ["id", "kind"] where !columns.contains(required) {
            problems.append(ConfigProblem(file: file, line: header.line, key: required, message: "missing column in the header"))
        }
        // A column named twice: which of the two would count is anyone's guess.
        var firstColumn: [String: Int] = [:]
        for (i, name) in columns.enumerated() where !name.isEmpty {
            if let first = firstColumn[name] {
                problems.append(ConfigProblem(file: file, line: header.line, key: name,
                                              message: "the header names this column twice (columns \(first + 1) and \(i + 1))"))
            } else {
                firstColumn[name] = i
            }
        }
        if !problems.isEmpty { return (AssetRegister(), problems) }
        var assets: [Asset] = []
        var seen: [String: Int] = [:]
        for row in rows.dropFirst() {
            if row.fields.count != columns.count {
                problems.append(ConfigProblem(file: file, line: row.line, key: "",
                                              message: "\(row.fields.count) fields, the header has \(columns.count)"))
                continue
            }
            let dict = Dictionary(zip(columns, row.fields), uniquingKeysWith: { a, _ in a })
            let made = Asset.make(dict, place: { (file, row.line, $0) })
            problems.append(contentsOf: made.problems)
            if let asset = made.asset {
                if let first = seen[asset.id] {
                    problems.append(ConfigProblem(file: file, line: row.line, key: "id",
                                                  message: "\"\(asset.id)\" is registered twice (first on line \(first))"))
                } else {
                    seen[asset.id] = row.line
                    assets.append(asset)
                }
            }
        }
        return (AssetRegister(assets), problems)
    }
}
