/// RFC 4180 CSV: reading with the line each record starts on (for error messages), and quoting
/// for writers.
public enum CSV {
    /// One record of a CSV text.
    public struct Row: Sendable, Equatable {
        /// The 1-based line the record starts on.
        public var line: Int
        /// The fields, unquoted.
        public var fields: [String]
    }

    /// Why a CSV text could not be read.
    public struct SyntaxError: Error, Equatable, Sendable {
        public var line: Int
        public var message: String
    }

    /// Parses a CSV text. Blank lines and lines starting with `#` are skipped; a UTF-8 byte-order
    /// mark (spreadsheets write one) is ignored; CRLF and LF both end records.
    public static func parse(_ text: String) -> Result<[Row], SyntaxError> {
        var rows: [Row] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var rowLine = 1
        var inQuotes = false
        var quoted = false
        var atRowStart = true
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var i = 0
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            quoted = false
        }
        func endRow() {
            endField()
            let blank = fields.count == 1 && fields[0].isEmpty
            if !blank { rows.append(Row(line: rowLine, fields: fields)) }
            fields.removeAll()
            atRowStart = true
        }
        while i < bytes.count {
            let c = bytes[i]
            if atRowStart {
                rowLine = line
                atRowStart = false
                if c == UInt8(ascii: "#") {
                    while i < bytes.count, bytes[i] != 10 { i += 1 }
                    if i < bytes.count { line += 1; i += 1 }
                    atRowStart = true
                    continue
                }
            }
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 2
                        continue
                    }
                    inQuotes = false
                } else {
                    if c == 10 { line += 1 }
                    field.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\""):
                guard field.isEmpty, !quoted else {
                    return .failure(SyntaxError(line: line, message: "a quote inside an unquoted field (quote the whole field and double the quote)"))
                }
                inQuotes = true
                quoted = true
            case 13:
                break
            case 10:
                endRow()
                line += 1
            default:
                if quoted {
                    return .failure(SyntaxError(line: line, message: "text after the closing quote of a field"))
                }
                field.append(c)
            }
            i += 1
        }
        if inQuotes { return .failure(SyntaxError(line: rowLine, message: "a quoted field is never closed")) }
        if !atRowStart || !field.isEmpty || !fields.isEmpty { endRow() }
        return .success(rows)
    }

    /// A field quoted when it needs to be (comma, quote, CR or LF inside), quotes doubled.
    public static func quote(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }) else { return field }
        var out = "\""
        for ch in field {
            if ch == "\"" { out += "\"\"" } else { out.append(ch) }
        }
        return out + "\""
    }
}
