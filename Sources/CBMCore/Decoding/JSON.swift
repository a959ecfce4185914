/// A parsed JSON value (RFC 8259).
///
/// The decoder has its own small parser rather than Foundation's: it runs once per message, must
/// say precisely where a payload is broken, must not confuse `true` with `1`, and has to be fast
/// (DESIGN §6).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([Member])

    /// A key and value of an object, in payload order.
    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value of a key of an object (the first, if the key repeats).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for m in members where m.key == key { return m.value }
        return nil
    }

    /// The value written as JSON text (compact; whole numbers without a fraction).
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            guard n.isFinite else { return "null" }
            return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : "\(n)"
        case .string(let s):
            var e = JSONLineEncoder()
            e.begin()
            e.string("s", s)
            // {"s":"…" → the quoted text.
            return String(decoding: e.bytes.dropFirst(5), as: UTF8.self)
        case .array(let a): return "[" + a.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let m): return "{" + m.map { JSONValue.string($0.key).jsonText + ":" + $0.value.jsonText }.joined(separator: ",") + "}"
        }
    }

    /// A short name of the value's type, for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Why a payload is not JSON: what, and at which byte.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 0-based byte offset of the problem.
    public var offset: Int
    /// What was wrong.
    public var message: String
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict JSON parser over bytes.
public struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var p = 0
    private var depth = 0
    /// Nesting deeper than this is refused (telemetry is two or three levels deep).
    public static let maxDepth = 64

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses a complete JSON text; whitespace may surround it, nothing else may follow.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<JSONValue, JSONSyntaxError> {
        var parser = JSONParser(bytes)
        do {
            parser.skipSpace()
            let v = try parser.value()
            parser.skipSpace()
            guard parser.p == bytes.count else { throw parser.error("unexpected text after the JSON value") }
            return .success(v)
        } catch let e as JSONSyntaxError {
            return .failure(e)
        } catch {
            return .failure(JSONSyntaxError(offset: 0, message: "\(error)"))
        }
    }

    /// Parses a byte array.
    public static func parse(_ bytes: [UInt8]) -> Result<JSONValue, JSONSyntaxError> {
        bytes.withUnsafeBytes { parse($0) }
    }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: p, message: message) }

    @inline(__always)
    private mutating func skipSpace() {
        while p < bytes.count {
            let c = bytes[p]
            guard c == 32 || c == 10 || c == 13 || c == 9 else { return }
            p += 1
        }
    }

    private mutating func value() throws -> JSONValue {
        guard p < bytes.count else { throw error(p == 0 ? "empty payload" : "unexpected end of payload") }
        switch bytes[p] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character \(Self.show(bytes[p]))")
        }
    }

    private static func show(_ c: UInt8) -> String {
        (32..<127).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard p + n <= bytes.count else { throw error("unexpected end of payload") }
        for i in 0..<n where bytes[p + i] != word.utf8Start[i] { throw error("invalid literal") }
        p += n
    }

    private mutating func object() throws -> JSONValue {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        defer { depth -= 1 }
        p += 1
        var members: [JSONValue.Member] = []
        members.reserveCapacity(8)
        skipSpace()
        if p < bytes.count, bytes[p] == UInt8(ascii: "}") { p += 1; return .object(members) }
        while true {
            skipSpace()
            guard p < bytes.count, bytes[p] == UInt8(ascii: "\"") else {
                throw error(p < bytes.count ? "expected a key in quotes" : "unexpected end of payload")
            }
            let key = try string()
            skipSpace()
            guard p < bytes.count, bytes[p] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            p += 1
            skipSpace()
            members.append(.init(key: key, value: try value()))
            skipSpace()
            guard p < bytes.count else { throw error("unexpected end of payload") }
            if bytes[p] == UInt8(ascii: ",") { p += 1; continue }
            if bytes[p] == UInt8(ascii: "}") { p += 1; return .object(members) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func array() throws -> JSONValue {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        defer { depth -= 1 }
        p += 1
        var items: [JSONValue] = []
        skipSpace()
        if p < bytes.count, bytes[p] == UInt8(ascii: "]") { p += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard p < bytes.count else { throw error("unexpected end of payload") }
            if bytes[p] == UInt8(ascii: ",") { p += 1; continue }
            if bytes[p] == UInt8(ascii: "]") { p += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func string() throws -> String {
        p += 1
        let start = p
        // Fast path: no escapes.
        while p < bytes.count {
            let c = bytes[p]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<p]), as: UTF8.self)
                p += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            p += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<p]))
        while p < bytes.count {
            let c = bytes[p]
            if c == UInt8(ascii: "\"") {
                p += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw error("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); p += 1; continue }
            p += 1
            guard p < bytes.count else { break }
            let e = bytes[p]
            p += 1
            switch e {
            case UInt8(ascii: "\""): out.append(34)
            case UInt8(ascii: "\\"): out.append(92)
            case UInt8(ascii: "/"): out.append(47)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), p + 1 < bytes.count, bytes[p] == 92, bytes[p + 1] == UInt8(ascii: "u") {
                    p += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(Character(u)).utf8)
            default:
                p -= 1
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard p + 4 <= bytes.count else { throw error("unexpected end of payload") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[p]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            p += 1
        }
        return v
    }

    private mutating func number() throws -> Double {
        switch Self.number(bytes, &p) {
        case .value(let v): return v
        case .invalid(let why): throw error(why)
        }
    }

    /// What reading a number gave: its value, or why the text is not one.
    enum NumberScan {
        case value(Double)
        case invalid(String)
    }

    /// Reads the number at `p` (its first byte is '-' or a digit), leaving `p` after it, or at
    /// the byte that makes it invalid. Shared by the parser and ``FlatJSON``, so both read every
    /// number to the same double.
    static func number(_ bytes: UnsafeRawBufferPointer, _ p: inout Int) -> NumberScan {
        var problem = NumberProblem.other
        guard let v = scanNumber(bytes, &p, &problem) else {
            switch problem {
            case .leadingZero: return .invalid("invalid number (leading zero)")
            case .noFractionDigit: return .invalid("invalid number (digit expected after '.')")
            case .noExponentDigit: return .invalid("invalid number (digit expected in exponent)")
            case .other: return .invalid("invalid number")
            }
        }
        return .value(v)
    }

    /// The same, nil when it is not a number (the flat scanner, which leaves the reason to the parser).
    @inline(__always)
    static func numberValue(_ bytes: UnsafeRawBufferPointer, _ p: inout Int) -> Double? {
        var problem = NumberProblem.other
        return scanNumber(bytes, &p, &problem)
    }

    /// Why a number's text is not one.
    enum NumberProblem { case other, leadingZero, noFractionDigit, noExponentDigit }

    @inline(__always)
    private static func scanNumber(_ bytes: UnsafeRawBufferPointer, _ p: inout Int, _ problem: inout NumberProblem) -> Double? {
        let start = p
        var negative = false
        if bytes[p] == UInt8(ascii: "-") { negative = true; p += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        guard p < bytes.count, (48...57).contains(bytes[p]) else { return nil }
        if bytes[p] == 48, p + 1 < bytes.count, (48...57).contains(bytes[p + 1]) {
            problem = .leadingZero
            return nil
        }
        while p < bytes.count, (48...57).contains(bytes[p]) {
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[p] - 48); digits += 1 } else { exponent += 1 }
            p += 1
        }
        if p < bytes.count, bytes[p] == UInt8(ascii: ".") {
            p += 1
            guard p < bytes.count, (48...57).contains(bytes[p]) else { problem = .noFractionDigit; return nil }
            while p < bytes.count, (48...57).contains(bytes[p]) {
                // Zeros before the first significant digit (0.000…1) only scale: they are not
                // digits of the mantissa, or 19 of them would leave it 0.
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[p] - 48)
                    if mantissa != 0 { digits += 1 }
                    exponent -= 1
                }
                p += 1
            }
        }
        if p < bytes.count, bytes[p] == UInt8(ascii: "e") || bytes[p] == UInt8(ascii: "E") {
            p += 1
            var expNegative = false
            if p < bytes.count, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") {
                expNegative = bytes[p] == UInt8(ascii: "-")
                p += 1
            }
            guard p < bytes.count, (48...57).contains(bytes[p]) else { problem = .noExponentDigit; return nil }
            var e = 0
            while p < bytes.count, (48...57).contains(bytes[p]) {
                if e < 100_000 { e = e * 10 + Int(bytes[p] - 48) }
                p += 1
            }
            exponent += expNegative ? -e : e
        }
        // Exact fast path (Clinger): a mantissa below 2^53 and a power of ten up to 10^22 are both
        // exact doubles, so one multiplication or division rounds correctly.
        if mantissa < (1 << 53) && exponent >= -22 && exponent <= 22 {
            var v = Double(mantissa)
            if exponent < 0 { v /= powerOfTen(-exponent) } else { v *= powerOfTen(exponent) }
            return negative ? -v : v
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<p]), as: UTF8.self)
        return Double(text)
    }

    /// 10^e for 0 ≤ e ≤ 22: each is a double exactly.
    @inline(__always)
    static func powerOfTen(_ e: Int) -> Double {
        switch e {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }
}
