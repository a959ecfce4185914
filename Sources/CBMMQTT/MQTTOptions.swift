/// How to reach and talk to the broker.
public struct MQTTOptions: Sendable, Equatable {
    /// MQTT protocol versions libmosquitto speaks that this project supports.
    public enum ProtocolVersion: String, Sendable, Equatable {
        case v311 = "3.1.1"
        case v5 = "5"
    }

    /// TLS settings: a CA to verify the broker, and optionally a client certificate and key.
    public struct TLS: Sendable, Equatable {
        public var caFile: String
        public var certFile: String?
        public var keyFile: String?
        public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// Broker host name or address.
    public var host: String
    /// Broker port.
    public var port: Int
    /// TLS, for `mqtts://`.
    public var tls: TLS?
    /// The fixed client id that keys the persistent session.
    public var clientID: String
    /// Protocol version.
    public var protocolVersion: ProtocolVersion = .v5
    /// Whether the broker keeps the session (subscriptions and queued QoS 1 messages) while we
    /// are away.
    public var persistentSession = true
    /// MQTT 5 session expiry interval in seconds (libmosquitto does not send one by itself, and
    /// without one an MQTT 5 session ends with the connection).
    public var sessionExpirySeconds: UInt32 = 7 * 86_400
    /// Keep-alive interval in seconds.
    public var keepAliveSeconds: Int = 30
    /// User name, if the broker wants one.
    public var username: String?
    /// Password (from a file or the environment; never from the YAML, never logged).
    public var password: String?
    /// Reconnect delays in seconds: the first, and the cap of the growing backoff.
    public var reconnectMinSeconds: UInt32 = 1
    public var reconnectMaxSeconds: UInt32 = 30
    /// QoS 1 messages the broker may have in flight to us at once.
    public var receiveMaximum: Int = 20
    /// MQTT 5: the broker does not send our own publications back to our subscriptions.
    public var noLocal = false
    /// What the broker publishes for us when the connection drops without a DISCONNECT.
    public var will: Will?

    /// A last will: a message the broker sends on our behalf.
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: Int
        public var retain: Bool
        public init(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    public init(host: String, port: Int, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }

    /// Parses `mqtt://host[:port]` (port 1883) or `mqtts://host[:port]` (port 8883). The TLS
    /// settings of an `mqtts` URL must be given with ``tls`` afterwards.
    public static func parseURL(_ url: String) -> (host: String, port: Int, secure: Bool)? {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("mqtt://") {
            secure = false
            rest = url.dropFirst(7)
        } else if url.hasPrefix("mqtts://") {
            secure = true
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        let authority = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = Substring(authority)
        var port = secure ? 8883 : 1883
        if authority.hasPrefix("[") {  // [::1]:1883
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        return (String(host), port, secure)
    }
}

/// A subscription: a topic filter and the QoS asked for.
public struct MQTTSubscription: Sendable, Equatable {
    public var topic: String
    public var qos: Int
    public init(topic: String, qos: Int = 1) {
        self.topic = topic
        self.qos = qos
    }
}

/// A received message.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retained: Bool
}

/// What happened to the connection.
public enum MQTTEvent: Sendable, Equatable {
    /// The broker accepted the connection; `sessionPresent` says whether it kept our session.
    case connected(sessionPresent: Bool)
    /// The subscriptions were (re)sent.
    case subscribed(topics: [String])
    /// The broker granted a subscription at these QoS levels (≥ 128 means refused).
    case subscriptionGranted(qos: [Int])
    /// The connection ended; `expected` when we asked for it.
    case disconnected(code: Int, reason: String, expected: Bool)
    /// The broker refused the connection. `fatal` refusals (credentials, authorisation, client id,
    /// protocol) end the daemon with status 2; the others are retried.
    case refused(code: Int, reason: String, fatal: Bool)
    /// A published message reached the broker (QoS 1: PUBACK received).
    case published(mid: Int)
}

/// An error from libmosquitto, with its code and the library's text.
public struct MQTTError: Error, Sendable, CustomStringConvertible, Equatable {
    public var code: Int
    public var operation: String
    public var message: String
    public var description: String { "\(operation): \(message) (libmosquitto error \(code))" }
}
