/// Builds one JSON object per line into a reusable byte buffer: the output records' encoder.
///
/// Keys are written in the order given, so records are byte-for-byte reproducible. Numbers use
/// Swift's shortest round-trip form: values are stored unrounded (API MPMS 21.1).
public struct JSONLineEncoder: Sendable {
    /// The encoded bytes so far (several lines).
    public private(set) var bytes: [UInt8] = []
    private var first = true

    public init() { bytes.reserveCapacity(4096) }

    /// Empties the buffer, keeping its storage.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// Drops what was encoded after the first `count` bytes (a record not to be written after all).
    public mutating func truncate(to count: Int) { bytes.removeLast(bytes.count - count) }

    /// Starts an object.
    public mutating func begin() {
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    /// Ends the object and the line.
    public mutating func end() {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(10)
    }

    private mutating func key(_ k: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string member.
    public mutating func string(_ k: StaticString, _ value: String) {
        key(k)
        Self.appendQuoted(value.utf8, to: &bytes)
    }

    /// A string member, or null.
    public mutating func string(_ k: StaticString, _ value: String?) {
        if let value { string(k, value) } else { null(k) }
    }

    /// A number member; a non-finite value (never produced by the decoder) is written as null.
    public mutating func number(_ k: StaticString, _ value: Double) {
        key(k)
        if value.isFinite {
            bytes.append(contentsOf: value.description.utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    /// An integer member.
    public mutating func integer(_ k: StaticString, _ value: Int) {
        key(k)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A boolean member.
    public mutating func bool(_ k: StaticString, _ value: Bool) {
        key(k)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A null member.
    public mutating func null(_ k: StaticString) {
        key(k)
        bytes.append(contentsOf: "null".utf8)
    }

    /// A timestamp member as RFC 3339 text with the given UTC offset.
    public mutating func time(_ k: StaticString, _ t: Timestamp, offsetSeconds: Int) {
        key(k)
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(t, offsetSeconds: offsetSeconds, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Raw bytes as a JSON string: valid UTF-8 is kept, control characters escaped, and each byte
    /// that is not valid UTF-8 written as the text `\xNN` (so a binary payload stays legible and
    /// nothing about it is lost but what truncation removed).
    public mutating func bytesAsString(_ k: StaticString, _ raw: ArraySlice<UInt8>) {
        key(k)
        bytes.append(UInt8(ascii: "\""))
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            let n = Self.validSequenceLength(raw, at: i)
            if n == 0 {
                bytes.append(contentsOf: "\\\\x".utf8)
                bytes.append(Self.hex[Int(c >> 4)])
                bytes.append(Self.hex[Int(c & 15)])
                i += 1
            } else if n == 1 {
                Self.appendEscaped(c, to: &bytes)
                i += 1
            } else {
                bytes.append(contentsOf: raw[i..<(i + n)])
                i += n
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Length of the valid UTF-8 sequence at `i`, or 0 if the byte there does not start one.
    static func validSequenceLength(_ b: ArraySlice<UInt8>, at i: Int) -> Int {
        let c = b[i]
        if c < 0x80 { return 1 }
        let n: Int
        let lowest: UInt32
        switch c {
        case 0xC2...0xDF: n = 2; lowest = 0x80
        case 0xE0...0xEF: n = 3; lowest = 0x800
        case 0xF0...0xF4: n = 4; lowest = 0x10000
        default: return 0
        }
        guard i + n <= b.endIndex else { return 0 }
        var scalar = UInt32(c) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07)
        for j in 1..<n {
            let cc = b[i + j]
            guard cc & 0xC0 == 0x80 else { return 0 }
            scalar = scalar << 6 | UInt32(cc & 0x3F)
        }
        guard scalar >= lowest, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return 0 }
        return n
    }

    @inline(__always)
    static func appendEscaped(_ c: UInt8, to out: inout [UInt8]) {
        switch c {
        case 34: out.append(92); out.append(34)
        case 92: out.append(92); out.append(92)
        case 10: out.append(92); out.append(UInt8(ascii: "n"))
        case 13: out.append(92); out.append(UInt8(ascii: "r"))
        case 9: out.append(92); out.append(UInt8(ascii: "t"))
        case 0..<32:
            out.append(contentsOf: "\\u00".utf8)
            out.append(hex[Int(c >> 4)])
            out.append(hex[Int(c & 15)])
        default: out.append(c)
        }
    }

    /// Appends a quoted, escaped JSON string.
    static func appendQuoted(_ s: String.UTF8View, to out: inout [UInt8]) {
        out.append(34)
        for c in s { appendEscaped(c, to: &out) }
        out.append(34)
    }
}
