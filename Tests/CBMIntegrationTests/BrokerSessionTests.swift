import CBMMQTT
import CBMTestSupport
import Foundation
import Testing

/// Persistent sessions, refusals and TLS, with the real binary and a real mosquitto.
@Suite("Broker sessions, refusals and TLS", .serialized)
struct BrokerSessionTests {
    static func now() -> Int { Int(Date().timeIntervalSince1970) }

    @Test("QoS 1 messages published while the daemon is stopped arrive after it reconnects", arguments: ["5", "3.1.1"])
    func persistentSessionAcrossDaemonRestart(protocolVersion: String) throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port, protocolVersion: protocolVersion)
        try daemon.start()
        #expect(daemon.stop() == 0)
        let t = Self.now()
        for i in 0..<20 { try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(t), "gas_m3h": \#(i)}"#) }
        try daemon.start()
        #expect(eventually { daemon.readings.count >= 20 })
        #expect(daemon.stop() == 0)
        let values = daemon.readings.compactMap { $0["value"] as? Double }.sorted()
        #expect(values == (0..<20).map { Double($0 * 24) })
    }

    @Test("QoS 1 messages published while the broker restarts arrive after the daemon reconnects")
    func persistentSessionAcrossBrokerRestart() throws {
        let broker = try MosquittoBroker()
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        broker.stop()
        #expect(eventually { child.stderr.contains("connection lost") })
        try broker.start()
        // Published before the daemon is back (its reconnect backoff is 1–2 s): the broker
        // queues them in the session it saved and restored.
        let t = Self.now()
        for i in 0..<10 { try broker.publish("cbm/F1/B1/W02/telemetry", #"{"ts": \#(t), "gas_m3h": \#(i + 1)}"#) }
        #expect(eventually(timeout: 30) { daemon.readings.count >= 10 })
        #expect(daemon.stop() == 0)
        #expect(daemon.readings.count == 10)
        #expect(child.stderr.components(separatedBy: " info connected ").count >= 3)
    }

    @Test("a wrong password ends the daemon with status 2 and a one-line reason", arguments: ["5", "3.1.1"])
    func wrongPassword(protocolVersion: String) throws {
        var options = MosquittoBroker.Options()
        options.users = ["ingest": "right-password"]
        let broker = try MosquittoBroker(options)
        let daemon = Daemon(port: broker.port, protocolVersion: protocolVersion, broker: """
              username: ingest
              password_env: CBM_TEST_PASSWORD
            """)
        var env = ProcessInfo.processInfo.environment
        env["CBM_TEST_PASSWORD"] = "wrong-password"
        let child = try daemon.start(waitForSubscription: false, environment: env)
        let status = child.wait(timeout: 30)
        #expect(status == 2)
        let last = child.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("cbm-ingest: the broker refused"), "\(child.stderr)")
        #expect(last.contains("password") || last.contains("authoris"))
        #expect(!child.stderr.contains("wrong-password"))
    }

    @Test("the right password from a file connects and ingests")
    func passwordFile() throws {
        var options = MosquittoBroker.Options()
        options.users = ["ingest": "s3cret"]
        let broker = try MosquittoBroker(options)
        broker.extraClientArguments = ["-u", "ingest", "-P", "s3cret"]
        let daemon = Daemon(port: broker.port, broker: """
              username: ingest
              password_file: password.txt
            """)
        chmod(daemon.dir.write("password.txt", "s3cret\n"), 0o600)
        let child = try daemon.start()
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(Self.now()), "gas_m3h": 1}"#)
        #expect(eventually { daemon.readings.count == 1 })
        #expect(daemon.stop() == 0)
        #expect(!child.stderr.contains("s3cret"))
    }

    @Test("TLS: the daemon verifies the broker with ca_file and ingests over mqtts")
    func tls() throws {
        let certs = TemporaryDirectory("certs")
        let c = try makeTestCertificates(in: certs)
        var options = MosquittoBroker.Options()
        options.tls = (c.ca, c.cert, c.key)
        let broker = try MosquittoBroker(options)
        broker.extraClientArguments = ["--cafile", c.ca]
        let daemon = Daemon(port: broker.port, scheme: "mqtts", broker: """
              tls: { ca_file: \(c.ca) }
            """)
        try daemon.start()
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(Self.now()), "gas_m3h": 2}"#)
        #expect(eventually { daemon.readings.count == 1 })
        #expect(daemon.stop() == 0)
        #expect(daemon.readings.first?["value"] as? Double == 48)
    }

    @Test("TLS: a broker whose certificate the CA did not sign is never trusted")
    func tlsWrongCA() throws {
        let certs = TemporaryDirectory("certs")
        let c = try makeTestCertificates(in: certs)
        let other = TemporaryDirectory("other-ca")
        let wrong = try makeTestCertificates(in: other)
        var options = MosquittoBroker.Options()
        options.tls = (c.ca, c.cert, c.key)
        let broker = try MosquittoBroker(options)
        let daemon = Daemon(port: broker.port, scheme: "mqtts", broker: """
              tls: { ca_file: \(wrong.ca) }
            """)
        let child = try daemon.start(waitForSubscription: false)
        Thread.sleep(forTimeInterval: 2)
        #expect(!child.stderr.contains(" info connected "))
        #expect(daemon.stop() == 0)
    }
}

