extension TotalsRecord {
    /// A totals record read back from its JSON line, as ``RecordEncoder/encode(_:factors:)``
    /// writes it (the basis and the factor set it names are the file's, not the record's). Nil for
    /// a line that is not a whole totals record. Recovery, and anything else that reads the files,
    /// reads them through this.
    public static func decode(jsonLine line: ArraySlice<UInt8>) -> TotalsRecord? {
        guard case .success(let v) = JSONParser.parse(Array(line)),
              case .string(let w)? = v["window"], let window = WindowKind(rawValue: w),
              case .string(let s)? = v["start"], case .success(let start) = RFC3339.parse(s),
              case .string(let e)? = v["end"], case .success(let end) = RFC3339.parse(e),
              case .string(let sc)? = v["scope"], let scope = Scope(rawValue: sc),
              case .string(let id)? = v["id"],
              case .number(let flow)? = v["flow_seconds"], case .number(let coverage)? = v["coverage"],
              case .number(let samples)? = v["samples"], case .bool(let estimated)? = v["estimated"],
              case .number(let revision)? = v["revision"] else { return nil }
        func number(_ k: String) -> Double? { if case .number(let n)? = v[k] { return n } else { return nil } }
        var rate: Double?
        var hasRate = false
        switch v["utilisation_rate"] {
        case .number(let n)?: (rate, hasRate) = (n, true)
        case .null?: hasRate = true
        default: break
        }
        return TotalsRecord(window: window, span: WindowSpan(start: start, end: end), scope: scope, id: id, gasM3: number("gas_m3"),
                            waterM3: number("water_m3"), utilisedM3: number("utilised_m3"), flaredM3: number("flared_m3"),
                            utilisationRate: rate, hasUtilisationRate: hasRate, coalT: number("coal_t"), co2eT: number("co2e_t"),
                            flowSeconds: flow, coverage: coverage, samples: Int(samples), estimated: estimated, revision: Int(revision))
    }

    /// Only the identity and revision of a totals record's JSON line (what recovery needs to
    /// raise revisions above what was written).
    public static func decodeIdentity(jsonLine line: ArraySlice<UInt8>) -> (key: Key, revision: Int)? {
        decode(jsonLine: line).map { ($0.key, $0.revision) }
    }
}

/// The lines of a byte buffer (without their newlines; empty lines left out).
public func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    bytes.split(separator: 10, omittingEmptySubsequences: true)
}
