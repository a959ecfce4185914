/// The readings of one series in one storage hour (a UTC hour: `[hour, hour + 1 h)`), ascending
/// and unique, and their encoding: a count, each time as the microseconds after the one before
/// (the first after the hour's start) in a variable-length integer, each value as its 8 bytes.
/// At one reading a minute that is 12 bytes a reading.
public struct ReadingBlock: Sendable, Equatable {
    public var times: [Int64] = []
    public var values: [Double] = []

    public init() {}

    public var isEmpty: Bool { times.isEmpty }

    /// The storage hour of a time.
    @inline(__always)
    public static func hour(of t: Int64) -> Int64 {
        let h: Int64 = 3_600_000_000
        return t >= 0 ? t / h * h : (t - h + 1) / h * h
    }

    public func encoded(hour: Int64) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(2 + times.count * 13)
        Self.varint(UInt64(times.count), into: &b)
        var last = hour
        for (t, v) in zip(times, values) {
            Self.varint(UInt64(t - last), into: &b)
            last = t
            var x = v.bitPattern
            for _ in 0..<8 {
                b.append(UInt8(truncatingIfNeeded: x))
                x >>= 8
            }
        }
        return b
    }

    /// Decodes a block; nil when the bytes are not one (a damaged archive row).
    public static func decode(_ b: [UInt8], hour: Int64) -> ReadingBlock? {
        var p = 0
        func varint() -> UInt64? {
            var x: UInt64 = 0, shift: UInt64 = 0
            while p < b.count, shift < 64 {
                let byte = b[p]
                p += 1
                x |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return x }
                shift += 7
            }
            return nil
        }
        guard let n = varint(), n <= UInt64(b.count) else { return nil }
        var block = ReadingBlock()
        block.times.reserveCapacity(Int(n))
        block.values.reserveCapacity(Int(n))
        var last = hour
        for _ in 0..<n {
            guard let d = varint(), d < 3_600_000_000, p + 8 <= b.count else { return nil }
            let t = last + Int64(d)
            guard t < hour + 3_600_000_000, block.times.isEmpty || t > last else { return nil }
            var x: UInt64 = 0
            for i in 0..<8 { x |= UInt64(b[p + i]) << (8 * UInt64(i)) }
            p += 8
            block.times.append(t)
            block.values.append(Double(bitPattern: x))
            last = t
        }
        return p == b.count ? block : nil
    }

    static func varint(_ v: UInt64, into b: inout [UInt8]) {
        var x = v
        while x >= 0x80 {
            b.append(UInt8(x & 0x7F) | 0x80)
            x >>= 7
        }
        b.append(UInt8(x))
    }
}