/// The MQTT layer on its own: subscribe, receive, publish.
@Suite("MQTT client")
struct MQTTClientTests {
    final class Inbox: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [MQTTMessage] = []
        private var events: [MQTTEvent] = []
        func add(_ m: MQTTMessage) { lock.withLock { messages.append(m) } }
        func add(_ e: MQTTEvent) { lock.withLock { events.append(e) } }
        var received: [MQTTMessage] { lock.withLock { messages } }
        var seen: [MQTTEvent] { lock.withLock { events } }
    }

    @Test("publishes and receives with QoS 1 through the broker; the PUBACK is reported", arguments: [MQTTOptions.ProtocolVersion.v5, .v311])
    func roundTrip(version: MQTTOptions.ProtocolVersion) throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        var options = MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "roundtrip-\(version.rawValue)")
        options.protocolVersion = version
        let client = try MQTTClient(options: options, subscriptions: [MQTTSubscription(topic: "t/#")],
                                    onMessage: { inbox.add($0) }, onEvent: { inbox.add($0) })
        try client.start()
        #expect(eventually { inbox.seen.contains { if case .subscriptionGranted = $0 { return true } else { return false } } })
        let mid = try client.publish(topic: "t/a", payload: Array("héllo".utf8), qos: 1)
        try broker.publish("t/b", "from mosquitto_pub")
        #expect(eventually { inbox.received.count == 2 })
        #expect(eventually { inbox.seen.contains(.published(mid: mid)) })
        let byTopic = Dictionary(uniqueKeysWithValues: inbox.received.map { ($0.topic, String(decoding: $0.payload, as: UTF8.self)) })
        #expect(byTopic == ["t/a": "héllo", "t/b": "from mosquitto_pub"])
        #expect(inbox.received.allSatisfy { $0.qos == 1 })
        client.stop()
        client.stop()
    }

    @Test("start and stop while no broker is there neither hang nor fail")
    func noBroker() throws {
        let port = try freePort()
        let inbox = Inbox()
        let client = try MQTTClient(options: MQTTOptions(host: "127.0.0.1", port: port, clientID: "nobody"),
                                    subscriptions: [MQTTSubscription(topic: "t/#")],
                                    onMessage: { inbox.add($0) }, onEvent: { inbox.add($0) })
        try client.start()
        #expect(inbox.seen.contains { if case .disconnected(_, _, false) = $0 { return true } else { return false } })
        client.stop()
    }

    @Test("URLs")
    func urls() {
        #expect(MQTTOptions.parseURL("mqtt://broker.example:1884")! == ("broker.example", 1884, false))
        #expect(MQTTOptions.parseURL("mqtts://broker.example")! == ("broker.example", 8883, true))
        #expect(MQTTOptions.parseURL("mqtt://[::1]:1883")! == ("::1", 1883, false))
        #expect(MQTTOptions.parseURL("mqtt://host")! == ("host", 1883, false))
        #expect(MQTTOptions.parseURL("http://host") == nil)
        #expect(MQTTOptions.parseURL("mqtt://user:pw@host") == nil)
        #expect(MQTTOptions.parseURL("mqtt://host:99999") == nil)
    }
}

@Suite("Resubscription")
struct ResubscriptionTests {
    @Test("after a broker restart that lost every session, the daemon subscribes again and ingests")
    func resubscribeAfterSessionLoss() throws {
        var options = MosquittoBroker.Options()
        options.persistence = false
        let broker = try MosquittoBroker(options)
        let daemon = Daemon(port: broker.port)
        let child = try daemon.start()
        broker.stop()
        try broker.start()
        // Two subscriptions a connect (the telemetry and the alarm command topic), twice.
        #expect(eventually(timeout: 30) { child.stderr.components(separatedBy: "subscription granted").count - 1 >= 4 })
        #expect(child.stderr.contains("mqtt.session_present=false"))
        try broker.publish("cbm/F1/B1/W01/telemetry", #"{"ts": \#(Int(Date().timeIntervalSince1970)), "gas_m3h": 3}"#)
        #expect(eventually { daemon.readings.count == 1 })
        #expect(daemon.stop() == 0)
    }
}
