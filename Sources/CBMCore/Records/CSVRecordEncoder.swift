/// Encodes records as CSV (RFC 4180) with the same column names as the JSON Lines records: a
/// fixed set of columns per family (empty where a record has no such field), one record per line
/// (control characters inside text are escaped as in JSON, so no field holds a line break), and
/// no text cell that a spreadsheet would run as a formula.
public struct CSVRecordEncoder: Sendable {
    /// How the files are laid out for a spreadsheet.
    public struct Style: Sendable, Equatable {
        /// A UTF-8 byte-order mark before the header, so that Excel and WPS read UTF-8 (Chinese
        /// labels) instead of the system's code page.
        public var byteOrderMark = false
        /// Beside each time column (`time`, `start`, `end`), a `…_local` column with the local time
        /// without offset (`2026-11-28 08:00:00`), which spreadsheets read as a date and time.
        public var localTimes = false
        public init(byteOrderMark: Bool = false, localTimes: Bool = false) {
            self.byteOrderMark = byteOrderMark
            self.localTimes = localTimes
        }
    }

    public let basis: VolumeBasis
    public let factors: Factors
    public let style: Style
    private var offsets: ZoneOffsets
    /// The encoded lines.
    public private(set) var bytes: [UInt8] = []
    private var first = true

    public init(zone: ZoneOffsets, basis: VolumeBasis, factors: Factors, style: Style = Style()) {
        offsets = zone
        self.basis = basis
        self.factors = factors
        self.style = style
    }

    /// The header line of a family's files (after the byte-order mark, when the style has one).
    public static func header(_ family: RecordFamily, style: Style = Style()) -> [UInt8] {
        (style.byteOrderMark ? [0xEF, 0xBB, 0xBF] : []) + Array((columns(family, style: style).joined(separator: ",") + "\n").utf8)
    }

    /// The columns of a family: with local times, `x_local` follows each time column `x`.
    public static func columns(_ family: RecordFamily, style: Style = Style()) -> [String] {
        let base = baseColumns(family)
        guard style.localTimes else { return base }
        return base.flatMap { timeColumns.contains($0) ? [$0, $0 + "_local"] : [$0] }
    }

    static let timeColumns: Set<String> = ["time", "start", "end"]

    private static func baseColumns(_ family: RecordFamily) -> [String] {
        switch family {
        case .readings: return ["time", "asset", "measurement", "value", "unit", "basis"]
        case .rejects: return ["time", "topic", "reason", "code", "payload", "payload_bytes", "truncated"]
        case .events: return ["time", "kind", "id", "detail"]
        case .alerts: return ["time", "rule", "scope", "id", "state", "severity", "value", "threshold", "window", "message",
                              "acknowledged", "suppressed_until"]
        case .totals:
            return ["window", "start", "end", "scope", "id", "gas_m3", "water_m3", "utilised_m3", "flared_m3",
                    "utilisation_rate", "coal_t", "co2e_t", "flow_seconds", "coverage", "samples", "estimated",
                    "revision", "basis", "coal_kgce_per_m3", "co2e_kg_per_m3"]
        }
    }

    /// Takes the encoded bytes, leaving the encoder empty.
    public mutating func take() -> [UInt8] {
        let out = bytes
        bytes.removeAll(keepingCapacity: true)
        return out
    }

    /// A text cell. One that a spreadsheet would run as a formula (its first character, after
    /// spaces, `=`, `+`, `-` or `@`: `=HYPERLINK(…)`, `=cmd|' /C calc'!A0`) gets a leading `'`,
    /// which spreadsheets show as text; numbers and times are written as they are.
    private mutating func field(_ text: String) { cell(text, neutralise: true) }

