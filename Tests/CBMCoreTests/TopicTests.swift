import Testing
@testable import CBMCore

private func template(_ s: String) throws -> TopicTemplate {
    try #require(TopicTemplate.parse(s).success, "\(s)")
}

private func filter(_ s: String) throws -> TopicFilter {
    try #require(TopicFilter.parse(s).success, "\(s)")
}

@Suite("Topic templates")
struct TopicTemplateTests {
    @Test func parsesLevels() throws {
        let t = try template("cbm/{field}/{block}/{asset}/{measurement}")
        #expect(t.levels == [.literal("cbm"), .capture("field"), .capture("block"), .capture("asset"), .capture("measurement")])
        #expect(t.text == "cbm/{field}/{block}/{asset}/{measurement}")
        #expect(t.description == t.text)
        #expect(t.captures("asset"))
        #expect(!t.captures("cbm"))
        #expect(!t.captures("site"))
    }

    @Test("parse errors", arguments: [
        ("", "empty template"),
        ("cbm/{asset", "\"{asset\": a {name} must be a whole level"),
        ("cbm/asset}/x", "\"asset}\": a {name} must be a whole level"),
        ("cbm/{}/x", "\"{}\": a {name} must be a whole level"),
        ("cbm/{a}b/x", "\"{a}b\": a {name} must be a whole level"),
        ("cbm/{a-b}/x", "\"{a-b}\": a name is letters, digits and _"),
        ("cbm/{a b}", "\"{a b}\": a name is letters, digits and _"),
        ("cbm/+/{asset}", "\"+\": wildcards belong in topic:, the template names each level with {name}"),
        ("cbm/{asset}/#", "\"#\": wildcards belong in topic:, the template names each level with {name}"),
        ("cbm/x+y/{asset}", "\"x+y\": wildcards belong in topic:, the template names each level with {name}"),
        ("cbm/x{asset}y", "\"x{asset}y\": wildcards belong in topic:, the template names each level with {name}"),
        ("cbm/{asset}/{asset}", "{asset} appears twice"),
        ("{site}/{field}/{site}", "{site} appears twice"),
    ])
    func parseErrors(_ text: String, _ message: String) {
        #expect(TopicTemplate.parse(text).failure?.description == message)
    }

    @Test func underscoreMayRepeat() throws {
        let t = try template("{_}/{_}/{asset}")
        #expect(t.match("a/b/W-001")?.asset == "W-001")
    }

    @Test func matchCaptures() throws {
        let t = try template("cbm/{field}/{block}/{asset}/{measurement}")
        let c = try #require(t.match("cbm/qinshui/b3/W-001/gas_rate"))
        #expect(c.field == "qinshui")
        #expect(c.block == "b3")
        #expect(c.asset == "W-001")
        #expect(c.measurement == "gas_rate")
    }

    @Test func otherNamesAreIgnored() throws {
        let t = try template("site/{site}/{asset}/telemetry")
        let c = try #require(t.match("site/jinzhong/W-7/telemetry"))
        #expect(c == TopicTemplate.Captures(field: nil, block: nil, asset: "W-7", measurement: nil))
    }

    @Test("non-matching topics", arguments: [
        "cbm/qinshui/b3/W-001",  // too few levels
        "cbm/qinshui/b3/W-001/gas_rate/x",  // too many levels
        "cbm/qinshui/b3/W-001/gas_rate/",  // a trailing empty level is one more
        "xbm/qinshui/b3/W-001/gas_rate",  // literal mismatch
        "CBM/qinshui/b3/W-001/gas_rate",  // literals are case-sensitive
        "cbm/qinshui//W-001/gas_rate",  // an empty level is not a value
        "cbm/qinshui/b3/W-001/",
        "/cbm/qinshui/b3/W-001/gas_rate",
        "",
    ])
    func nonMatching(_ topic: String) throws {
        let t = try template("cbm/{field}/{block}/{asset}/{measurement}")
        #expect(t.match(topic) == nil)
    }

    @Test func literalLevelsMustMatchExactly() throws {
        let t = try template("cbm/{field}/{block}/{asset}/telemetry")
        #expect(t.match("cbm/q/b/W/telemetry")?.asset == "W")
        #expect(t.match("cbm/q/b/W/telemetryx") == nil)
        #expect(t.match("cbm/q/b/W/telem") == nil)
    }

