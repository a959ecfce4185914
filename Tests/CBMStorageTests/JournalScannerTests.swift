import CBMCore
@testable import CBMStorage
import CBMTestSupport
import Foundation
import Testing

@Suite("Journal: damage is read past, never cut away")
struct JournalScannerTests {
    /// A segment of `n` records, and where each record starts.
    static func segment(_ n: Int) -> (bytes: [UInt8], offsets: [Int]) {
        var bytes = Journal.magic + le(1)
        var offsets: [Int] = []
        for i in 1...n {
            offsets.append(bytes.count)
            let m = InboundMessage(topic: "cbm/F1/B1/W\(i % 7)/telemetry", payload: Array(#"{"ts":\#(1_795_824_000 + i),"gas_m3h":\#(i)}"#.utf8),
                                   receivedAt: Timestamp(seconds: 1_795_824_000 + Int64(i)))
            bytes += Journal.frame(sequence: UInt64(i), m)
        }
        return (bytes, offsets)
    }

    /// What a scanner finds in `bytes`, fed `chunk` bytes at a time (0: all at once).
    static func scan(_ bytes: [UInt8], chunk: Int = 0) -> (sequences: [UInt64], damage: [Journal.Damage]) {
        var s = JournalScanner(name: "seg")
        var sequences: [UInt64] = [], damage: [Journal.Damage] = []
        func drain(_ atEnd: Bool) {
            while let item = s.next(atEnd: atEnd) {
                switch item {
                case .record(let r): sequences.append(r.sequence)
                case .damage(let d): damage.append(d)
                }
            }
        }
        if chunk == 0 {
            s.feed(bytes)
        } else {
            var i = 0
            while i < bytes.count {
                s.feed(Array(bytes[i..<min(i + chunk, bytes.count)]))
                drain(false)
                i += chunk
            }
        }
        drain(true)
        return (sequences, damage)
    }

    @Test("a clean segment, whole or in pieces")
    func clean() {
        let (bytes, _) = Self.segment(50)
        #expect(Self.scan(bytes).sequences == Array(1...50))
        #expect(Self.scan(bytes, chunk: 7).sequences == Array(1...50))
        #expect(Self.scan(bytes).damage.isEmpty)
    }

    @Test("a damaged length field: the record is recovered, everything after it read", arguments: [0, 1, 2, 3])
    func length(byte: Int) {
        var (bytes, offsets) = Self.segment(50)
        bytes[offsets[20] + byte] ^= 0x40
        for chunk in [0, 13, 4096] {
            let r = Self.scan(bytes, chunk: chunk)
            #expect(r.sequences == Array(1...50), "chunk \(chunk)")
            #expect(r.damage == [.lengthRepaired(segment: "seg", offset: Int64(offsets[20]), sequence: 21)])
        }
    }

    @Test("a damaged body or checksum: that record is skipped, the rest read; a damaged header, all records read")
    func body() {
        var (bytes, offsets) = Self.segment(50)
        bytes[offsets[30] + 40] ^= 0x01
        bytes[offsets[10] + 5] ^= 0x80  // the checksum
        for chunk in [0, 11] {
            let r = Self.scan(bytes, chunk: chunk)
            #expect(r.sequences == Array(1...10) + Array(12...30) + Array(32...50))
            #expect(r.damage == [
                .skipped(segment: "seg", offset: Int64(offsets[10]), bytes: Int64(offsets[11] - offsets[10]), sequence: 11),
                .skipped(segment: "seg", offset: Int64(offsets[30]), bytes: Int64(offsets[31] - offsets[30]), sequence: 31),
            ])
        }
        var header = Self.segment(5).bytes
        header[2] ^= 0xff
        #expect(Self.scan(header).sequences == Array(1...5))
        #expect(Self.scan(header).damage == [.skipped(segment: "seg", offset: 0, bytes: 16, sequence: nil)])
    }

    @Test("a torn tail (nothing valid after it) is the only thing cut, and a file's damage is kept in quarantine")
    func tornTail() throws {
        let (bytes, offsets) = Self.segment(20)
        let torn = Array(bytes[..<(offsets[19] + 12)])
        let r = Self.scan(torn)
        #expect(r.sequences == Array(1...19))
        #expect(r.damage == [.tornTail(segment: "seg", offset: Int64(offsets[19]), bytes: 12)])
        // On disk: a damaged record in the middle stays in the file; the tail is cut; both are kept aside.
        let dir = TemporaryDirectory("journal")
        var damaged = torn
        damaged[offsets[5] + 30] ^= 0x02
        let path = dir.write("journal-00000000000000000001.cbmj", "")
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        var read: [UInt64] = []
        try Journal.readSegment(path, repair: true, damage: { _ in }) { read.append($0.sequence) }
        #expect(read == [1, 2, 3, 4, 5] + Array(7...19))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == offsets[19])
        let kept = try FileManager.default.contentsOfDirectory(atPath: dir.file("quarantine")).sorted()
        #expect(kept == ["journal-00000000000000000001.cbmj.\(offsets[19]).bin", "journal-00000000000000000001.cbmj.\(offsets[5]).bin"].sorted())
        #expect(FileManager.default.contents(atPath: dir.file("quarantine/\(kept[0])")) != nil)
    }

    @Test("a segment on disk is read a piece at a time: damage across the pieces is read past and kept in quarantine whole")
    func segmentOnDiskInPieces() throws {
        // Records, 3 MiB of garbage (more than the scanner keeps of a damaged stretch, across the
        // reader's 1 MiB pieces), records again, a torn tail.
        let (head, _) = Self.segment(4000)
        var garbage = [UInt8](repeating: 0, count: 3 << 20)
        var x: UInt32 = 2_463_534_242
        for i in garbage.indices {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            garbage[i] = UInt8(truncatingIfNeeded: x)
        }
        var tail: [UInt8] = []
        for i in 4001...6000 {
            tail += Journal.frame(sequence: UInt64(i), InboundMessage(topic: "cbm/F1/B1/W1/telemetry", payload: Array("{\"n\":\(i)}".utf8),
                                                                     receivedAt: Timestamp(seconds: 1_795_824_000 + Int64(i))))
        }
        let torn = Array(Journal.frame(sequence: 6001, InboundMessage(topic: "t", payload: [1, 2, 3], receivedAt: Timestamp(seconds: 1))).prefix(15))
        let bytes = head + garbage + tail + torn
        let dir = TemporaryDirectory("journal")
        let path = dir.write("journal-00000000000000000001.cbmj", "")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var read: [UInt64] = []
        var damage: [Journal.Damage] = []
        let highest = try Journal.readSegment(path, repair: true, damage: { damage.append($0) }) { read.append($0.sequence) }
        #expect(read == Array(1...6000))
        #expect(highest == 6000)
        #expect(damage.count == 2)
        if case .skipped(_, let offset, let count, _)? = damage.first {
            #expect(offset == Int64(head.count) && count == Int64(garbage.count))
        } else {
            Issue.record("expected the garbage skipped first, got \(damage)")
        }
        #expect(damage.last == .tornTail(segment: path, offset: Int64(bytes.count - torn.count), bytes: Int64(torn.count)))
        let kept = dir.file("quarantine/journal-00000000000000000001.cbmj.\(head.count).bin")
        #expect(FileManager.default.contents(atPath: kept).map([UInt8].init) == garbage)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == bytes.count - torn.count)
    }

    @Test("a stretch of garbage megabytes long is read past in bounded memory")
    func longGarbage() {
        let (a, _) = Self.segment(5)
        var bytes = a
        bytes += [UInt8](repeating: 0, count: 6 << 20)
        // The records after it continue the sequence.
        var tail: [UInt8] = []
        for i in 6...8 {
            tail += Journal.frame(sequence: UInt64(i), InboundMessage(topic: "t", payload: [1, 2, 3], receivedAt: Timestamp(seconds: 1)))
        }
        bytes += tail
        var s = JournalScanner(name: "seg")
        var sequences: [UInt64] = []
        var largest = 0
        var i = 0
        while true {
            let atEnd = i >= bytes.count
            if !atEnd { s.feed(Array(bytes[i..<min(i + (1 << 16), bytes.count)])) }
            largest = max(largest, s.bufferedBytes)
            while let item = s.next(atEnd: atEnd) { if case .record(let r) = item { sequences.append(r.sequence) } }
            if atEnd { break }
            i += 1 << 16
        }
        #expect(sequences == Array(1...8))
        #expect(largest < 3 << 20)
    }
}
