/// A compact little-endian binary encoding for checkpoints: the state of the decoder and the
/// aggregators, which can hold millions of readings, written and read back fast.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func int(_ v: Int64) {
        var x = UInt64(bitPattern: v)
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: x))
            x >>= 8
        }
    }
    public mutating func int(_ v: Int) { int(Int64(v)) }
    public mutating func double(_ v: Double) { int(Int64(bitPattern: v.bitPattern)) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func string(_ s: String) {
        int(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }
    public mutating func optionalDouble(_ v: Double?) {
        bool(v != nil)
        if let v { double(v) }
    }
    public mutating func raw(_ b: [UInt8]) {
        int(b.count)
        bytes.append(contentsOf: b)
    }
    public mutating func ints(_ a: [Int64]) {
        int(a.count)
        bytes.reserveCapacity(bytes.count + a.count * 8)
        for v in a { int(v) }
    }
    public mutating func doubles(_ a: [Double]) {
        int(a.count)
        bytes.reserveCapacity(bytes.count + a.count * 8)
        for v in a { double(v) }
    }
}

/// Reads what ``BinaryWriter`` wrote; throws on truncated or malformed input.
public struct BinaryReader {
    public struct Malformed: Error, CustomStringConvertible {
        public var description: String { "checkpoint data is truncated or malformed" }
    }

    private let bytes: [UInt8]
    private var p = 0
    /// The format version of what is read (a checkpoint's), for states whose layout grew.
    public let version: Int

    public init(_ bytes: [UInt8], version: Int = BinaryReader.currentVersion) {
        self.bytes = bytes
        self.version = version
    }

    /// The version ``BinaryWriter`` writes today. 2 added counter rules to series, the decoder's
    /// last totalizer readings and receive time, and silence state to alarms; 3 the time before
    /// which windows are not written (after a recovery that could not reach the full history); 4 the
    /// history archive's floor and the old readings not yet merged into it; 5 the decoder's
    /// Sparkplug B sessions (births, aliases, seq).
    public static let currentVersion = 5

    /// A reader of a part of this one's input (a nested state), at the same version.
    public mutating func part() throws(Malformed) -> BinaryReader { BinaryReader(try raw(), version: version) }

    public var isAtEnd: Bool { p == bytes.count }

    public mutating func int() throws(Malformed) -> Int64 {
        guard p + 8 <= bytes.count else { throw Malformed() }
        var x: UInt64 = 0
        for i in (0..<8).reversed() { x = x << 8 | UInt64(bytes[p + i]) }
        p += 8
        return Int64(bitPattern: x)
    }
    public mutating func count() throws(Malformed) -> Int {
        let n = try int()
        guard n >= 0, n < (1 << 40) else { throw Malformed() }
        return Int(n)
    }
    public mutating func double() throws(Malformed) -> Double { Double(bitPattern: UInt64(bitPattern: try int())) }
    public mutating func bool() throws(Malformed) -> Bool {
        guard p < bytes.count else { throw Malformed() }
        p += 1
        return bytes[p - 1] != 0
    }
    public mutating func string() throws(Malformed) -> String {
        let n = try count()
        guard p + n <= bytes.count else { throw Malformed() }
        defer { p += n }
        return String(decoding: bytes[p..<(p + n)], as: UTF8.self)
    }
    public mutating func optionalDouble() throws(Malformed) -> Double? { try bool() ? try double() : nil }
    public mutating func raw() throws(Malformed) -> [UInt8] {
        let n = try count()
        guard p + n <= bytes.count else { throw Malformed() }
        defer { p += n }
        return Array(bytes[p..<(p + n)])
    }
    public mutating func ints() throws(Malformed) -> [Int64] {
        let n = try count()
        guard p + n * 8 <= bytes.count else { throw Malformed() }
        var out: [Int64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try int()) }
        return out
    }
    public mutating func doubles() throws(Malformed) -> [Double] {
        let n = try count()
        guard p + n * 8 <= bytes.count else { throw Malformed() }
        var out: [Double] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try double()) }
        return out
    }

    // A state read back is trusted no further than it is checked: a checkpoint passes its
    // checksum whether or not what it holds is sane. Instants, durations and counts are held to
    // ranges that the arithmetic on them (window ends, sums of hours) cannot overflow from.

    /// The instants a state may hold: the years 1 to 9999.
    public static let instants: ClosedRange<Int64> = -62_135_596_800_000_000 ... 253_402_300_799_999_999

    /// An instant; with `never`, also `Int64.min`, the "not yet" of a fresh state.
    public mutating func time(never: Bool = false) throws(Malformed) -> Int64 {
        let t = try int()
        guard Self.instants.contains(t) || (never && t == .min) else { throw Malformed() }
        return t
    }

    /// Instants; with `ascending`, each after the one before it.
    public mutating func times(ascending: Bool) throws(Malformed) -> [Int64] {
        let t = try ints()
        for i in t.indices {
            guard Self.instants.contains(t[i]), !ascending || i == 0 || t[i - 1] < t[i] else { throw Malformed() }
        }
        return t
    }

    /// An instant kept as a double (an optional one), whole microseconds within ``instants``.
    public mutating func optionalTime() throws(Malformed) -> Int64? {
        guard let d = try optionalDouble() else { return nil }
        guard d.isFinite, d >= Double(Self.instants.lowerBound), d <= Double(Self.instants.upperBound) else { throw Malformed() }
        return Int64(d)
    }

    /// A duration in microseconds or a count: not negative, below 2^53.
    public mutating func amount() throws(Malformed) -> Int64 {
        let n = try int()
        guard n >= 0, n < 1 << 53 else { throw Malformed() }
        return n
    }
}