    @Test func checkAgainstFilters() throws {
        let t = try template("cbm/{field}/{block}/{asset}/telemetry")
        #expect(t.check(against: try filter("cbm/+/+/+/telemetry")) == nil)
        #expect(t.check(against: try filter("cbm/qinshui/+/+/telemetry")) == nil)
        #expect(t.check(against: try filter("cbm/#")) == nil)
        #expect(t.check(against: try filter("#")) == nil)
        #expect(t.check(against: try filter("cbm/+/+/telemetry"))
            == "the template has 5 levels, topic \"cbm/+/+/telemetry\" has 4")
        #expect(t.check(against: try filter("cbm/+/+/+/telemetry/+"))
            == "the template has 5 levels, topic \"cbm/+/+/+/telemetry/+\" has 6")
        #expect(t.check(against: try filter("cbm/+/+/+/status"))
            == "level 5 is \"telemetry\" in the template but \"status\" in topic \"cbm/+/+/+/status\"")
        #expect(t.check(against: try filter("gas/#"))
            == "level 1 is \"cbm\" in the template but \"gas\" in topic \"gas/#\"")
        #expect(t.check(against: try filter("cbm/a/b/c/d/e/#"))
            == "the template has 5 levels, topic \"cbm/a/b/c/d/e/#\" at least 6")
        #expect(t.check(against: try filter("cbm/a/b/c/telemetry/#")) == nil)
        // A + in the filter may be narrowed by a literal of the template (topics of the filter
        // that the template does not take are rejected one by one as topic_mismatch).
        #expect(t.check(against: try filter("cbm/+/+/+/+")) == nil)
        #expect(t.check(against: try filter("cbm/a/b/c/d/#"))
            == "level 5 is \"telemetry\" in the template but \"d\" in topic \"cbm/a/b/c/d/#\"")
    }
}

@Suite("Topic filters")
struct TopicFilterTests {
    @Test("parse errors", arguments: [
        ("", "empty topic"),
        ("cbm/#/x", "# must be the whole last level"),
        ("cbm/a#", "# must be the whole last level"),
        ("cbm/#a", "# must be the whole last level"),
        ("cbm/+x", "+ must be a whole level"),
        ("cbm/x+/y", "+ must be a whole level"),
    ])
    func parseErrors(_ text: String, _ message: String) {
        #expect(TopicFilter.parse(text).failure?.description == message)
    }

    @Test func parsesLevels() throws {
        let f = try filter("cbm/+/+/+/telemetry")
        #expect(f.levels == ["cbm", "+", "+", "+", "telemetry"])
        #expect(f.description == "cbm/+/+/+/telemetry")
        #expect(try filter("/").levels == ["", ""])
        #expect(try filter("#").levels == ["#"])
    }

    @Test("matches", arguments: [
        ("cbm/+/+/+/telemetry", "cbm/qinshui/b3/W-001/telemetry", true),
        ("cbm/+/+/+/telemetry", "cbm/qinshui/b3/telemetry", false),
        ("cbm/+/+/+/telemetry", "cbm/qinshui/b3/W-001/telemetry/x", false),
        ("cbm/+/+/+/telemetry", "cbm/qinshui/b3/W-001/status", false),
        ("cbm/+/+/+/telemetry", "cbm/qinshui//W-001/telemetry", true),  // + matches an empty level
        ("cbm/#", "cbm", true),  // # includes the parent level
        ("cbm/#", "cbm/a", true),
        ("cbm/#", "cbm/a/b/c", true),
        ("cbm/#", "cbm/", true),
        ("cbm/#", "cbmx/a", false),
        ("cbm/#", "other/a", false),
        ("#", "a/b/c", true),
        ("#", "/", true),
        ("+", "a", true),
        ("+", "a/b", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("cbm/+", "cbm/", true),
        ("cbm/+", "cbm", false),
        ("cbm/+/#", "cbm/a", true),
        ("cbm/+/#", "cbm", false),
        ("a/b", "a/b", true),
        ("a/b", "a/b/", false),
        ("a/b", "a/bc", false),
        ("a/b", "A/b", false),
        // $ topics are not matched by a leading wildcard (MQTT 3.1.1 §4.7.2).
        ("#", "$SYS/broker/uptime", false),
        ("+/broker/uptime", "$SYS/broker/uptime", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/+/uptime", "$SYS/broker/uptime", true),
        ("$SYS/broker/uptime", "$SYS/broker/uptime", true),
        ("cbm/#", "cbm/$x", true),
    ])
    func matches(_ f: String, _ topic: String, _ expected: Bool) throws {
        #expect(try filter(f).matches(topic) == expected)
    }
}
