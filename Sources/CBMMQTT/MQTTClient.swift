import CMosquitto
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An MQTT client over libmosquitto's threaded loop. This file is the only code in the project
/// that calls libmosquitto.
///
/// - Messages are handed to `onMessage` on the loop thread, inside libmosquitto's message
///   callback. For QoS 1 the PUBACK reaches the socket only after that callback returns, so a
///   handler that blocks (a full intake queue) holds the broker back, and one that stores the
///   message first never has it acknowledged before it is safe.
/// - The subscriptions are sent again on every connect: a broker that lost our session (a
///   restart without persistence) would otherwise leave us silent.
/// - A refusal of the credentials or of authorisation is reported as a fatal `.refused` event,
///   for both protocol versions: under 3.1.1 libmosquitto would retry forever, under 5 its loop
///   thread would exit silently. Transient MQTT 5 refusals (server busy or unavailable) restart
///   the loop after the reconnect backoff, since libmosquitto will not.
public final class MQTTClient: Sendable {
    /// The libmosquitto handle. `OpaquePointer` is not `Sendable`; this wrapper is, because
    /// libmosquitto in threaded mode makes its public calls safe from any thread (it locks
    /// internally), and the handle lives from `init` until `deinit`, after the loop is stopped.
    private struct Handle: @unchecked Sendable { let pointer: OpaquePointer }

    private struct State {
        var started = false
        var stopping = false
        var refusedFatally = false
        var restartAttempt = 0
        /// QoS 1 and 2 publishes the broker has not acknowledged yet.
        var unacknowledged = 0
    }

    public let options: MQTTOptions
    /// The subscriptions sent on every connect (and the filters unsubscribed then: ones a
    /// persistent session may still hold from an earlier configuration).
    private let topics: Mutex<(subscribe: [MQTTSubscription], unsubscribe: [String])>
    public var subscriptions: [MQTTSubscription] { topics.withLock { $0.subscribe } }
    private let handle: Handle
    private struct Handlers {
        var message: @Sendable (MQTTMessage) -> Void
        var event: @Sendable (MQTTEvent) -> Void
    }
    private let handlers: Mutex<Handlers>
    private func onMessage(_ m: MQTTMessage) { handlers.withLock { $0.message }(m) }
    private func onEvent(_ e: MQTTEvent) { handlers.withLock { $0.event }(e) }
    private let state = Mutex(State())
    private let restartQueue = DispatchQueue(label: "cbm-ingest.mqtt.restart")

    private static let libraryInit: Void = { mosquitto_lib_init(); return () }()

