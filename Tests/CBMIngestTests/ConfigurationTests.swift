import CBMCore
@testable import CBMIngest
import CBMMQTT
import CBMTestSupport
import Foundation
import Testing

/// Configuration validation: every problem reported, each with its line and key path.
@Suite("Configuration")
struct ConfigurationTests {
    let dir = TemporaryDirectory("config")

    init() {
        dir.write("assets.csv", "id,kind,field,block,sector,expected_gas_m3d\nW01,well,F1,B1,,1200\nM01,delivery,,,power,\n")
    }

    func load(_ yaml: String, env: [String: String] = [:]) -> Result<Configuration, ConfigurationError> {
        let file = dir.write("c.yaml", yaml)
        return ConfigurationLoader.load(file: file, environment: env)
    }

    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        switch load(yaml, env: env) {
        case .success: return []
        case .failure(let e): return e.problems.map { p in "\(p.line): \(p.key): \(p.message)" }
        }
    }

    static let minimal = """
        broker:
          url: mqtt://127.0.0.1:1883
        subscriptions:
          - topic: cbm/+/+/+/telemetry
            template: cbm/{field}/{block}/{asset}/telemetry
            format: json
            values:
              gas_m3h: { measurement: gas_rate, unit: m3/h }
        assets: assets.csv
        """

    @Test("a minimal configuration gets every default")
    func defaults() throws {
        let c = try load(Self.minimal).get()
        #expect(c.broker.host == "127.0.0.1")
        #expect(c.broker.port == 1883)
        #expect(c.broker.clientID == "cbm-ingest")
        #expect(c.broker.protocolVersion == .v5)
        #expect(c.broker.sessionExpirySeconds == 7 * 86_400)
        #expect(c.aggregation.timeZone.identifier == "Asia/Shanghai")
        #expect(c.aggregation.dayStartMinutes == 480)
        #expect(c.aggregation.basis == .c20)
        #expect(c.factors.coalKgcePerM3 == 1.2)
        #expect(c.factors.co2eKgPerM3 == 15)
        #expect(c.limits.maxPayload == 65_536)
        #expect(c.register.count == 2)
        #expect(c.output.directory == "/var/lib/cbm-ingest/out")
        #expect(c.output.readings == false)
        #expect(c.subscriptions.first?.mqtt.qos == 1)
    }

    @Test("http: the default listens on loopback; beyond it a token file is required; addresses, tokens and refresh checked")
    func http() throws {
        let c = try load(Self.minimal).get()
        #expect(c.http.host == "127.0.0.1" && c.http.port == 9108 && c.http.token == nil && c.http.refreshSeconds == 30)
        #expect(try load(Self.minimal + "\nhttp: { listen: off }").get().http.host == nil)
        let v6 = try load(Self.minimal + "\nhttp: { listen: \"[::1]:0\" }").get().http
        #expect(v6.host == "::1" && v6.port == 0)
        #expect(problems(Self.minimal + "\nhttp: { listen: \"0.0.0.0:9108\" }")
            == ["10: http.token_file: missing: listening on 0.0.0.0, beyond loopback, needs a bearer token for the write actions"])
        #expect(problems(Self.minimal + "\nhttp: { listen: \"localhost\" }").first?.contains("http.listen: \"localhost\" is not host:port") == true)
        #expect(problems(Self.minimal + "\nhttp: { listen: \"127.0.0.1:70000\" }").count == 1)
        chmod(dir.write("short.txt", "abc\n"), 0o600)
        #expect(problems(Self.minimal + "\nhttp: { token_file: short.txt }").first?.contains("a token needs at least 16") == true)
        chmod(dir.write("open.txt", "0123456789abcdef0123\n"), 0o644)
        #expect(problems(Self.minimal + "\nhttp: { token_file: open.txt }").first?.contains("can be read by every user") == true)
        chmod(dir.write("token.txt", "0123456789abcdef0123\n"), 0o600)
        let wide = try load(Self.minimal + "\nhttp: { listen: \"0.0.0.0:9108\", token_file: token.txt, refresh: 1m }").get().http
        #expect(wide.token == "0123456789abcdef0123" && wide.refreshSeconds == 60)
        #expect(problems(Self.minimal + "\nhttp: { refresh: 1s }").first?.contains("http.refresh: must be at least 2s") == true)
    }

    @Test("the example configuration under config/ is valid")
    func example() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = root.appendingPathComponent("config/cbm-ingest.yaml").path
        let c = try ConfigurationLoader.load(file: file, environment: [:]).get()
        #expect(c.register.count(of: .well) >= 6)
        #expect(c.register.count(of: .delivery) >= 3)
        #expect(c.register.count(of: .flare) >= 1)
        #expect(Set(c.register.assets.compactMap(\.sector)).count >= 3)
    }

    @Test("three mistakes are reported together, each with its line and key path")
    func threeMistakes() {
        let p = problems("""
            broker:
              url: mqtt://127.0.0.1:1883
              protocol: "4.0"
            subscriptions:
              - topic: cbm/+/+/+/telemetry
                template: cbm/{field}/{block}/{asset}/telemetry
                format: json
                values:
                  gas_m3h: { measurement: gas_rate, unit: kPa }
            assets: assets.csv
            aggregation:
              allowed_lateness: 5 minutes
            """)
        #expect(p.count == 3)
        #expect(p.contains { $0.hasPrefix("3: broker.protocol: \"4.0\" is not a supported MQTT version") })
        #expect(p.contains { $0.hasPrefix("9: subscriptions[0].values.gas_m3h.unit: gas_rate needs a unit of gas volume per time, not \"kPa\"") })
        #expect(p.contains { $0.hasPrefix("12: aggregation.allowed_lateness: \"5 minutes\" is not a duration") })
    }

    @Test("a sparkplug_b subscription: its asset template and metric mappings; a unit left out comes from engUnit; mistakes named")
    func sparkplug() throws {
        let good = try load("""
            broker:
              url: mqtt://127.0.0.1:1883
            subscriptions:
              - topic: spBv1.0/Field1/+/rtu7/#
                format: sparkplug_b
                asset: "W-{device}"
                values:
                  Gas/Flow: { measurement: gas_rate }
                  Gas/Total: { measurement: gas_total, unit: m3, rollover: 1000000 }
            assets: assets.csv
            """).get()
        guard case .sparkplugB(let layout) = good.subscriptions[0].rule.format else {
            Issue.record("not sparkplug_b: \(good.subscriptions[0].rule.format)")
            return
        }
        #expect(good.subscriptions[0].rule.template == nil)
        #expect(layout.asset.id(group: "Field1", edgeNode: "rtu7", device: "0121") == "W-0121")
        #expect(layout.asset.id(group: "Field1", edgeNode: "rtu7", device: nil) == nil)
        #expect(layout.values["Gas/Flow"]?.unit == nil && layout.values["Gas/Total"]?.unit != nil)
        #expect(layout.values["Gas/Total"]?.mapping.rollover == 1_000_000)
        let p = problems("""
            broker:
              url: mqtt://127.0.0.1:1883
            subscriptions:
              - topic: plant/+/telemetry
                format: sparkplug_b
                template: plant/{asset}/telemetry
                time: ts
                asset: "{well}"
                values:
                  Gas/Total: { measurement: gas_total, rollover: 100 }
            assets: assets.csv
            """)
        #expect(p.contains { $0.hasPrefix("4: subscriptions[0].topic: a sparkplug_b subscription is in the Sparkplug B namespace") }, "\(p)")
        #expect(p.contains { $0.hasPrefix("6: subscriptions[0].template: a Sparkplug B topic's levels are fixed") }, "\(p)")
        #expect(p.contains { $0.hasPrefix("7: subscriptions[0].time: not for sparkplug_b") }, "\(p)")
        #expect(p.contains { $0.hasPrefix("8: subscriptions[0].asset: \"{well}\" is not an asset template: {well}: use {group}, {edge_node} or {device}") }, "\(p)")
        #expect(p.contains { $0.contains("subscriptions[0].values.Gas/Total.rollover: needs unit:") }, "\(p)")
    }

    @Test("the full message has the form file:line: key.path: what is wrong")
    func messageForm() throws {
        let file = dir.write("bad.yaml", Self.minimal + "\noutput: { readings: maybe }\n")
        guard case .failure(let e) = ConfigurationLoader.load(file: file, environment: [:]) else {
            Issue.record("accepted a bad configuration")
            return
        }
        #expect(e.description == "\(file):10: output.readings: \"maybe\" is not true or false")
    }

    @Test("unknown keys are reported with a suggestion")
    func unknownKeys() {
        let p = problems(Self.minimal.replacingOccurrences(of: "  url:", with: "  ulr:") + "\nlimits: { max_paylod: 1KiB }\n")
        #expect(p.contains { $0.hasPrefix("2: broker.ulr: unknown key (did you mean url?)") })
        #expect(p.contains { $0.hasPrefix("10: limits.max_paylod: unknown key (did you mean max_payload?)") })
    }

    @Test("subscription problems: filter, template, format, mapping, QoS 2")
    func subscriptionProblems() {
        let p = problems("""
            subscriptions:
              - topic: cbm/#/x
                template: cbm/{asset
                format: json
                values: { a: { measurement: gas_rate } }
              - topic: cbm/+/+
                template: cbm/{asset}/{measurement}/extra
                format: value
                qos: 2
                units: { oil_rate: m3/d }
              - topic: cbm/+/+
                template: cbm/{asset}/{measurement}
                format: xml
              - topic: cbm/+/t
                template: cbm/{asset}/t
                format: json
                values:
                  c: { measurement: casing_pressure, unit: kPa, rollover: 100 }
                  t: { measurement: gas_total, unit: m3, rollover: -1 }
            assets: assets.csv
            """)
        #expect(p.contains { $0.hasPrefix("2: subscriptions[0].topic: \"cbm/#/x\" is not a topic filter") })
        #expect(p.contains { $0.hasPrefix("3: subscriptions[0].template: \"cbm/{asset\" is not a template") })
        #expect(p.contains { $0.hasPrefix("7: subscriptions[1].template: the template has 4 levels, topic \"cbm/+/+\" has 3") })
        #expect(p.contains { $0.hasPrefix("9: subscriptions[1].qos: QoS 2 cannot be made crash-safe") })
        #expect(p.contains { $0.hasPrefix("10: subscriptions[1].units.oil_rate: unknown measurement") })
        #expect(p.contains { $0.hasPrefix("13: subscriptions[2].format: unknown format \"xml\"") })
        #expect(p.contains { $0.hasPrefix("18: subscriptions[3].values.c.rollover: only a totalizer") })
        #expect(p.contains { $0.hasPrefix("19: subscriptions[3].values.t.rollover: \"-1\" is not a positive number") })
    }

    @Test("register problems point into the CSV file")
    func registerProblems() {
        dir.write("bad.csv", "id,kind,field,block,sector\nW01,well,F1,B1,\nW01,well,F1,B1,\nM01,delivery,,,\nX,pump,,,\n")
        let p = problems(Self.minimal.replacingOccurrences(of: "assets: assets.csv", with: "assets: bad.csv"))
        #expect(p == [
            "3: id: \"W01\" is registered twice (first on line 2)",
            "4: sector: missing: a delivery meter needs the sector it delivers to",
            "5: kind: unknown kind \"pump\" (use well, delivery or flare)",
        ])
    }

    @Test("a column named twice in the register's header is refused, with both columns")
    func duplicateColumn() {
        dir.write("twice.csv", "id,kind,field,block,Kind,expected_gas_m3d\nW01,well,F1,B1,flare,1200\n")
        let p = problems(Self.minimal.replacingOccurrences(of: "assets: assets.csv", with: "assets: twice.csv"))
        #expect(p == ["1: kind: the header names this column twice (columns 2 and 5)"])
    }

    @Test("every key given twice is reported, each repeat with its line and where it was first given")
    func duplicateKeys() {
        let yaml = Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: """
              url: mqtt://127.0.0.1:1883
              client_id: a
              "client_id": b
              client_id: c
            """) + """

            journal: { directory: journal, directory: j2 }
            output: { directory: out }
            output:
              directory: out2
              directory: out3
            """
        #expect(problems(yaml) == [
            "4: broker.client_id: given again in one mapping (first on line 3)",
            "5: broker.client_id: given again in one mapping (first on line 3)",
            "13: journal.directory: given again in one mapping (first on line 13)",
            "15: output: given again in one mapping (first on line 14)",
            "17: output.directory: given again in one mapping (first on line 16)",
        ])
    }

    @Test("an inline register is validated with the YAML lines")
    func inlineRegister() throws {
        let yaml = Self.minimal.replacingOccurrences(of: "assets: assets.csv", with: """
            assets:
              - { id: W01, kind: well, field: F1, block: B1, expected_gas_m3d: 1200 }
              - { id: W02, kind: well, field: F1, expected_gas_m3d: lots }
            """)
        let p = problems(yaml)
        #expect(p.contains("11: assets[1].block: missing: a well needs its block"))
        #expect(p.contains("11: assets[1].expected_gas_m3d: \"lots\" is not a volume in m3/d (a number ≥ 0)"))
        let good = try load(Self.minimal.replacingOccurrences(of: "assets: assets.csv", with: """
            assets:
              - { id: W01, kind: well, field: F1, block: B1, expected_gas_m3d: 1200, name: North 1 }
            """)).get()
        #expect(good.register["W01"]?.expectedGasM3d == 1200)
        #expect(good.register["W01"]?.attributes["name"] == "North 1")
    }

    @Test("passwords come from a file or the environment, never the YAML, never both")
    func passwords() throws {
        let pw = dir.write("pw", "from-file\n")
        let yaml = Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: """
              url: mqtt://127.0.0.1:1883
              username: ingest
              password_file: pw
            """)
        // A password file every user can read is refused; one kept private is taken.
        chmod(pw, 0o644)
        #expect(problems(yaml).contains { $0.hasPrefix("4: broker.password_file:") && $0.contains("can be read by every user (mode 644)") })
        chmod(pw, 0o600)
        let withFile = try load(yaml).get()
        #expect(withFile.broker.password == "from-file")
        #expect(!withFile.summary.contains("from-file"))
        let withEnv = try load(Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: """
              url: mqtt://127.0.0.1:1883
              username: ingest
              password_env: PW
            """), env: ["PW": "from-env"]).get()
        #expect(withEnv.broker.password == "from-env")
        let p = problems(Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: """
              url: mqtt://127.0.0.1:1883
              password: plain
              password_env: NOT_SET
            """))
        #expect(p.contains { $0.hasPrefix("3: broker.password: unknown key") })
        #expect(p.contains { $0.hasPrefix("4: broker.password_env: the environment variable NOT_SET is not set") })
    }

    @Test("TLS needs mqtts and a readable CA; mqtts needs TLS")
    func tls() {
        let p = problems(Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: """
              url: mqtt://127.0.0.1:1883
              tls: { ca_file: missing.crt, cert_file: c.crt }
            """))
        #expect(p.contains { $0.hasPrefix("3: broker.tls: TLS settings need an mqtts:// URL") })
        #expect(p.contains { $0.hasPrefix("3: broker.tls.ca_file: cannot read") })
        #expect(p.contains { $0.hasPrefix("3: broker.tls.key_file: a client certificate needs both") })
        let q = problems(Self.minimal.replacingOccurrences(of: "mqtt://", with: "mqtts://"))
        #expect(q.contains { $0.hasPrefix("1: broker.tls: missing: an mqtts:// URL needs tls.ca_file") })
    }

    @Test("YAML syntax and structure errors have lines")
    func yamlErrors() {
        #expect(problems("broker:\n  url: [a, b\n").first?.hasPrefix("3: : not valid YAML") == true)
        #expect(problems("broker:\n  - url\n").first == "1: broker: expected a mapping of keys here")
    }

    @Test("overlapping filters are subscribed once; covered ones are unsubscribed on connect")
    func coveredFilters() throws {
        let c = try load("""
            subscriptions:
              - topic: cbm/+/+/+/telemetry
                template: cbm/{field}/{block}/{asset}/telemetry
                format: json
                values: { g: { measurement: gas_rate, unit: m3/h } }
              - topic: cbm/+/+/+/+
                template: cbm/{field}/{block}/{asset}/{measurement}
                format: value
                qos: 0
                units: { gas_rate: m3/h }
              - topic: other/#
                template: other/{asset}/{measurement}
                format: value
                units: { gas_rate: m3/h }
            assets: assets.csv
            """).get()
        #expect(c.mqttSubscriptions == [MQTTSubscription(topic: "cbm/+/+/+/+", qos: 1), MQTTSubscription(topic: "other/#", qos: 1)])
        #expect(c.coveredFilters == ["cbm/+/+/+/telemetry"])
    }

    @Test("counter thresholds per mapped value and plausibility bounds are read, explained, and refused with their line")
    func countersAndPlausibility() throws {
        let yaml = """
            broker:
              url: mqtt://127.0.0.1:1883
            subscriptions:
              - topic: cbm/+/t
                template: cbm/{asset}/t
                format: json
                values:
                  g: { measurement: gas_total, unit: 1e4m3, rollover: 100000, reset_below: 25%, rollover_margin: 0.05 }
            assets: assets.csv
            limits: { max_receive_jump: 2d }
            plausibility:
              gas_rate: { max: 5.0e6 }
              casing_pressure: { min: none, max: 50000 }
              well_rate_factor: 5
              totalizer_span: 30m
            """
        let c = try load(yaml).get()
        guard case .json(let layout)? = c.rules.first?.format else { Issue.record("no json rule"); return }
        let counter = try #require(layout.values.first?.mapping.counter)
        #expect(counter.rollover == 1e9 && counter.resetBelow == 0.25 && counter.rolloverMargin == 0.05)
        #expect(c.limits.maxReceiveJumpUS == 2 * 86_400_000_000)
        let p = c.limits.plausibility
        #expect(p.bounds[.gasRate] == Plausibility.Bounds(min: 0, max: 5e6))
        #expect(p.bounds[.casingPressure] == Plausibility.Bounds(min: nil, max: 50_000))
        #expect(p.wellRateFactor == 5 && p.totalizerSpanUS == 1_800_000_000)
        // check-config says how the counter is read and what is plausible.
        #expect(c.summary.contains("a fall to 25% of the previous reading or less is a reset"))
        #expect(c.summary.contains("rollover at 1000000000 m3 to within 5% of it"))
        #expect(c.summary.contains("step back, counted as the negative volume it is"))
        #expect(c.summary.contains("gas_rate 0 to 5000000 m3/d (a well at most 5x its expected_gas_m3d)"))
        #expect(c.summary.contains("a recording's receive time jumping over 2d waits for the next message"))

        let bad = problems(yaml.replacingOccurrences(of: "reset_below: 25%", with: "reset_below: 1.5")
            .replacingOccurrences(of: "rollover_margin: 0.05", with: "rollover_margin: 0x1p-4")
            .replacingOccurrences(of: "max: 5.0e6", with: "max: lots, min: 7e6")
            .replacingOccurrences(of: "well_rate_factor: 5", with: "well_rate_factor: -1")
            .replacingOccurrences(of: "totalizer_span: 30m", with: "totalizer_span: 30\n  oil_rate: { max: 1 }"))
        #expect(bad.contains { $0.hasPrefix("8: subscriptions[0].values.g.reset_below: \"1.5\" is not a share from 0 to 1") })
        #expect(bad.contains { $0.hasPrefix("8: subscriptions[0].values.g.rollover_margin: \"0x1p-4\" is not a share") })
        #expect(bad.contains { $0.hasPrefix("12: plausibility.gas_rate.max: \"lots\" is not a number (in m3/d, the reporting unit)") })
        #expect(bad.contains { $0.hasPrefix("14: plausibility.well_rate_factor: \"-1\" is not a positive number") })
        #expect(bad.contains { $0.hasPrefix("15: plausibility.totalizer_span: \"30\" is not a duration") })
        #expect(bad.contains { $0.hasPrefix("16: plausibility.oil_rate: unknown key") })
        let rate = problems(yaml.replacingOccurrences(of: "g: { measurement: gas_total, unit: 1e4m3", with: "g: { measurement: gas_rate, unit: m3/h")
            .replacingOccurrences(of: ", rollover: 100000", with: ""))
        #expect(rate.contains { $0.hasPrefix("8: subscriptions[0].values.g.reset_below: only a totalizer") })
    }

    @Test("ages: a max_past shorter than the session expiry is warned of with its line; the old horizon key is read as the hot span, with a warning; max_past defaults to 7 days")
    func ageWarnings() throws {
        func warnings(_ extra: String) throws -> [String] {
            try load(Self.minimal + "\n" + extra).get().warnings.map { "\($0.line): \($0.key): \($0.message)" }
        }
        let both = try warnings("aggregation: { horizon: 3h }\nlimits: { max_past: 2d }")
        #expect(both.count == 2, "\(both)")
        #expect(both.contains { $0.hasPrefix("10: aggregation.horizon: no longer limits what is accepted (limits.max_past does)") }, "\(both)")
        #expect(both.contains { $0.hasPrefix("11: limits.max_past: 2d is shorter than broker.session_expiry (7d)") && $0.contains("time_too_old") }, "\(both)")
        #expect(try load(Self.minimal + "\naggregation: { horizon: 3h }").get().aggregation.horizonUS == 3 * 3_600_000_000)
        #expect(try warnings("aggregation: { hot_span: 3h }\nlimits: { max_past: 7d }").isEmpty)
        let defaults = try load(Self.minimal).get()
        #expect(defaults.limits.maxPastUS == 7 * 86_400_000_000 && defaults.aggregation.horizonUS == 2 * 3_600_000_000)
        #expect(defaults.warnings.isEmpty)
        // A hot span too short to correct the last closed hour is refused.
        if case .failure(let e) = load(Self.minimal + "\naggregation: { hot_span: 30m }") {
            #expect("\(e)".contains("aggregation.hot_span: must be at least allowed_lateness plus 1h"), "\(e)")
        } else {
            Issue.record("a 30m hot span was accepted")
        }
        // MQTT 3.1.1 has no session expiry to compare with.
        let old = Self.minimal.replacingOccurrences(of: "  url: mqtt://127.0.0.1:1883", with: "  url: mqtt://127.0.0.1:1883\n  protocol: \"3.1.1\"")
        #expect(try load(old + "\nlimits: { max_past: 2d }").get().warnings.isEmpty)
        // check-config prints them.
        let file = dir.write("w.yaml", Self.minimal + "\nlimits: { max_past: 2d }")
        let p = try runProgram(cbmIngestBinary(), ["check-config", "--config", file])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("warning: \(file):10: limits.max_past: 2d is shorter than broker.session_expiry"), "\(p.stdout)")
    }
}
