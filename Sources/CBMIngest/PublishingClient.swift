import CBMMQTT
import Dispatch
import Synchronization

/// A short-lived client that only publishes (`replay --publish`, `cbm-ingest command`): a clean
/// session under the configured client id with a suffix, connected before it is handed over.
enum PublishingClient {
    /// Why the client could not be used.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects within 30 s, or fails with the broker's refusal or a timeout.
    static func connect(_ configuration: Configuration, suffix: String) throws -> MQTTClient {
        var options = configuration.broker
        options.clientID += "-\(suffix)"
        options.persistentSession = false
        let connected = DispatchSemaphore(value: 0)
        let refusal = Mutex<String?>(nil)
        let client = try MQTTClient(options: options, subscriptions: [], onEvent: { e in
            switch e {
            case .connected: connected.signal()
            case .refused(_, let reason, true):
                refusal.withLock { $0 = reason }
                connected.signal()
            default: break
            }
        })
        try client.start()
        guard connected.wait(timeout: .now() + 30) == .success else {
            client.stop()
            throw Failure(description: "cannot connect to the broker")
        }
        if let reason = refusal.withLock({ $0 }) {
            client.stop()
            throw Failure(description: reason)
        }
        return client
    }
}
