import Foundation

extension TotalsRecord {
    /// A totals record read back from its JSON line, as ``RecordEncoder/encode(_:factors:)``
    /// writes it (the basis and the factor set it names are the file's, not the record's). Nil for
    /// a line that is not a whole totals record. Recovery, and anything else that reads the files,
    /// reads them through this.
    ///
    /// The lines the encoder writes are flat objects: they are read by ``FlatJSON`` where they lie,
    /// with no value tree (the index of final figures reads every line of a replay's totals);
    /// anything else (an id with an escape in it, say) takes the parser. Both give the same
    /// record for the same line.
    public static func decode(jsonLine line: ArraySlice<UInt8>) -> TotalsRecord? {
        decode(jsonLine: line, scanning: true)
    }

    /// The same; with `scanning` false, every line takes the parser (tests compare the two).
    static func decode(jsonLine line: ArraySlice<UInt8>, scanning: Bool) -> TotalsRecord? {
        line.withUnsafeBytes { bytes in
            withUnsafeTemporaryAllocation(of: FlatJSON.Slot.self, capacity: Field.allCases.count) { slots in
                guard scanning, let scanner = Self.scanner, scanner.scan(bytes, into: slots) else {
                    guard case .success(let v) = JSONParser.parse(bytes), case .object = v else { return nil }
                    return make(ParsedFields(object: v))
                }
                return make(ScannedRecordFields(slots: UnsafeBufferPointer(slots), bytes: bytes))
            }
        }
    }

    /// Only the identity and revision of a totals record's JSON line (what recovery needs to
    /// raise revisions above what was written).
    public static func decodeIdentity(jsonLine line: ArraySlice<UInt8>) -> (key: Key, revision: Int)? {
        decode(jsonLine: line).map { ($0.key, $0.revision) }
    }

    /// The members a record line has, in the scanner's slot order.
    enum Field: Int, CaseIterable {
        case window, start, end, scope, id, flowSeconds, coverage, samples, estimated, revision
        case gasM3, waterM3, utilisedM3, flaredM3, utilisationRate, coalT, co2eT

        var key: String {
            switch self {
            case .window: "window"
            case .start: "start"
            case .end: "end"
            case .scope: "scope"
            case .id: "id"
            case .flowSeconds: "flow_seconds"
            case .coverage: "coverage"
            case .samples: "samples"
            case .estimated: "estimated"
            case .revision: "revision"
            case .gasM3: "gas_m3"
            case .waterM3: "water_m3"
            case .utilisedM3: "utilised_m3"
            case .flaredM3: "flared_m3"
            case .utilisationRate: "utilisation_rate"
            case .coalT: "coal_t"
            case .co2eT: "co2e_t"
            }
        }
    }

    private static let scanner = FlatJSON(keys: Field.allCases.map(\.key))

    /// A record from its members, however they were read.
    private static func make(_ f: some RecordFields) -> TotalsRecord? {
        guard let w = f.string(.window), let window = WindowKind(rawValue: w),
              let start = f.time(.start), let end = f.time(.end),
              let sc = f.string(.scope), let scope = Scope(rawValue: sc),
              let id = f.string(.id),
              let flow = f.number(.flowSeconds), let coverage = f.number(.coverage),
              let samples = f.number(.samples).flatMap(wholeNumber), let estimated = f.bool(.estimated),
              let revision = f.number(.revision).flatMap(wholeNumber) else { return nil }
        var rate: Double?
        var hasRate = false
        if let n = f.number(.utilisationRate) {
            (rate, hasRate) = (n, true)
        } else if f.isNull(.utilisationRate) {
            hasRate = true
        }
        return TotalsRecord(window: window, span: WindowSpan(start: start, end: end), scope: scope, id: id, gasM3: f.number(.gasM3),
                            waterM3: f.number(.waterM3), utilisedM3: f.number(.utilisedM3), flaredM3: f.number(.flaredM3),
                            utilisationRate: rate, hasUtilisationRate: hasRate, coalT: f.number(.coalT), co2eT: f.number(.co2eT),
                            flowSeconds: flow, coverage: coverage, samples: samples, estimated: estimated, revision: revision)
    }

    /// A count as written (its fraction dropped, as `Int(_:)` does); nil for a number no count can
    /// be (a damaged line), which would otherwise trap.
    private static func wholeNumber(_ n: Double) -> Int? {
        n.isFinite && abs(n) < 9.0e18 ? Int(n) : nil
    }
}

/// A record line's members, read by the scanner or the parser.
private protocol RecordFields {
    func string(_ f: TotalsRecord.Field) -> String?
    func time(_ f: TotalsRecord.Field) -> Timestamp?
    func number(_ f: TotalsRecord.Field) -> Double?
    func bool(_ f: TotalsRecord.Field) -> Bool?
    func isNull(_ f: TotalsRecord.Field) -> Bool
}

private struct ScannedRecordFields: RecordFields {
    let slots: UnsafeBufferPointer<FlatJSON.Slot>
    let bytes: UnsafeRawBufferPointer

    private func text(_ f: TotalsRecord.Field) -> UnsafeRawBufferPointer? {
        let s = slots[f.rawValue]
        return s.kind == .string ? UnsafeRawBufferPointer(rebasing: bytes[Int(s.start)..<Int(s.end)]) : nil
    }
    func string(_ f: TotalsRecord.Field) -> String? { text(f).map { String(decoding: $0, as: UTF8.self) } }
    func time(_ f: TotalsRecord.Field) -> Timestamp? {
        guard let t = text(f), case .success(let time) = RFC3339.parse(t) else { return nil }
        return time
    }
    func number(_ f: TotalsRecord.Field) -> Double? { slots[f.rawValue].kind == .number ? slots[f.rawValue].number : nil }
    func bool(_ f: TotalsRecord.Field) -> Bool? { slots[f.rawValue].kind == .bool ? slots[f.rawValue].number != 0 : nil }
    func isNull(_ f: TotalsRecord.Field) -> Bool { slots[f.rawValue].kind == .null }
}

private struct ParsedFields: RecordFields {
    let object: JSONValue

    func string(_ f: TotalsRecord.Field) -> String? { if case .string(let s)? = object[f.key] { s } else { nil } }
    func time(_ f: TotalsRecord.Field) -> Timestamp? {
        guard let s = string(f), case .success(let t) = RFC3339.parse(s) else { return nil }
        return t
    }
    func number(_ f: TotalsRecord.Field) -> Double? { if case .number(let n)? = object[f.key] { n } else { nil } }
    func bool(_ f: TotalsRecord.Field) -> Bool? { if case .bool(let b)? = object[f.key] { b } else { nil } }
    func isNull(_ f: TotalsRecord.Field) -> Bool { if case .null? = object[f.key] { true } else { false } }
}

/// The lines of a byte buffer (without their newlines; empty lines left out).
public func splitLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var lines: [ArraySlice<UInt8>] = []
    bytes.withUnsafeBytes { b in
        guard let base = b.baseAddress else { return }
        var start = 0
        while start < b.count {
            let end = memchr(base + start, 10, b.count - start).map { base.distance(to: UnsafeRawPointer($0)) } ?? b.count
            if end > start { lines.append(bytes[start..<end]) }
            start = end + 1
        }
    }
    return lines
}
