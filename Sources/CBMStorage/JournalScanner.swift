import CBMCore

/// Reads the records of one journal segment out of bytes that may arrive in pieces (a file read
/// whole, or a gzip stream), and finds its way past damage.
///
/// Every record is trusted only when its CRC-32 matches. After a record that is not right (a
/// damaged length, body or checksum), the scanner resynchronises on the next position where a
/// valid record starts and is followed by another valid record or by the end of the data (two
/// checksums: a false start is out of reach). What lies between is reported as damage, to be
/// kept aside, never cut away; a record whose only fault was its length is recovered. Only
/// bytes after which nothing valid follows are a torn tail.
public struct JournalScanner {
    /// The largest record body believed: the header, the longest topic and MQTT's largest payload.
    public static let maxBody = 20 + 65_535 + 268_435_455

    /// What the scanner found.
    public enum Item: Sendable, Equatable {
        case record(Journal.Record)
        case damage(Journal.Damage)
    }

    private let name: String
    private var buffer: [UInt8] = []
    /// The file offset of `buffer[0]`.
    private var base: Int64 = 0
    private var p = 0
    private var headerChecked = false
    /// The sequence of the last good record (resynchronisation wants a later one).
    private var lastSequence: UInt64 = 0
    /// A damaged stretch whose end is not found yet (more bytes are needed): where it began (a
    /// file offset), the checksum its first record claimed, and where the search goes on (an
    /// index into the buffer). Only the bytes from there on are kept, plus the stretch's first
    /// mebibyte (to recover a record whose length was damaged, and to keep the damage aside).
    private struct Pending {
        var start: Int64
        var crc: UInt32?
        var resume: Int
    }
    private var pending: Pending?
    /// Items found but not yet handed out.
    private var queued: [Item] = []
    /// The segment's first sequence, from its header (0 when unknown).
    public private(set) var firstSequence: UInt64 = 0

    public init(name: String) { self.name = name }

