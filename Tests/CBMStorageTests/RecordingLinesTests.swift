import CBMCore
import CBMStorage
import CBMTestSupport
import Foundation
import Testing

@Suite("Recordings: lines read in place")
struct RecordingLinesTests {
    /// A text recording of more than two read chunks (lines cut across them), with lines that
    /// cannot be read, an empty line, a CR, a line with no payload, one with no topic, and a last
    /// line without a line feed.
    static func recording() -> String {
        var lines: [String] = []
        for i in 0..<40_000 {
            switch i % 997 {
            case 5: lines.append("not-a-time cbm/x {}")
            case 6: lines.append("")
            case 7: lines.append("1796239620.5 cbm/F0/B0/W\(i)/telemetry {\"ts\":1}\r")
            case 8: lines.append("1796239621 cbm/F0/B0/W\(i)/telemetry")
            case 9: lines.append("1796239622 ")
            case 10: lines.append("99999999999999999999 cbm/x 1")
            default:
                lines.append("\(1_796_239_620 + i).\(i % 1_000_000) cbm/F\(i % 4)/B\(i % 40)/W\(String(format: "%06d", i))/telemetry "
                             + #"{"ts":\#(1_796_239_620 + i),"gas_m3h":\#(i % 13).5, "note": "a b"}"#)
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test("the same messages, in the same batches, with the same problems, as messages of their own")
    func sameAsMessages() throws {
        let dir = TemporaryDirectory("lines")
        let text = Self.recording()
        #expect(text.utf8.count > (2 << 20) + 100)
        let path = dir.write("r.txt", text)
        func read(inPlace: Bool) throws -> (batches: [[InboundMessage]], problems: [String]) {
            var batches: [[InboundMessage]] = [], problems: [String] = []
            try Recording.stream(path, batch: 1000, problem: { problems.append("\($0)") },
                                 lines: inPlace ? { b in batches.append((0..<b.count).map { b.message($0) }) } : nil) { format, m in
                #expect(format == .mosquittoText)
                batches.append(m)
            }
            return (batches, problems)
        }
        let whole = try read(inPlace: false), inPlace = try read(inPlace: true)
        #expect(whole.batches.map(\.count) == inPlace.batches.map(\.count))
        #expect(whole.batches == inPlace.batches)
        #expect(whole.problems == inPlace.problems)
        #expect(whole.problems.count == 3 * 41 && whole.batches.joined().count > 39_000)
        // And as the decoder reads them in place: each line's bytes are its message's.
        var b = MessageBatch()
        let line = Array("1796239620 a/b {\"x\":1}".utf8)
        b.add(receivedAt: Timestamp(seconds: 1_796_239_620), buffer: b.add(buffer: line), topic: 11..<14, payload: 15..<line.count)
        var seen: [InboundMessage] = []
        b.forEach { seen.append($0.message) }
        #expect(seen == [InboundMessage(topic: "a/b", payload: Array(#"{"x":1}"#.utf8), receivedAt: Timestamp(seconds: 1_796_239_620))])
        #expect(b.message(0) == seen[0])
    }

    @Test("with hex, payloads are read from their digits (either case); odd or foreign digits are problems with the line")
    func hexPayloads() throws {
        let dir = TemporaryDirectory("hex")
        let path = dir.write("h.txt", """
            1796239620.5 spBv1.0/g/DDATA/n/d 0a0BfF00
            1796239621 spBv1.0/g/DDATA/n/d 0a0
            1796239622 spBv1.0/g/DDATA/n/d 0x12
            1796239623 spBv1.0/g/NDEATH/n
            """)
        var messages: [InboundMessage] = [], problems: [String] = []
        try Recording.stream(path, hex: true, problem: { problems.append("\($0)") }) { format, m in
            #expect(format == .mosquittoHex)
            messages += m
        }
        #expect(messages.map(\.payload) == [[0x0A, 0x0B, 0xFF, 0x00], []])
        #expect(messages.first?.receivedAt == Timestamp(microseconds: 1_796_239_620_500_000))
        #expect(problems == ["\(path):2: a hex payload of an odd number of digits", "\(path):3: a hex payload with \"x\" in it"])
    }
}
