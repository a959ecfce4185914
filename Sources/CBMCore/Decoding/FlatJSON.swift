import Foundation

/// Reads the configured keys of a flat JSON object straight from its bytes, in one pass and
/// without building a value tree: the common telemetry payload (`{"ts":…,"gas_m3h":…}`).
///
/// It takes only what it can read exactly as ``JSONParser`` would: one object whose keys are
/// ASCII without escapes and whose values are numbers, strings without escapes, `true`, `false`
/// or `null`, with nothing after it but whitespace. Anything else (a nested value, an escape, a
/// syntax error, an array of objects) is left to the parser, which also says precisely what is
/// wrong: the scanner never rejects. Numbers go through the parser's own routine, so both read
/// every number to the same double.
struct FlatJSON {
    /// The keys looked for, as bytes; nil when one of them is not ASCII (a payload key could
    /// then be canonically equal to it and not byte-equal, so such layouts always take the
    /// parser).
    let keys: [[UInt8]]

    init?(keys: [String]) {
        guard keys.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }) else { return nil }
        self.keys = keys.map { Array($0.utf8) }
    }

    /// Scans `bytes`; on success `slots[i]` holds the value of the first member named `keys[i]`
    /// (nil when there is none) and the result is true. False: the payload is not a flat object
    /// this scanner takes, and `slots` is to be ignored.
    func scan(_ bytes: UnsafeRawBufferPointer, into slots: inout [JSONValue?]) -> Bool {
        if slots.count != keys.count { slots = [JSONValue?](repeating: nil, count: keys.count) }
        return slots.withUnsafeMutableBufferPointer { s in
            for i in s.indices { s[i] = nil }
            return scan(bytes, s)
        }
    }

    private func scan(_ bytes: UnsafeRawBufferPointer, _ slots: UnsafeMutableBufferPointer<JSONValue?>) -> Bool {
        let n = bytes.count
        var p = 0
        Self.skipSpace(bytes, &p)
        guard p < n, bytes[p] == UInt8(ascii: "{") else { return false }
        p += 1
        Self.skipSpace(bytes, &p)
        if p < n, bytes[p] == UInt8(ascii: "}") {
            p += 1
            Self.skipSpace(bytes, &p)
            return p == n
        }
        while true {
            // A key: ASCII, printable, no escapes.
            guard p < n, bytes[p] == UInt8(ascii: "\"") else { return false }
            p += 1
            let keyStart = p
            while p < n {
                let c = bytes[p]
                if c == UInt8(ascii: "\"") { break }
                guard c >= 0x20, c < 0x80, c != UInt8(ascii: "\\") else { return false }
                p += 1
            }
            guard p < n else { return false }
            let keyEnd = p
            p += 1
            Self.skipSpace(bytes, &p)
            guard p < n, bytes[p] == UInt8(ascii: ":") else { return false }
            p += 1
            Self.skipSpace(bytes, &p)
            guard p < n else { return false }
            // The value.
            let value: JSONValue
            switch bytes[p] {
            case UInt8(ascii: "\""):
                p += 1
                let start = p
                while p < n {
                    let c = bytes[p]
                    if c == UInt8(ascii: "\"") { break }
                    guard c >= 0x20, c != UInt8(ascii: "\\") else { return false }
                    p += 1
                }
                guard p < n else { return false }
                value = .string(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<p]), as: UTF8.self))
                p += 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard case .value(let v) = JSONParser.number(bytes, &p) else { return false }
                value = .number(v)
            case UInt8(ascii: "t"):
                guard Self.word(bytes, &p, "true") else { return false }
                value = .bool(true)
            case UInt8(ascii: "f"):
                guard Self.word(bytes, &p, "false") else { return false }
                value = .bool(false)
            case UInt8(ascii: "n"):
                guard Self.word(bytes, &p, "null") else { return false }
                value = .null
            default:
                return false
            }
            // The first member of a name is the one the parser's lookup finds.
            let length = keyEnd - keyStart
            for i in keys.indices where keys[i].count == length && slots[i] == nil {
                let same = keys[i].withUnsafeBytes { k in length == 0 || memcmp(k.baseAddress!, bytes.baseAddress! + keyStart, length) == 0 }
                if same { slots[i] = value }
            }
            Self.skipSpace(bytes, &p)
            guard p < n else { return false }
            if bytes[p] == UInt8(ascii: ",") {
                p += 1
                Self.skipSpace(bytes, &p)
                continue
            }
            guard bytes[p] == UInt8(ascii: "}") else { return false }
            p += 1
            Self.skipSpace(bytes, &p)
            return p == n
        }
    }

    @inline(__always)
    private static func skipSpace(_ bytes: UnsafeRawBufferPointer, _ p: inout Int) {
        while p < bytes.count {
            let c = bytes[p]
            guard c == 32 || c == 10 || c == 13 || c == 9 else { return }
            p += 1
        }
    }

    @inline(__always)
    private static func word(_ bytes: UnsafeRawBufferPointer, _ p: inout Int, _ w: StaticString) -> Bool {
        let n = w.utf8CodeUnitCount
        guard p + n <= bytes.count else { return false }
        for i in 0..<n where bytes[p + i] != w.utf8Start[i] { return false }
        p += n
        return true
    }
}
