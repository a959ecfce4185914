import CBMCore
import Foundation

/// A recording of telemetry, in any of the formats `replay` reads (DESIGN §3.7): the daemon's own
/// journal segments; `mosquitto_sub -F '%j'` (a JSON object per line, with its odd
/// `tst` like `2026-11-29T07:16:51.854359Z+0000`); `mosquitto_sub -F '%U %t %p'` (unix time,
/// topic, payload per line); any of them gzip-compressed. The format is recognised from the
/// content.
public enum Recording {
    /// The recording formats.
    public enum Format: String, Sendable {
        case journal
        case mosquittoJSON = "mosquitto_sub -F %j"
        case mosquittoText = "mosquitto_sub -F '%U %t %p'"
        /// Binary payloads (Sparkplug B) as hexadecimal digits: told by the caller, since a
        /// payload of digits reads as either.
        case mosquittoHex = "mosquitto_sub -F '%U %t %x'"
    }

    /// A line or record that could not be read, with where and why.
    public struct Problem: Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    /// Reads a recording in batches of at most `batch` messages, in bounded memory: every format
    /// is streamed (and decompressed on the way); a line longer than `maxLine` bytes, or a journal
    /// record longer than the largest MQTT message, is reported and skipped, never held whole.
    /// A line or record that cannot be read is reported with its place (`problem`), and the
    /// reading goes on. With `lines`, the lines of a text recording go there instead, read where
    /// they lie (``MessageBatch``), in the same batches.
    /// With `hex`, a text recording's payloads are hexadecimal (`%x`).
    public static func stream(_ path: String, batch: Int = 4096, maxLine: Int = 64 << 20, hex: Bool = false, problem: (Problem) -> Void,
                              lines: ((MessageBatch) throws -> Void)? = nil,
                              _ body: (Format, [InboundMessage]) throws -> Void) throws {
        let reader = try ChunkReader(path: path)
        guard let first = try reader.next() else { return }
        if first.starts(with: Array("CBMJ0001".utf8)) || (first.count < 8 && Array("CBMJ0001".utf8).starts(with: first)) {
            return try streamJournal(reader, first: first, path: path, batch: batch, problem: problem, body)
        }
        var chunk = first
        let format: Format = chunk.first { $0 != 10 && $0 != 13 && $0 != 32 } == UInt8(ascii: "{") ? .mosquittoJSON
            : hex ? .mosquittoHex : .mosquittoText
        var line = 0
        var pending: [UInt8] = []
        var skipping = false  // inside a line too long to keep
        var messages: [InboundMessage] = []
        messages.reserveCapacity(batch)
        let inPlace = lines != nil && format == .mosquittoText
        var raw = MessageBatch()
        var chunkBuffer = -1  // the chunk's number in `raw`, once a line of it is there
        var count: Int { inPlace ? raw.count : messages.count }
        func flush() throws {
            if inPlace {
                guard !raw.isEmpty else { return }
                try lines!(raw)
                raw.removeAll()
                chunkBuffer = -1
            } else {
                guard !messages.isEmpty else { return }
                try body(format, messages)
                messages.removeAll(keepingCapacity: true)
            }
        }
        func parse(_ bytes: ArraySlice<UInt8>, carried: Bool = false) {
            line += 1
            if skipping {
                skipping = false
                return problem(Problem(file: path, line: line, message: "a line longer than \(maxLine) bytes: skipped"))
            }
            var slice = bytes
            if format == .mosquittoJSON, slice.last == 13 { slice = slice.dropLast() }
            guard !slice.isEmpty else { return }
            if inPlace {
                switch textLineFields(slice) {
                case .success(let (time, topic, payload)):
                    let b: Int
                    if carried {
                        b = raw.add(buffer: pending)
                    } else {
                        if chunkBuffer < 0 { chunkBuffer = raw.add(buffer: chunk) }
                        b = chunkBuffer
                    }
                    raw.add(receivedAt: time, buffer: b, topic: topic, payload: payload)
                case .failure(let why): problem(Problem(file: path, line: line, message: why.message))
                }
                return
            }
            switch format == .mosquittoJSON ? parseJSONLine(slice) : format == .mosquittoHex ? parseHexLine(slice) : parseTextLine(slice) {
            case .success(let m): messages.append(m)
            case .failure(let why): problem(Problem(file: path, line: line, message: why.message))
            }
        }
        func keep(_ bytes: ArraySlice<UInt8>) {
            guard !skipping else { return }
            if pending.count + bytes.count > maxLine {
                pending.removeAll()
                skipping = true
            } else {
                pending += bytes
            }
        }
        while true {
            var start = 0
            if !pending.isEmpty || skipping {
                // The end of a line cut by the previous chunk.
                if let nl = chunk.firstIndex(of: 10) {
                    keep(chunk[..<nl])
                    parse(pending[...], carried: true)
                    pending.removeAll()
                    start = nl + 1
                } else {
                    keep(chunk[...])
                    start = chunk.count
                }
            }
            while start < chunk.count {
                guard let nl = Self.newline(in: chunk, from: start) else {
                    keep(chunk[start...])
                    break
                }
                parse(chunk[start..<nl])
                start = nl + 1
                if count >= batch { try flush() }
            }
            guard let next = try reader.next(Self.textChunk) else { break }
            chunk = next
            chunkBuffer = -1
        }
        if !pending.isEmpty || skipping { parse(pending[...], carried: true) }
        try flush()
    }