    /// Creates a client. Nothing is sent until ``start()``; the handlers may also be given then
    /// (``start(onMessage:onEvent:)``), when what handles messages is made after the client.
    public init(options: MQTTOptions, subscriptions: [MQTTSubscription], unsubscriptions: [String] = [],
                onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in },
                onEvent: @escaping @Sendable (MQTTEvent) -> Void = { _ in }) throws(MQTTError) {
        _ = Self.libraryInit
        self.options = options
        self.topics = Mutex((subscriptions, unsubscriptions))
        self.handlers = Mutex(Handlers(message: onMessage, event: onEvent))
        guard let m = mosquitto_new(options.clientID, !options.persistentSession, nil) else {
            throw MQTTError(code: Int(MOSQ_ERR_NOMEM.rawValue), operation: "mosquitto_new",
                            message: "could not create a client (client id \"\(options.clientID)\")")
        }
        handle = Handle(pointer: m)
        mosquitto_user_data_set(m, Unmanaged.passUnretained(self).toOpaque())
        try configure()
    }

    deinit {
        mosquitto_destroy(handle.pointer)
    }

    private func check(_ rc: Int32, _ operation: String) throws(MQTTError) {
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
        throw Self.error(rc, operation)
    }

    static func error(_ rc: Int32, _ operation: String) -> MQTTError {
        MQTTError(code: Int(rc), operation: operation, message: String(cString: mosquitto_strerror(rc)))
    }

    private func configure() throws(MQTTError) {
        let m = handle.pointer
        let version = options.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, version), "protocol version")
        try check(mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, Int32(options.receiveMaximum)), "receive maximum")
        try check(mosquitto_reconnect_delay_set(m, options.reconnectMinSeconds, options.reconnectMaxSeconds, true),
                  "reconnect delay")
        if let user = options.username {
            try check(mosquitto_username_pw_set(m, user, options.password), "username and password")
        }
        if let tls = options.tls {
            try check(mosquitto_tls_set(m, tls.caFile, nil, tls.certFile, tls.keyFile, nil), "TLS settings")
        }
        if let will = options.will {
            try check(will.payload.withUnsafeBytes { b in
                mosquitto_will_set(m, will.topic, Int32(b.count), b.baseAddress, Int32(will.qos), will.retain)
            }, "will")
        }
        mosquitto_connect_v5_callback_set(m) { m, userdata, rc, flags, _ in
            MQTTClient.from(userdata)?.didConnect(rc: rc, flags: flags)
        }
        mosquitto_disconnect_v5_callback_set(m) { _, userdata, rc, _ in
            MQTTClient.from(userdata)?.didDisconnect(rc: rc)
        }
        mosquitto_message_v5_callback_set(m) { _, userdata, message, _ in
            guard let client = MQTTClient.from(userdata), let message else { return }
            client.didReceive(message.pointee)
        }
        mosquitto_subscribe_v5_callback_set(m) { _, userdata, _, count, granted, _ in
            guard let client = MQTTClient.from(userdata) else { return }
            let qos = (0..<Int(count)).map { Int(granted?[$0] ?? 128) }
            client.onEvent(.subscriptionGranted(qos: qos))
        }
        mosquitto_publish_v5_callback_set(m) { _, userdata, mid, _, _ in
            guard let client = MQTTClient.from(userdata) else { return }
            client.state.withLock { $0.unacknowledged = max(0, $0.unacknowledged - 1) }
            client.onEvent(.published(mid: Int(mid)))
        }
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> MQTTClient? {
        guard let userdata else { return nil }
        return Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue()
    }

    /// Installs the handlers, then connects and starts the loop thread.
    public func start(onMessage: @escaping @Sendable (MQTTMessage) -> Void, onEvent: @escaping @Sendable (MQTTEvent) -> Void) throws(MQTTError) {
        handlers.withLock { $0 = Handlers(message: onMessage, event: onEvent) }
        try start()
    }

    /// Connects and starts the loop thread. A broker that is not there yet is not an error: the
    /// loop keeps trying with the reconnect backoff.
    public func start() throws(MQTTError) {
        let m = handle.pointer
        let first = state.withLock { s -> Bool in
            defer { s.started = true }
            return !s.started
        }
        guard first else { return }
        var properties: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&properties) }
        if options.protocolVersion == .v5 && options.persistentSession {
            try check(mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue),
                                                   options.sessionExpirySeconds), "session expiry property")
        }
        // Blocking TCP connect; on failure the properties, host and port are kept, and the loop
        // thread reconnects with them.
        let rc = mosquitto_connect_bind_v5(m, options.host, Int32(options.port), Int32(options.keepAliveSeconds), nil, properties)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            let reason = rc == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(rc))
            if rc == MOSQ_ERR_INVAL.rawValue { throw Self.error(rc, "connect") }
            onEvent(.disconnected(code: Int(rc), reason: "cannot connect to \(options.host):\(options.port): \(reason); retrying", expected: false))
        }
        try check(mosquitto_loop_start(m), "loop start")
    }

    /// Publishes a message; returns its message id. Fails when not connected.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) throws(MQTTError) -> Int {
        var mid: Int32 = 0
        // Counted before the call: the acknowledgement can arrive before it returns. (A QoS 0
        // publish is "acknowledged" once written.)
        state.withLock { $0.unacknowledged += 1 }
        let rc = payload.withUnsafeBytes { buf in
            mosquitto_publish_v5(handle.pointer, &mid, topic, Int32(buf.count), buf.baseAddress, Int32(qos), retain, nil)
        }
        if rc != MOSQ_ERR_SUCCESS.rawValue { state.withLock { $0.unacknowledged = max(0, $0.unacknowledged - 1) } }
        try check(rc, "publish to \(topic)")
        return Int(mid)
    }

    /// QoS 1 and 2 publishes the broker has not acknowledged yet.
    public var unacknowledged: Int { state.withLock { $0.unacknowledged } }

    /// Waits until the broker has acknowledged every message published so far, or `timeout`
    /// has passed; returns how many it has not (0: all are at the broker).
    public func waitUntilPublished(timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = state.withLock { $0.unacknowledged }
            if left == 0 || ContinuousClock.now >= deadline { return left }
            usleep(10_000)
        }
    }

    /// Drops the connection at once, without a DISCONNECT. Called inside the message callback, it
    /// keeps the message being handled from being acknowledged: its PUBACK, queued for after the
    /// callback, meets a closed socket. The broker keeps the message in the session and delivers it
    /// again after the reconnect that the loop makes with its backoff (libmosquitto clears the
    /// packets queued for the old connection when it reconnects).
    public func dropConnection() {
        let fd = mosquitto_socket(handle.pointer)
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Changes the subscriptions in place (a configuration reload): filters no longer wanted are
    /// unsubscribed, new ones subscribed now (if connected) and on every later connect.
    public func update(subscriptions new: [MQTTSubscription], unsubscriptions: [String]) {
        let old = topics.withLock { t -> [MQTTSubscription] in
            defer { t = (new, unsubscriptions) }
            return t.subscribe
        }
        let m = handle.pointer
        let removed = old.map(\.topic).filter { topic in !new.contains { $0.topic == topic } }
        for topic in removed + unsubscriptions { _ = mosquitto_unsubscribe_v5(m, nil, topic, nil) }
        let options: Int32 = self.options.protocolVersion == .v5 ? subscriptionOptions : 0
        for s in new where !old.contains(s) { _ = mosquitto_subscribe_v5(m, nil, s.topic, Int32(s.qos), options, nil) }
        onEvent(.subscribed(topics: new.map(\.topic)))
    }

    /// Disconnects cleanly and stops the loop thread. The broker keeps the persistent session,
    /// and with it the QoS 1 messages that arrive while we are away. Safe to call more than once.
    public func stop() {
        let m = handle.pointer
        let wasRunning = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return s.started && !s.stopping
        }
        guard wasRunning else { return }
        // Not connected: NO_CONN, and no disconnect callback will follow; the loop stops anyway.
        _ = mosquitto_disconnect_v5(m, 0, nil)
        _ = mosquitto_loop_stop(m, false)
        restartQueue.sync {}
    }

    // MARK: callbacks (on the loop thread)

    private func didConnect(rc: Int32, flags: Int32) {
        let m = handle.pointer
        if rc == 0 {
            state.withLock { $0.restartAttempt = 0 }
            onEvent(.connected(sessionPresent: flags & 1 != 0))
            // MQTT 5: retained messages only for a new subscription, not again on every reconnect.
            let options: Int32 = self.options.protocolVersion == .v5 ? subscriptionOptions : 0
            let (subscriptions, unsubscriptions) = topics.withLock { ($0.subscribe, $0.unsubscribe) }
            for topic in unsubscriptions { _ = mosquitto_unsubscribe_v5(m, nil, topic, nil) }
            var sent: [String] = []
            for s in subscriptions {
                let rc = mosquitto_subscribe_v5(m, nil, s.topic, Int32(s.qos), options, nil)
                if rc == MOSQ_ERR_SUCCESS.rawValue { sent.append(s.topic) }
            }
            onEvent(.subscribed(topics: sent))
            return
        }
        let refusal = Self.classify(rc: Int(rc), version: options.protocolVersion)
        if refusal.fatal {
            state.withLock { $0.refusedFatally = true }
            // Stop libmosquitto retrying (3.1.1) with credentials that will not change.
            _ = mosquitto_disconnect_v5(m, 0, nil)
            onEvent(.refused(code: Int(rc), reason: refusal.reason, fatal: true))
        } else {
            onEvent(.refused(code: Int(rc), reason: refusal.reason, fatal: false))
            if options.protocolVersion == .v5 { scheduleLoopRestart() }
        }
    }

    private func didDisconnect(rc: Int32) {
        let expected = state.withLock { $0.stopping || $0.refusedFatally }
        let reason = rc == 0 ? "disconnected" : String(cString: mosquitto_strerror(rc)) + "; reconnecting"
        onEvent(.disconnected(code: Int(rc), reason: reason, expected: expected))
    }

    private func didReceive(_ message: mosquitto_message) {
        let topic = message.topic.map { String(cString: $0) } ?? ""
        let count = Int(message.payloadlen)
        let payload: [UInt8]
        if count > 0, let p = message.payload {
            payload = Array(UnsafeRawBufferPointer(start: p, count: count))
        } else {
            payload = []
        }
        onMessage(MQTTMessage(topic: topic, payload: payload, qos: Int(message.qos), retained: message.retain))
    }

    /// After an MQTT 5 refusal libmosquitto's loop thread exits; start it again after the backoff.
    private func scheduleLoopRestart() {
        let attempt = state.withLock { s -> Int in
            s.restartAttempt += 1
            return s.restartAttempt
        }
        let delay = min(Double(options.reconnectMaxSeconds),
                        Double(options.reconnectMinSeconds) * Double(attempt * attempt))
        restartQueue.asyncAfter(deadline: .now() + delay) { [self] in
            guard !state.withLock({ $0.stopping || $0.refusedFatally }) else { return }
            let m = handle.pointer
            _ = mosquitto_loop_stop(m, false)
            _ = mosquitto_reconnect_async(m)
            _ = mosquitto_loop_start(m)
        }
    }

    /// MQTT 5 subscription options: retained messages only for a new subscription (not again on
    /// every reconnect), and, with `noLocal`, never our own publications back.
    private var subscriptionOptions: Int32 {
        Int32(MQTT_SUB_OPT_SEND_RETAIN_NEW.rawValue) | (options.noLocal ? Int32(MQTT_SUB_OPT_NO_LOCAL.rawValue) : 0)
    }

    /// Whether a CONNACK code ends the daemon, and its text.
    static func classify(rc: Int, version: MQTTOptions.ProtocolVersion) -> (fatal: Bool, reason: String) {
        if rc < 128 {
            // 3.1.1 CONNACK return codes.
            let reason = String(cString: mosquitto_connack_string(Int32(rc)))
            switch rc {
            case 1: return (true, "the broker refused MQTT \(version.rawValue): \(reason)")
            case 2: return (true, "the broker rejected the client id: \(reason)")
            case 4: return (true, "the broker refused the user name or password: \(reason)")
            case 5: return (true, "the broker refused authorisation: \(reason)")
            default: return (false, reason)
            }
        }
        let reason = String(cString: mosquitto_reason_string(Int32(rc)))
        switch rc {
        case 0x88, 0x89, 0x97, 0x9F:  // server unavailable, server busy, quota exceeded, connection rate exceeded
            return (false, "the broker refused the connection for now: \(reason)")
        case 0x86:
            return (true, "the broker refused the user name or password: \(reason)")
        case 0x87:
            return (true, "the broker refused authorisation: \(reason)")
        default:
            return (true, "the broker refused the connection: \(reason)")
        }
    }
}
