import CBMCore
import CBMMQTT
import CBMStorage
import Foundation
import Logging

extension Validator {
    // MARK: broker

    mutating func broker(_ raw: RawBroker?, _ path: ConfigPath) -> (MQTTOptions?, String?) {
        let url = raw?.url ?? "mqtt://127.0.0.1:1883"
        guard let parsed = MQTTOptions.parseURL(url) else {
            problem(path / "url", "\"\(url)\" is not a broker URL (mqtt://host:port or mqtts://host:port)")
            return (nil, nil)
        }
        let clientID = raw?.clientID ?? "cbm-ingest"
        if clientID.isEmpty || clientID.utf8.count > 65_535 {
            problem(path / "client_id", "must be a fixed, non-empty id: the broker keys the persistent session on it")
        }
        var options = MQTTOptions(host: parsed.host, port: parsed.port, clientID: clientID)
        switch raw?.protocol ?? "5" {
        case "5", "5.0", "v5": options.protocolVersion = .v5
        case "3.1.1", "311", "v3.1.1", "4": options.protocolVersion = .v311
        case let other: problem(path / "protocol", "\"\(other)\" is not a supported MQTT version (use \"5\" or \"3.1.1\")")
        }
        let expiry = duration(raw?.sessionExpiry, path / "session_expiry", default: 7 * 86_400 * 1_000_000)
        if expiry / 1_000_000 > Int64(UInt32.max) || expiry < 1_000_000 {
            problem(path / "session_expiry", "must be from 1s to about 136 years (MQTT 5 counts it in seconds)")
        } else {
            options.sessionExpirySeconds = UInt32(expiry / 1_000_000)
        }
        let keepalive = duration(raw?.keepalive, path / "keepalive", default: 30_000_000)
        if keepalive < 5_000_000 || keepalive > 65_535_000_000 {
            problem(path / "keepalive", "must be from 5s to 65535s")
        } else {
            options.keepAliveSeconds = Int(keepalive / 1_000_000)
        }
        let rmin = duration(raw?.reconnect?.min, path / "reconnect" / "min", default: 1_000_000)
        let rmax = duration(raw?.reconnect?.max, path / "reconnect" / "max", default: 30_000_000)
        if rmin < 1_000_000 { problem(path / "reconnect" / "min", "must be at least 1s (libmosquitto counts whole seconds)") }
        if rmax < rmin { problem(path / "reconnect" / "max", "must not be shorter than reconnect.min") }
        options.reconnectMinSeconds = UInt32(clamping: rmin / 1_000_000)
        options.reconnectMaxSeconds = UInt32(clamping: rmax / 1_000_000)
        options.receiveMaximum = integer(raw?.receiveMaximum, path / "receive_maximum", default: 20, range: 1...65_535)
        options.username = raw?.username
        var source: String?
        if raw?.passwordFile != nil && raw?.passwordEnv != nil {
            problem(path / "password_env", "give the password in password_file or password_env, not both")
        } else if let f = raw?.passwordFile {
            if let full = readableFile(f, path / "password_file"), privateFile(full, path / "password_file") {
                let text = (try? String(contentsOfFile: full, encoding: .utf8)) ?? ""
                options.password = text.trimmingCharacters(in: .newlines)
                source = "file \(full)"
            }
        } else if let name = raw?.passwordEnv {
            if let value = environment[name] {
                options.password = value
                source = "environment variable \(name)"
            } else {
                problem(path / "password_env", "the environment variable \(name) is not set")
            }
        }
        if options.password != nil && options.username == nil {
            problem(path / "username", "missing: a password is given but no user name")
        }
        if let tls = raw?.tls {
            if !parsed.secure { problem(path / "tls", "TLS settings need an mqtts:// URL") }
            let ca = readableFile(tls.caFile, path / "tls" / "ca_file")
            if tls.caFile == nil { problem(path / "tls" / "ca_file", "missing: the CA that signed the broker's certificate") }
            let cert = readableFile(tls.certFile, path / "tls" / "cert_file")
            let key = readableFile(tls.keyFile, path / "tls" / "key_file")
            if (tls.certFile == nil) != (tls.keyFile == nil) {
                problem(path / "tls" / (tls.certFile == nil ? "cert_file" : "key_file"), "a client certificate needs both cert_file and key_file")
            }
            if let ca { options.tls = MQTTOptions.TLS(caFile: ca, certFile: cert, keyFile: key) }
        } else if parsed.secure {
            problem(path / "tls", "missing: an mqtts:// URL needs tls.ca_file to verify the broker")
        }
        return (options, source)
    }
}
