import Foundation

/// Reads the configured keys of a flat JSON object straight from its bytes, in one pass and
/// without building a value tree: the common telemetry payload (`{"ts":…,"gas_m3h":…}`).
///
/// It takes only what it can read exactly as ``JSONParser`` would: one object whose keys are
/// ASCII without escapes and whose values are numbers, strings without escapes, `true`, `false`
/// or `null`, with nothing after it but whitespace. Anything else (a nested value, an escape, a
/// syntax error, an array of objects) is left to the parser, which also says precisely what is
/// wrong: the scanner never rejects. A plain decimal of up to 15 digits, without an exponent, is
/// converted by the scanner with the parser's own arithmetic (an integer of them and one power of
/// ten); any other number goes through the parser's routine: both read every number to the same
/// double.
final class FlatJSON: Sendable {
    /// How many keys are looked for (the slots a scan fills).
    let count: Int
    /// The keys' bytes, one after another (compared where they lie), and where each starts
    /// (`count + 1` offsets). The scanner is nil when a key is not ASCII: a payload key could
    /// then be canonically equal to it and not byte-equal, so such layouts always take the parser.
    private let keyBytes: [UInt8]
    private let keyStarts: [Int]
    /// Whether no key is there twice.
    private let distinct: Bool
    /// Whether every key is of the characters a payload writes as they are (printable, no quote,
    /// no backslash): then a payload key equal to the one expected next is known by comparing it
    /// whole, not read a byte at a time first.
    private let plainKeys: Bool

