/// What the decoder reads of a message: its receive time, and its topic and payload as bytes.
/// An ``InboundMessage`` is one; so is a line of a recording still in the buffer it was read
/// into (``MessageBatch``), which becomes an ``InboundMessage`` only when it must be kept (a
/// reject, a message held back).
public protocol TelemetryMessage {
    var receivedAt: Timestamp { get }
    /// Whether `receivedAt` is this daemon's own clock (``InboundMessage/ownClock``).
    var ownClock: Bool { get }
    /// Its sequence number in the journal (0 when not journaled).
    var sequence: UInt64 { get }
    var payloadCount: Int { get }
    func withTopic<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    func withPayload<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// The message as a value of its own.
    var message: InboundMessage { get }
}

extension InboundMessage: TelemetryMessage {
    public var payloadCount: Int { payload.count }

    public func withTopic<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var t = topic
        return try t.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    public func withPayload<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try payload.withUnsafeBytes(body)
    }

    public var message: InboundMessage { self }
}

/// Messages of a recording's text lines (`unix-time topic payload`), left where they were read:
/// the buffers, and for each line its receive time and where its topic and payload are. A replay
/// decodes them from there, with no topic string or payload array of their own.
public struct MessageBatch: Sendable {
    /// The bytes the lines are in.
    public private(set) var buffers: [[UInt8]] = []
    /// The lines, in order.
    public private(set) var lines: [Line] = []
    /// What ``LinePreparer`` read of each line (empty: not prepared). The routes are not counted
    /// references (a line's is read on another thread than the one that found it, and a count
    /// changed by both would bounce between their cores): the preparer keeps each one it gave.
    private var prepared: [(rule: Unmanaged<TelemetryDecoder.RouteRule>?, payload: PreparedPayload)] = []
    /// The prepared lines' flat payload values, one line's after another.
    private var slots: [FlatJSON.Slot] = []

    /// One line: its receive time, its buffer, and the byte ranges of its topic and payload.
    public struct Line: Sendable {
        public var receivedAt: Timestamp
        var buffer: Int
        var topic: Range<Int>
        var payload: Range<Int>
    }

    public init() {}

    public var count: Int { lines.count }
    public var isEmpty: Bool { lines.isEmpty }

    /// Adds a buffer that lines will be in; its number.
    public mutating func add(buffer: [UInt8]) -> Int {
        buffers.append(buffer)
        return buffers.count - 1
    }

    /// Adds a line of buffer `buffer`.
    public mutating func add(receivedAt: Timestamp, buffer: Int, topic: Range<Int>, payload: Range<Int>) {
        lines.append(Line(receivedAt: receivedAt, buffer: buffer, topic: topic, payload: payload))
    }

    /// Empties it, keeping the room.
    public mutating func removeAll() {
        buffers.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        prepared.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
    }

    /// Notes, for each line, what `read` makes of its topic and payload (``LinePreparer``).
    mutating func prepare(_ read: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, inout [FlatJSON.Slot])
        -> (Unmanaged<TelemetryDecoder.RouteRule>?, PreparedPayload)) {
        prepared.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        prepared.reserveCapacity(lines.count)
        // (Room for a few keys a line at once: the slots grow by each line's, not by doubling.)
        slots.reserveCapacity(lines.count * 8)
        runs { bytes, run in
            for l in lines[run] {
                let p = read(UnsafeRawBufferPointer(rebasing: bytes[l.topic]), UnsafeRawBufferPointer(rebasing: bytes[l.payload]), &slots)
                prepared.append((p.0, p.1))
            }
        }
    }

    /// The lines in runs of one buffer each, with its bytes (a buffer is opened once a run, not
    /// once a line).
    private func runs(_ body: (UnsafeRawBufferPointer, Range<Int>) throws -> Void) rethrows {
        var start = 0
        while start < lines.count {
            let b = lines[start].buffer
            var end = start + 1
            while end < lines.count && lines[end].buffer == b { end += 1 }
            try buffers[b].withUnsafeBytes { try body($0, start..<end) }
            start = end
        }
    }

    /// Line `i` as a message of its own.
    public func message(_ i: Int) -> InboundMessage {
        withLine(lines[i]) { $0.message }
    }

    /// Every line, in order, as a message read in place (valid only within `body`).
    public func forEach(_ body: (RawMessage) throws -> Void) rethrows {
        let isPrepared = prepared.count == lines.count
        try slots.withUnsafeBufferPointer { all in
            try runs { bytes, run in
                for i in run {
                    let l = lines[i]
                    var m = RawMessage(topic: UnsafeRawBufferPointer(rebasing: bytes[l.topic]),
                                       payload: UnsafeRawBufferPointer(rebasing: bytes[l.payload]), receivedAt: l.receivedAt)
                    if isPrepared, let rule = prepared[i].rule {
                        let p = prepared[i].payload
                        var found: UnsafeBufferPointer<FlatJSON.Slot>?
                        if case .scanned(let start) = p { found = UnsafeBufferPointer(rebasing: all[start...]) }
                        m.prepared = RawMessage.Prepared(rule: rule, payload: p, slots: found)
                    }
                    try body(m)
                }
            }
        }
    }

    private func withLine<R>(_ l: Line, _ body: (RawMessage) throws -> R) rethrows -> R {
        try buffers[l.buffer].withUnsafeBytes { bytes in
            try body(RawMessage(topic: UnsafeRawBufferPointer(rebasing: bytes[l.topic]),
                                payload: UnsafeRawBufferPointer(rebasing: bytes[l.payload]), receivedAt: l.receivedAt))
        }
    }
}

/// A recording's line read in place (``MessageBatch/forEach(_:)``).
public struct RawMessage: TelemetryMessage {
    let topic: UnsafeRawBufferPointer
    let payload: UnsafeRawBufferPointer
    public let receivedAt: Timestamp
    /// What ``LinePreparer`` read of it: its topic's route, and its payload's flat values (the
    /// slots from its rule's first key on, valid as long as the message).
    struct Prepared {
        let rule: Unmanaged<TelemetryDecoder.RouteRule>
        let payload: PreparedPayload
        let slots: UnsafeBufferPointer<FlatJSON.Slot>?
    }
    var prepared: Prepared?
    public var ownClock: Bool { false }
    public var sequence: UInt64 { 0 }
    public var payloadCount: Int { payload.count }
    public func withTopic<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(topic) }
    public func withPayload<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(payload) }
    public var message: InboundMessage {
        InboundMessage(topic: String(decoding: topic, as: UTF8.self), payload: Array(payload), receivedAt: receivedAt)
    }
}