    /// How much of a text recording is read at once after its first chunk: small enough to be
    /// still in the core's cache when its lines are split and read, just after the read copied
    /// it in (a megabyte was not, and the line search paid for fetching every line).
    static let textChunk = 256 << 10

    /// The index of the first line feed at or after `start` (memchr: a line is read once).
    @inline(__always)
    public static func newline(in chunk: [UInt8], from start: Int) -> Int? {
        chunk.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress, start < b.count,
                  let hit = memchr(base + start, 10, b.count - start) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// A journal segment, streamed through the scanner: damage is reported and read past.
    private static func streamJournal(_ reader: ChunkReader, first: [UInt8], path: String, batch: Int, problem: (Problem) -> Void,
                                      _ body: (Format, [InboundMessage]) throws -> Void) throws {
        var scanner = JournalScanner(name: path)
        scanner.feed(first)
        var messages: [InboundMessage] = []
        var atEnd = false
        while true {
            while let item = scanner.next(atEnd: atEnd) {
                switch item {
                case .record(let r):
                    messages.append(r.message)
                    if messages.count >= batch {
                        try body(.journal, messages)
                        messages.removeAll(keepingCapacity: true)
                    }
                case .damage(.skipped(_, let offset, let bytes, _)):
                    problem(Problem(file: path, line: 0, message: "\(bytes) damaged bytes at byte \(offset) skipped"))
                case .damage(.lengthRepaired(_, let offset, _)):
                    problem(Problem(file: path, line: 0, message: "a record with a damaged length at byte \(offset) recovered"))
                case .damage(.tornTail(_, let offset, let bytes)):
                    problem(Problem(file: path, line: 0, message: "an incomplete record of \(bytes) bytes at byte \(offset) ignored"))
                }
            }
            if atEnd { break }
            if let chunk = try reader.next() { scanner.feed(chunk) } else { atEnd = true }
        }
        if !messages.isEmpty { try body(.journal, messages) }
    }

    /// Why a line cannot be read.
    public struct LineError: Error { public var message: String }

    /// The largest unix time a line may give, in seconds (the microseconds must fit in 64 bits).
    static let maxSeconds: Int64 = Int64.max / 1_000_000 - 1

    /// `{"tst":"…","topic":"…","qos":1,"retain":0,"payloadlen":17,"payload":"…"}`
    public static func parseJSONLine(_ line: ArraySlice<UInt8>) -> Result<InboundMessage, LineError> {
        let value: JSONValue
        switch JSONParser.parse(Array(line)) {
        case .success(let v): value = v
        case .failure(let e): return .failure(LineError(message: "not JSON: \(e)"))
        }
        guard case .string(let tst)? = value["tst"] else { return .failure(LineError(message: "no \"tst\" time")) }
        guard case .success(let time) = RFC3339.parse(tst) else { return .failure(LineError(message: "unreadable \"tst\": \(tst)")) }
        guard case .string(let topic)? = value["topic"] else { return .failure(LineError(message: "no \"topic\"")) }
        let payload: [UInt8]
        switch value["payload"] {
        case .string(let s)?: payload = Array(s.utf8)
        case nil, .null?: payload = []
        default: return .failure(LineError(message: "a \"payload\" that is not text (record with -F %j, not %J)"))
        }
        var qos: UInt8 = 0
        if case .number(let q)? = value["qos"], q >= 0, q <= 2 { qos = UInt8(q) }
        var retained = false
        if case .number(let r)? = value["retain"] { retained = r != 0 }
        return .success(InboundMessage(topic: topic, payload: payload, receivedAt: time, qos: qos, retained: retained))
    }

    /// `1795947864.221855698 cbm/f/b/W01/gas_rate 12.5`
    public static func parseTextLine(_ line: ArraySlice<UInt8>) -> Result<InboundMessage, LineError> {
        textLineFields(line).map { time, topic, payload in
            InboundMessage(topic: String(decoding: line[topic], as: UTF8.self), payload: Array(line[payload]), receivedAt: time)
        }
    }

    /// `1795947864.221855698 spBv1.0/g/DDATA/n/d 0880c2...`: the payload in hexadecimal digits.
    public static func parseHexLine(_ line: ArraySlice<UInt8>) -> Result<InboundMessage, LineError> {
        textLineFields(line).flatMap { time, topic, payload in
            let digits = line[payload]
            guard digits.count % 2 == 0 else { return .failure(LineError(message: "a hex payload of an odd number of digits")) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(digits.count / 2)
            var high: UInt8?
            for c in digits {
                let v: UInt8
                switch c {
                case 48...57: v = c - 48
                case 65...70: v = c - 55
                case 97...102: v = c - 87
                default: return .failure(LineError(message: "a hex payload with \"\(Character(Unicode.Scalar(c)))\" in it"))
                }
                if let h = high {
                    bytes.append(h << 4 | v)
                    high = nil
                } else {
                    high = v
                }
            }
            return .success(InboundMessage(topic: String(decoding: line[topic], as: UTF8.self), payload: bytes, receivedAt: time))
        }
    }

    /// A text line's receive time and where its topic and payload are (indices of `line`).
    public static func textLineFields(_ line: ArraySlice<UInt8>) -> Result<(Timestamp, Range<Int>, Range<Int>), LineError> {
        // (Read through a pointer, the spaces found by memchr: this is done once a line of every
        // recording.)
        line.withUnsafeBufferPointer { b in
            let base = line.startIndex, n = b.count
            guard let start = b.baseAddress, let hit = memchr(start, 32, n) else {
                return .failure(LineError(message: "expected: unix-time topic payload"))
            }
            let space = start.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            var seconds: Int64 = 0
            var micros: Int64 = 0
            var digits = 0
            var i = 0
            // Whole seconds, then a fraction (its first six digits).
            while i < space {
                let d = start[i] &- 48
                if d >= 10 { break }
                // Seconds beyond what a timestamp holds are a damaged line, not a trap.
                guard seconds <= maxSeconds / 10 else { return .failure(LineError(message: "a time beyond any date")) }
                seconds = seconds * 10 + Int64(d)
                i += 1
            }
            if i < space {
                guard start[i] == UInt8(ascii: ".") else { return .failure(LineError(message: "unreadable time")) }
                i += 1
                while i < space {
                    let d = start[i] &- 48
                    guard d < 10 else { return .failure(LineError(message: "unreadable time")) }
                    if digits < 6 { micros = micros * 10 + Int64(d); digits += 1 }
                    i += 1
                }
            }
            guard seconds <= maxSeconds else { return .failure(LineError(message: "a time beyond any date")) }
            while digits < 6 { micros *= 10; digits += 1 }
            let topicStart = space + 1
            let topicEnd = topicStart < n ? memchr(start + topicStart, 32, n - topicStart).map { start.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? n : n
            guard topicEnd > topicStart else { return .failure(LineError(message: "no topic")) }
            let payload = topicEnd < n ? (base + topicEnd + 1)..<(base + n) : (base + n)..<(base + n)
            return .success((Timestamp(microseconds: seconds * 1_000_000 + micros), (base + topicStart)..<(base + topicEnd), payload))
        }
    }
}
