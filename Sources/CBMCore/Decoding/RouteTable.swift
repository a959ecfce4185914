import Foundation

/// Where each topic seen goes, keyed by the topic's bytes: a message's topic is looked up where
/// it lies (a recording's buffer), hashed once (``hash(_:)``), with no string made for it.
struct RouteTable<Value: Sendable>: Sendable {
    /// Open addressing: an entry's number + 1 per slot, 0 when empty; a power of two, at most
    /// half full.
    private var slots: [Int32] = []
    /// The topics' bytes, one after another, and where each ends.
    private var keys: [UInt8] = []
    private var ends: [Int] = []
    private(set) var values: [Value] = []

    var count: Int { values.count }

    /// The hash of a topic's bytes the table is keyed by: eight bytes at a time, each word mixed
    /// in by a multiplication, then the whole avalanched (topics of one field differ in a byte
    /// or two). Of this process only: never stored.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h = 0x9e37_79b9_7f4a_7c15 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
            h ^= h >> 32
            i += 8
        }
        if i < n {
            var last: UInt64 = 0
            for j in i..<n { last = last << 8 | UInt64(bytes[j]) }
            h = (h ^ last) &* 0xff51_afd7_ed55_8ccd
        }
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        return h ^ (h >> 33)
    }
    var isEmpty: Bool { values.isEmpty }

    /// The number of the entry for `topic`, or nil.
    func find(_ topic: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = Int(slots[i]) - 1
            if e < 0 { return nil }
            if same(e, topic) { return e }
            i = (i + 1) & mask
        }
    }

    private func same(_ e: Int, _ topic: UnsafeRawBufferPointer) -> Bool {
        let start = e == 0 ? 0 : ends[e - 1]
        guard ends[e] - start == topic.count else { return false }
        return keys.withUnsafeBytes { k in
            topic.count == 0 || memcmp(k.baseAddress! + start, topic.baseAddress!, topic.count) == 0
        }
    }

    /// Adds an entry for a topic not in the table; its number.
    mutating func insert(_ topic: UnsafeRawBufferPointer, hash: UInt64, _ value: Value) -> Int {
        if (values.count + 1) * 2 > slots.count { grow() }
        let e = values.count
        keys.append(contentsOf: topic)
        ends.append(keys.count)
        values.append(value)
        place(e, hash: hash)
        return e
    }

    private mutating func place(_ e: Int, hash: UInt64) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Int32(e + 1)
    }

    private mutating func grow() {
        let hashes = keys.withUnsafeBytes { k in
            values.indices.map { e in Self.hash(UnsafeRawBufferPointer(rebasing: k[(e == 0 ? 0 : ends[e - 1])..<ends[e]])) }
        }
        slots = [Int32](repeating: 0, count: max(64, slots.count * 2))
        for (e, h) in hashes.enumerated() { place(e, hash: h) }
    }

    mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }
}
