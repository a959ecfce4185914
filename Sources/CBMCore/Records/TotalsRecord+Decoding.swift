extension TotalsRecord {
    /// The identity and revision of a totals record read back from its JSON line (as
    /// ``RecordEncoder`` writes it): what recovery needs to raise revisions above what was written.
    /// Nil for a line that is not a whole totals record.
    public static func decodeIdentity(jsonLine line: ArraySlice<UInt8>) -> (key: Key, revision: Int)? {
        guard case .success(let v) = JSONParser.parse(Array(line)),
              case .string(let w)? = v["window"], let window = WindowKind(rawValue: w),
              case .string(let s)? = v["start"], case .success(let start) = RFC3339.parse(s),
              case .string(let sc)? = v["scope"], let scope = Scope(rawValue: sc),
              case .string(let id)? = v["id"], case .number(let revision)? = v["revision"] else { return nil }
        return (Key(window: window, start: start, scope: scope, id: id), Int(revision))
    }
}

/// The lines of a byte buffer (without their newlines; empty lines left out).
public func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    bytes.split(separator: 10, omittingEmptySubsequences: true)
}
