import CBMCore
import CBMMQTT
import Dispatch
import Foundation
import Synchronization

/// `cbm-ingest command`: an operator's alarm command, signed with their key and published to
/// the configured command topic with QoS 1 (see ``AlarmCommandGate``).
public enum CommandSender {
    typealias Failure = PublishingClient.Failure

    /// Signs `command` (JSON) as `user` and publishes it; waits for the broker's acknowledgement.
    public static func send(_ command: String, user: String, keyFile: String?, configuration: Configuration) throws {
        guard let topic = configuration.alarmOutputs.commandTopic else {
            throw Failure(description: "alarm_outputs.command_topic is none: the daemon takes no commands")
        }
        let key: [UInt8]
        if let keyFile {
            let text = (try? String(contentsOfFile: keyFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let k = AlarmCommandGate.hex(text), k.count >= 16 else {
                throw Failure(description: "\(keyFile) does not hold a key of at least 32 hex digits")
            }
            key = k
        } else if let k = configuration.alarmOutputs.commandUsers[user] {
            key = k
        } else {
            throw Failure(description: "\(user) is not in alarm_outputs.command_users: give --key-file")
        }
        guard let payload = AlarmCommandGate.sign(command, user: user, key: key, now: LiveIngester.wallClock()) else {
            throw Failure(description: "the command is not a JSON object")
        }
        let client = try PublishingClient.connect(configuration, suffix: "command")
        defer { client.stop() }
        try client.publish(topic: topic, payload: payload, qos: 1, retain: false)
        guard client.waitUntilPublished(timeout: .seconds(30)) == 0 else { throw Failure(description: "the broker did not acknowledge the command") }
    }
}
