import CBMCore
import CBMStorage
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
    }

    /// A line or record that could not be read, with where and why.
    public struct Problem: Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    /// Reads a recording file: its format and its messages, in file order.
    public static func read(_ path: String, problem: (Problem) -> Void) throws -> (Format, [InboundMessage]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(operation: "read", path: path, errno: ENOENT)
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0x1f, 0x8b]) { bytes = try Gzip.decompress(path) }
        if bytes.starts(with: Array("CBMJ0001".utf8)) {
            var messages: [InboundMessage] = []
            try Journal.read(bytes: bytes, name: path, damage: { d in
                switch d {
                case .badChecksum(_, let offset, _): problem(Problem(file: path, line: 0, message: "damaged record at byte \(offset) skipped"))
                case .tornTail(_, let offset, let n): problem(Problem(file: path, line: 0, message: "incomplete record of \(n) bytes at byte \(offset) ignored"))
                }
            }) { messages.append($0.message) }
            return (.journal, messages)
        }
        let firstByte = bytes.first { $0 != 10 && $0 != 13 && $0 != 32 }
        let format: Format = firstByte == UInt8(ascii: "{") ? .mosquittoJSON : .mosquittoText
        var messages: [InboundMessage] = []
        messages.reserveCapacity(bytes.count / 100)
        var start = 0
        var line = 0
        while start < bytes.count {
            line += 1
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            var stop = end
            if stop > start && bytes[stop - 1] == 13 && format == .mosquittoJSON { stop -= 1 }
            if stop > start {
                let slice = bytes[start..<stop]
                let parsed = format == .mosquittoJSON ? parseJSONLine(slice) : parseTextLine(slice)
                switch parsed {
                case .success(let m): messages.append(m)
                case .failure(let why): problem(Problem(file: path, line: line, message: why.message))
                }
            }
            start = end + 1
        }
        return (format, messages)
    }

    /// Reads a recording in batches of at most `batch` messages, in bounded memory: line formats
    /// are streamed (decompressed on the way); a journal segment (at most its segment size) is
    /// read whole.
    public static func stream(_ path: String, batch: Int = 4096, problem: (Problem) -> Void,
                              _ body: (Format, [InboundMessage]) throws -> Void) throws {
        let reader = try ChunkReader(path: path)
        guard var chunk = try reader.next() else { return }
        if chunk.starts(with: Array("CBMJ0001".utf8)) {
            let (format, messages) = try read(path, problem: problem)
            var i = 0
            while i < messages.count {
                try body(format, Array(messages[i..<min(i + batch, messages.count)]))
                i += batch
            }
            return
        }
        let format: Format = chunk.first { $0 != 10 && $0 != 13 && $0 != 32 } == UInt8(ascii: "{") ? .mosquittoJSON : .mosquittoText
        var line = 0
        var pending: [UInt8] = []
        var messages: [InboundMessage] = []
        messages.reserveCapacity(batch)
        func parse(_ bytes: ArraySlice<UInt8>) {
            line += 1
            var slice = bytes
            if format == .mosquittoJSON, slice.last == 13 { slice = slice.dropLast() }
            guard !slice.isEmpty else { return }
            switch format == .mosquittoJSON ? parseJSONLine(slice) : parseTextLine(slice) {
            case .success(let m): messages.append(m)
            case .failure(let why): problem(Problem(file: path, line: line, message: why.message))
            }
        }
        while true {
            var start = 0
            if !pending.isEmpty {
                // The end of a line cut by the previous chunk.
                if let nl = chunk.firstIndex(of: 10) {
                    parse((pending + chunk[..<nl])[...])
                    pending.removeAll()
                    start = nl + 1
                } else {
                    pending += chunk
                    start = chunk.count
                }
            }
            while start < chunk.count {
                guard let nl = chunk[start...].firstIndex(of: 10) else {
                    pending += chunk[start...]
                    break
                }
                parse(chunk[start..<nl])
                start = nl + 1
                if messages.count >= batch {
                    try body(format, messages)
                    messages.removeAll(keepingCapacity: true)
                }
            }
            guard let next = try reader.next() else { break }
            chunk = next
        }
        if !pending.isEmpty { parse(pending[...]) }
        if !messages.isEmpty { try body(format, messages) }
    }

    struct LineError: Error { var message: String }

    /// `{"tst":"…","topic":"…","qos":1,"retain":0,"payloadlen":17,"payload":"…"}`
    static func parseJSONLine(_ line: ArraySlice<UInt8>) -> Result<InboundMessage, LineError> {
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
    static func parseTextLine(_ line: ArraySlice<UInt8>) -> Result<InboundMessage, LineError> {
        guard let space = line.firstIndex(of: 32) else { return .failure(LineError(message: "expected: unix-time topic payload")) }
        var seconds: Int64 = 0
        var micros: Int64 = 0
        var digits = 0
        var fraction = false
        for c in line[line.startIndex..<space] {
            if c == UInt8(ascii: ".") && !fraction { fraction = true; continue }
            guard c >= 48, c <= 57 else { return .failure(LineError(message: "unreadable time")) }
            if fraction {
                if digits < 6 { micros = micros * 10 + Int64(c - 48); digits += 1 }
            } else {
                seconds = seconds * 10 + Int64(c - 48)
            }
        }
        while digits < 6 { micros *= 10; digits += 1 }
        let rest = line[(space + 1)...]
        let topicEnd = rest.firstIndex(of: 32) ?? rest.endIndex
        let topic = String(decoding: rest[rest.startIndex..<topicEnd], as: UTF8.self)
        guard !topic.isEmpty else { return .failure(LineError(message: "no topic")) }
        let payload = topicEnd < rest.endIndex ? Array(rest[(topicEnd + 1)...]) : []
        return .success(InboundMessage(topic: topic, payload: payload, receivedAt: Timestamp(microseconds: seconds * 1_000_000 + micros)))
    }
}