    init?(keys: [String]) {
        guard keys.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }) else { return nil }
        count = keys.count
        keyBytes = keys.flatMap(\.utf8)
        keyStarts = keys.reduce(into: [0]) { $0.append($0.last! + $1.utf8.count) }
        distinct = Set(keys).count == keys.count
        plainKeys = keys.allSatisfy { $0.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") } }
    }

    /// What the scanner found for one key: plain bytes, with no string made (a string value is
    /// its byte range in the payload, read only when it is needed).
    struct Slot: Equatable {
        enum Kind: UInt8 {
            case absent, null, number, string, bool
        }
        var kind = Kind.absent
        /// A number's value; a bool's, as 1 or 0.
        var number = 0.0
        /// A string's bytes in the payload (without the quotes).
        var start: Int32 = 0
        var end: Int32 = 0

        /// The value as the parser would give it (nil: the key was not there).
        func value(in bytes: UnsafeRawBufferPointer) -> JSONValue? {
            switch kind {
            case .absent: return nil
            case .null: return .null
            case .number: return .number(number)
            case .bool: return .bool(number != 0)
            case .string: return .string(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[Int(start)..<Int(end)]), as: UTF8.self))
            }
        }
    }

    /// Scans `bytes`; on success `slots[i]` holds what the first member named `keys[i]` has
    /// (``Slot/Kind/absent`` when there is none) and the result is true. False: the payload is
    /// not a flat object this scanner takes, and `slots` is to be ignored.
    func scan(_ bytes: UnsafeRawBufferPointer, into slots: inout [Slot]) -> Bool {
        if slots.count != count { slots = [Slot](repeating: Slot(), count: count) }
        // (A payload larger than 2 GiB is not one the limits let through; it takes the parser.)
        return slots.withUnsafeMutableBufferPointer { scan(bytes, into: $0) }
    }

    /// The same, into slots of the caller's (as many as the keys).
    func scan(_ bytes: UnsafeRawBufferPointer, into s: UnsafeMutableBufferPointer<Slot>) -> Bool {
        guard bytes.count < Int(Int32.max) else { return false }
        for i in s.indices { s[i].kind = .absent }
        return keyBytes.withUnsafeBufferPointer { k in
            keyStarts.withUnsafeBufferPointer { starts in scan(bytes, s, keys: k, starts: starts) }
        }
    }

    /// The same, as the parser's values (tests).
    func scan(_ bytes: UnsafeRawBufferPointer, into values: inout [JSONValue?]) -> Bool {
        var slots: [Slot] = []
        guard scan(bytes, into: &slots) else { return false }
        values = slots.map { $0.value(in: bytes) }
        return true
    }

    private func scan(_ bytes: UnsafeRawBufferPointer, _ slots: UnsafeMutableBufferPointer<Slot>,
                      keys k: UnsafeBufferPointer<UInt8>, starts: UnsafeBufferPointer<Int>) -> Bool {
        // (Read through a pointer, every index checked against `n` by hand: this runs once a message.)
        guard let b = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), let keyBase = k.baseAddress else { return false }
        let n = bytes.count
        var p = 0
        var expected = 0
        Self.skipSpace(b, n, &p)
        guard p < n, b[p] == UInt8(ascii: "{") else { return false }
        p += 1
        Self.skipSpace(b, n, &p)
        if p < n, b[p] == UInt8(ascii: "}") {
            p += 1
            Self.skipSpace(b, n, &p)
            return p == n
        }
        while true {
            // A key: ASCII, printable, no escapes.
            guard p < n, b[p] == UInt8(ascii: "\"") else { return false }
            p += 1
            let keyStart = p
            // The key expected next, as it is most often: compared whole, with its closing quote.
            var isExpected = false
            if plainKeys && distinct && expected < slots.count && slots[expected].kind == .absent {
                let length = starts[expected + 1] - starts[expected]
                if p + length < n && b[p + length] == UInt8(ascii: "\"") && Self.same(keyBase + starts[expected], b + p, length) {
                    isExpected = true
                    p += length
                }
            }
            if !isExpected {
                while p < n {
                    let c = b[p]
                    if c == UInt8(ascii: "\"") { break }
                    guard c >= 0x20, c < 0x80, c != UInt8(ascii: "\\") else { return false }
                    p += 1
                }
                guard p < n else { return false }
            }
            let keyEnd = p
            p += 1
            Self.skipSpace(b, n, &p)
            guard p < n, b[p] == UInt8(ascii: ":") else { return false }
            p += 1
            Self.skipSpace(b, n, &p)
            guard p < n else { return false }
            // The value.
            var value = Slot()
            let c = b[p]
            if c &- UInt8(ascii: "0") < 10 || c == UInt8(ascii: "-") {
                guard let v = Self.number(b, n, &p, bytes) else { return false }
                value = Slot(kind: .number, number: v)
            } else if c == UInt8(ascii: "\"") {
                p += 1
                let start = p
                while p < n {
                    let c = b[p]
                    if c == UInt8(ascii: "\"") { break }
                    guard c >= 0x20, c != UInt8(ascii: "\\") else { return false }
                    p += 1
                }
                guard p < n else { return false }
                value = Slot(kind: .string, start: Int32(start), end: Int32(p))
                p += 1
            } else if c == UInt8(ascii: "t") {
                guard Self.word(b, n, &p, "true") else { return false }
                value = Slot(kind: .bool, number: 1)
            } else if c == UInt8(ascii: "f") {
                guard Self.word(b, n, &p, "false") else { return false }
                value = Slot(kind: .bool, number: 0)
            } else if c == UInt8(ascii: "n") {
                guard Self.word(b, n, &p, "null") else { return false }
                value = Slot(kind: .null)
            } else {
                return false
            }
            // The first member of a name is the one the parser's lookup finds.
            let length = keyEnd - keyStart
            // (Payloads mostly list their keys in the configured order: the key after the last one
            // found is tried first.)
            @inline(__always)
            func named(_ i: Int) -> Bool {
                starts[i + 1] - starts[i] == length && slots[i].kind == .absent
                    && Self.same(keyBase + starts[i], b + keyStart, length)
            }
            if isExpected || (distinct && expected < slots.count && named(expected)) {
                slots[expected] = value
                expected += 1
            } else {
                // (A key configured twice, as the time and a value say, fills both slots.)
                for i in slots.indices where named(i) {
                    slots[i] = value
                    expected = i + 1
                    if distinct { break }
                }
            }
            Self.skipSpace(b, n, &p)
            guard p < n else { return false }
            if b[p] == UInt8(ascii: ",") {
                p += 1
                Self.skipSpace(b, n, &p)
                continue
            }
            guard b[p] == UInt8(ascii: "}") else { return false }
            p += 1
            Self.skipSpace(b, n, &p)
            return p == n
        }
    }

    /// Whether `count` bytes at `a` and at `b` are the same (keys are short: compared here, eight
    /// bytes at a time, not by a call).
    @inline(__always)
    private static func same(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        var i = 0
        while i + 8 <= count {
            if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// A number at `p`: the common plain decimal (a sign, at most 15 digits, a fraction, no
    /// exponent) read here, with the very arithmetic of the parser's exact path, so to the same
    /// double; anything else (an exponent, more digits, a leading zero, a lone point) by the
    /// parser's own routine, from the start. Nil where that says it is no number.
    @inline(__always)
    private static func number(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int, _ bytes: UnsafeRawBufferPointer) -> Double? {
        let start = p
        var q = p
        let negative = b[q] == UInt8(ascii: "-")
        if negative { q += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        let first = q
        while q < n, b[q] &- UInt8(ascii: "0") < 10 {
            mantissa = mantissa &* 10 &+ UInt64(b[q] &- UInt8(ascii: "0"))
            q += 1
        }
        digits = q - first
        var fraction = 0
        var plain = digits > 0 && !(b[first] == UInt8(ascii: "0") && digits > 1)
        if plain, q < n, b[q] == UInt8(ascii: ".") {
            q += 1
            let f = q
            while q < n, b[q] &- UInt8(ascii: "0") < 10 {
                mantissa = mantissa &* 10 &+ UInt64(b[q] &- UInt8(ascii: "0"))
                q += 1
            }
            fraction = q - f
            plain = fraction > 0
        }
        if plain, digits + fraction <= 15, q >= n || (b[q] | 0x20) != UInt8(ascii: "e") {
            p = q
            // (Below 10^15: exactly a double, converted as a signed integer.)
            var v = Double(Int64(bitPattern: mantissa))
            if fraction > 0 { v /= JSONParser.powerOfTen(fraction) }
            return negative ? -v : v
        }
        p = start
        return parsed(bytes, &p)
    }

    /// Anything but a plain decimal: the parser's routine.
    @inline(never)
    private static func parsed(_ bytes: UnsafeRawBufferPointer, _ p: inout Int) -> Double? {
        JSONParser.numberValue(bytes, &p)
    }

    @inline(__always)
    private static func skipSpace(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int) {
        while p < n {
            let c = b[p]
            guard c == 32 || c == 10 || c == 13 || c == 9 else { return }
            p += 1
        }
    }

    @inline(__always)
    private static func word(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int, _ w: StaticString) -> Bool {
        let count = w.utf8CodeUnitCount
        guard p + count <= n else { return false }
        for i in 0..<count where b[p + i] != w.utf8Start[i] { return false }
        p += count
        return true
    }
}