    private mutating func cell(_ text: String, neutralise: Bool) {
        if !first { bytes.append(44) }
        first = false
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.utf8.count + 1)
        if neutralise, let c = text.utf8.first(where: { $0 != 32 }), c == 61 || c == 43 || c == 45 || c == 64 {
            escaped.append(39)
        }
        var needsQuotes = false
        for c in text.utf8 {
            if c < 32 {
                JSONLineEncoder.appendEscaped(c, to: &escaped)
            } else {
                if c == 44 || c == 34 { needsQuotes = true }
                escaped.append(c)
                if c == 34 { escaped.append(34) }
            }
        }
        if needsQuotes { bytes.append(34) }
        bytes.append(contentsOf: escaped)
        if needsQuotes { bytes.append(34) }
    }

    private mutating func number(_ v: Double?) { cell(v.map { $0.isFinite ? $0.description : "" } ?? "", neutralise: false) }
    private mutating func time(_ t: Timestamp) {
        let offset = offsets.offset(at: t)
        cell(RFC3339.format(t, offsetSeconds: offset), neutralise: false)
        if style.localTimes { cell(Self.localTime(t, offsetSeconds: offset), neutralise: false) }
    }

    /// `2026-11-28 08:00:00` (with `.250` when the time has a fraction of a second, cut to the
    /// millisecond, which spreadsheets still read): the local time without its offset.
    public static func localTime(_ t: Timestamp, offsetSeconds: Int) -> String {
        var text = Array(RFC3339.format(t, offsetSeconds: offsetSeconds).utf8)
        // …±HH:MM or …Z off the end; the date and time part is 19 bytes, a fraction follows it.
        if text.last == 90 { text.removeLast() } else if text.count >= 6 { text.removeLast(6) }
        if text.count > 23 { text.removeLast(text.count - 23) }
        if text.count > 10 { text[10] = 32 }
        return String(decoding: text, as: UTF8.self)
    }
    private mutating func end() {
        bytes.append(10)
        first = true
    }

    public mutating func encode(_ r: Reading) {
        time(r.time)
        field(r.asset)
        field(r.measurement.rawValue)
        number(r.value)
        field(r.unit)
        field(r.measurement.dimension.isGas ? basis.name : "")
        end()
    }

    public mutating func encode(_ r: Reject, maxPayload: Int = 1024) {
        time(r.time)
        field(r.topic)
        field(r.reason.description)
        field(r.reason.code)
        var json = JSONLineEncoder()
        let kept = r.payload.prefix(maxPayload)
        json.begin()
        json.bytesAsString("p", kept)
        // {"p":"…"} → the escaped text between the quotes.
        let text = json.bytes.dropFirst(6).dropLast(1)
        field(String(decoding: text, as: UTF8.self))
        field(String(r.payload.count))
        field(kept.count < r.payload.count ? "true" : "")
        end()
    }

    public mutating func encode(_ r: TotalsRecord) {
        field(r.window.rawValue)
        time(r.span.start)
        time(r.span.end)
        field(r.scope.rawValue)
        field(r.id)
        number(r.gasM3)
        number(r.waterM3)
        number(r.utilisedM3)
        number(r.flaredM3)
        number(r.utilisationRate)
        number(r.coalT)
        number(r.co2eT)
        number(r.flowSeconds)
        number(r.coverage)
        field(String(r.samples))
        field(r.estimated ? "true" : "false")
        field(String(r.revision))
        field(basis.name)
        number(r.coalT != nil ? factors.coalKgcePerM3 : nil)
        number(r.coalT != nil ? factors.co2eKgPerM3 : nil)
        end()
    }

    public mutating func encode(_ a: AlertRecord) {
        time(a.time)
        field(a.rule)
        field(a.scope.rawValue)
        field(a.id)
        field(a.state.rawValue)
        field(a.severity)
        number(a.value)
        number(a.threshold)
        field(a.window?.rawValue ?? "")
        field(a.message)
        field(a.acknowledged ? "true" : "false")
        field(a.suppressedUntil.map { RFC3339.format($0, offsetSeconds: offsets.offset(at: $0)) } ?? "")
        end()
    }

    public mutating func encode(_ e: EventRecord) {
        time(e.time)
        field(e.kind.rawValue)
        field(e.id)
        field(e.detail)
        end()
    }
}
