/// The register's structure, built once per register: wells by block, blocks by field, meters by
/// sector, the flares; the scope of an asset, the roll-ups a change of its figures reaches, and
/// what each scope is expected to make. The totals aggregator rolls up by it; the alert engine
/// judges by it. Members are sorted by id, so every roll-up adds its members in one order.
public struct AssetHierarchy: Sendable {
    public let register: AssetRegister
    public let wellsByBlock: [(block: String, wells: [String])]
    public let blocksByField: [(field: String, blocks: [String])]
    public let metersBySector: [(sector: String, meters: [String])]
    public let flares: [String]
    /// Expected gas per day of blocks, fields and all, summed over their wells in register order.
    private let expectedByBlock: [String: Double]
    private let expectedByField: [String: Double]
    private let expectedAll: Double

    public init(_ register: AssetRegister) {
        self.register = register
        let wells = register.assets.filter { $0.kind == .well }
        wellsByBlock = Dictionary(grouping: wells, by: { $0.block ?? "" })
            .map { ($0.key, $0.value.map(\.id).sorted()) }.sorted { $0.0 < $1.0 }
        var fieldOf: [String: String] = [:]
        for w in wells { fieldOf[w.block ?? ""] = fieldOf[w.block ?? ""] ?? (w.field ?? "") }
        blocksByField = Dictionary(grouping: fieldOf.keys, by: { fieldOf[$0]! })
            .map { ($0.key, $0.value.sorted()) }.sorted { $0.0 < $1.0 }
        let meters = register.assets.filter { $0.kind == .delivery }
        metersBySector = Dictionary(grouping: meters, by: { $0.sector?.rawValue ?? "" })
            .map { ($0.key, $0.value.map(\.id).sorted()) }.sorted { $0.0 < $1.0 }
        flares = register.assets.filter { $0.kind == .flare }.map(\.id).sorted()
        var byBlock: [String: Double] = [:], byField: [String: Double] = [:], all = 0.0
        for w in wells {
            let e = w.expectedGasM3d ?? 0
            if let b = w.block { byBlock[b, default: 0] += e }
            if let f = w.field { byField[f, default: 0] += e }
            all += e
        }
        expectedByBlock = byBlock
        expectedByField = byField
        expectedAll = all
    }

    /// The scope of an asset's own records.
    public func scope(of asset: String) -> TotalsRecord.Scope {
        switch register[asset]?.kind {
        case .well?: return .well
        case .delivery?: return .meter
        case .flare?: return .flare
        case nil: return .unregistered
        }
    }

    /// The records a change of one asset's figures changes (`scope/id`): its own and its roll-ups.
    public func affected(by asset: String) -> Set<String> {
        guard let a = register[asset] else { return ["unregistered/\(asset)"] }
        switch a.kind {
        case .well: return ["well/\(asset)", "block/\(a.block ?? "")", "field/\(a.field ?? "")", "all/all"]
        case .delivery: return ["meter/\(asset)", "sector/\(a.sector?.rawValue ?? "")", "all/all"]
        case .flare: return ["flare/\(asset)", "all/all"]
        }
    }

    /// What the register expects a scope to make per day: a well's figure, or the sum of its wells
    /// (0 for scopes without an expectation).
    public func expectedGasM3d(_ scope: TotalsRecord.Scope, _ id: String) -> Double {
        switch scope {
        case .well: return register[id]?.expectedGasM3d ?? 0
        case .block: return expectedByBlock[id] ?? 0
        case .field: return expectedByField[id] ?? 0
        case .all: return expectedAll
        default: return 0
        }
    }
}