    /// Adds the next bytes of the segment.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        var keep = p
        if let d = pending {
            let start = Int(d.start - base)
            keep = start >= 0 && d.resume - start <= 1 << 20 ? start : d.resume
        }
        if keep > 1 << 20 && keep > buffer.count / 2 {
            buffer.removeFirst(keep)
            base += Int64(keep)
            p = max(p - keep, 0)
            pending?.resume -= keep
        }
        buffer += bytes
    }

    /// The next record or damage; nil when more bytes are needed (or, `atEnd`, when done).
    public mutating func next(atEnd: Bool) -> Item? {
        if !queued.isEmpty { return queued.removeFirst() }
        if !headerChecked {
            guard buffer.count >= 16 || atEnd else { return nil }
            headerChecked = true
            guard buffer.count >= 16 else {
                p = buffer.count
                return buffer.isEmpty ? nil : .damage(.tornTail(segment: name, offset: 0, bytes: Int64(buffer.count)))
            }
            p = 16
            if Array(buffer[0..<8]) == Journal.magic {
                firstSequence = readLE64(buffer, 8)
            } else {
                // A damaged header: what follows may still be whole.
                pending = Pending(start: 0, crc: nil, resume: 1)
            }
        }
        if let d = pending { return resync(from: d, atEnd: atEnd) }
        guard p < buffer.count else { return nil }
        switch check(at: p, atEnd: atEnd) {
        case .needMore:
            return nil
        case .valid(let length):
            return take(at: p, length: length)
        case .invalid:
            guard p + 8 <= buffer.count || atEnd else { return nil }
            return resync(from: Pending(start: base + Int64(p), crc: p + 8 <= buffer.count ? readLE32(buffer, p + 4) : nil, resume: p + 1),
                          atEnd: atEnd)
        }
    }

    private enum Check {
        case valid(length: Int)
        case invalid
        case needMore
    }

    /// Whether a record starts at `q`: a length within bounds, a matching checksum and, when
    /// `after` is given, a sequence a little later than it.
    private func check(at q: Int, after: UInt64? = nil, atEnd: Bool) -> Check {
        guard q + 8 + 20 <= buffer.count else { return atEnd ? .invalid : .needMore }
        if let after {
            let sequence = readLE64(buffer, q + 8)
            guard sequence > after, sequence - after <= 1 << 32 else { return .invalid }
        }
        let length = Int(readLE32(buffer, q))
        guard length >= 20, length <= Self.maxBody else { return .invalid }
        let topicLength = Int(buffer[q + 8 + 18]) | Int(buffer[q + 8 + 19]) << 8
        guard 20 + topicLength <= length else { return .invalid }
        guard q + 8 + length <= buffer.count else { return atEnd ? .invalid : .needMore }
        guard Journal.checksum(buffer[(q + 8)..<(q + 8 + length)]) == readLE32(buffer, q + 4) else { return .invalid }
        return .valid(length: length)
    }

    private mutating func take(at q: Int, length: Int) -> Item {
        let b = q + 8
        let sequence = readLE64(buffer, b)
        let time = Int64(bitPattern: readLE64(buffer, b + 8))
        let qos = buffer[b + 16]
        let retained = buffer[b + 17] != 0
        let topicLength = Int(buffer[b + 18]) | Int(buffer[b + 19]) << 8
        let topic = String(decoding: buffer[(b + 20)..<(b + 20 + topicLength)], as: UTF8.self)
        let payload = Array(buffer[(b + 20 + topicLength)..<(b + length)])
        p = b + length
        lastSequence = max(lastSequence, sequence)
        return .record(Journal.Record(sequence: sequence, message: InboundMessage(
            topic: topic, payload: payload, receivedAt: Timestamp(microseconds: time), qos: qos, retained: retained,
            sequence: sequence, ownClock: true)))
    }

    /// Finds the next good record after a bad one; nil when more bytes are needed.
    private mutating func resync(from d: Pending, atEnd: Bool) -> Item? {
        var q = d.resume
        func wait() -> Item? {
            pending = Pending(start: d.start, crc: d.crc, resume: q)
            return nil
        }
        while q < buffer.count {
            q = candidate(from: q)
            switch check(at: q, after: lastSequence, atEnd: atEnd) {
            case .needMore:
                return wait()
            case .invalid:
                q += 1
            case .valid(let length):
                // A second record (or the end) must follow, so a chance match is not believed.
                let next = q + 8 + length
                if next < buffer.count {
                    switch check(at: next, after: readLE64(buffer, q + 8), atEnd: atEnd) {
                    case .needMore: return wait()
                    case .invalid:
                        q += 1
                        continue
                    case .valid: break
                    }
                } else if !atEnd {
                    return wait()
                }
                pending = nil
                return damaged(d, until: q)
            }
        }
        guard atEnd else { return wait() }
        pending = nil
        p = buffer.count
        return .damage(.tornTail(segment: name, offset: d.start, bytes: base + Int64(buffer.count) - d.start))
    }

    /// The first position from `q` where a record claiming a plausible sequence could start (or
    /// where too few bytes are left to tell): a quick pass over damaged bytes.
    private func candidate(from q: Int) -> Int {
        let low = lastSequence, high = lastSequence &+ (1 << 32)
        return buffer.withUnsafeBytes { raw in
            var i = q
            while i + 28 <= raw.count {
                let sequence = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
                if sequence > low && sequence <= high { return i }
                i += 1
            }
            return i
        }
    }

    /// The stretch from `d.start` to `end` is damaged. If the bad record's only fault was its
    /// length (its checksum matches the stretch), it is recovered; either way the scanner goes on
    /// at `end`.
    private mutating func damaged(_ d: Pending, until end: Int) -> Item {
        let start = Int(d.start - base)
        let length = end - start - 8
        // (Its topic must also fit in it: the checksum vouches for the bytes, not for the length
        // field that was wrong.)
        if start >= 0, let crc = d.crc, length >= 20, length <= Self.maxBody,
           20 + (Int(buffer[start + 8 + 18]) | Int(buffer[start + 8 + 19]) << 8) <= length,
           Journal.checksum(buffer[(start + 8)..<end]) == crc {
            let record = take(at: start, length: length)
            if case .record(let r) = record {
                queued.append(record)
                return .damage(.lengthRepaired(segment: name, offset: d.start, sequence: r.sequence))
            }
        }
        let claimed = start >= 0 && d.start >= 16 && end - start >= 16 ? readLE64(buffer, start + 8) : 0
        p = end
        return .damage(.skipped(segment: name, offset: d.start, bytes: base + Int64(end) - d.start,
                                sequence: claimed > lastSequence && claimed - lastSequence < 1 << 32 ? claimed : nil))
    }

    /// How many bytes it holds now.
    public var bufferedBytes: Int { buffer.count }

    /// The bytes of a stretch the scanner reported (to keep them aside), while still buffered.
    public func bytes(offset: Int64, count: Int64) -> [UInt8]? {
        let a = Int(offset - base), b = a + Int(count)
        guard a >= 0, b <= buffer.count else { return nil }
        return Array(buffer[a..<b])
    }
}
