@testable import CBMIngest
import Foundation
import Testing

/// The status page: self-contained, escaped, in the model's order, bilingual, and sound on an
/// empty or odd model.
@Suite("StatusPage")
struct StatusPageTests {
    static func figures(_ scope: String, _ id: String, gas: Double, utilised: Double = 0, expectedDay: Double? = nil,
                        expectedSoFar: Double? = nil) -> StatusView.Figures {
        .init(scope: scope, id: id, gasM3: gas, utilisedM3: utilised, flaredM3: max(0, gas - utilised),
              utilisationRate: gas > 0 ? utilised / gas : nil, coalT: gas * 1.2143 / 1000, co2eT: gas * 0.0185,
              expectedDayM3: expectedDay, expectedSoFarM3: expectedSoFar, openHourGasM3: gas / 20, coverage: 0.98, estimated: false)
    }

    static func well(_ id: String, _ state: StatusView.WellState, field: String = "F1", gas: Double = 100, expected: Double? = 120) -> StatusView.Well {
        .init(id: id, field: field, block: "B1", state: state, lastSeen: "2026-03-02T09:55:00+08:00", lastRateM3h: 5.25,
              gasDayM3: gas, expectedDayM3: expected.map { $0 * 2 }, expectedSoFarM3: expected, ofExpected: expected.map { gas / $0 })
    }

    static func sample() -> StatusView {
        var hourly: [StatusView.HourPoint] = []
        for h in 0..<48 {
            let hour = (h + 10) % 24
            let start = "2026-03-0\(1 + (h + 10) / 24)T\(hour < 10 ? "0" : "")\(hour):00:00+08:00"
            hourly.append(.init(start: start, field: "F1", gasM3: 400 + Double(h), open: h == 47))
            hourly.append(.init(start: start, field: "F2", gasM3: 250, open: h == 47))
        }
        return StatusView(
            generatedAt: "2026-03-02T09:58:12+08:00", watermark: "2026-03-02T09:57:00+08:00", ready: true, brokerConnected: true,
            messagesPerSecond: 123.456, basis: "m³ (20C)", coalKgcePerM3: 1.2143, co2eKgPerM3: 18.5,
            openHour: .init(start: "2026-03-02T09:00:00+08:00", end: "2026-03-02T10:00:00+08:00"),
            gasDay: .init(start: "2026-03-02T08:00:00+08:00", end: "2026-03-03T08:00:00+08:00"), gasDayElapsed: 0.0826,
            total: figures("all", "all", gas: 12345.6449, utilised: 11000, expectedDay: 150000, expectedSoFar: 12400),
            fields: [figures("field", "F1", gas: 8000, expectedDay: 100000, expectedSoFar: 8200), figures("field", "F2", gas: 4345.6449)],
            sectors: [figures("sector", "power", gas: 0, utilised: 7000), figures("sector", "residential", gas: 0, utilised: 4000)],
            hourly: hourly,
            wells: [well("W07", .silent), well("W03", .low, gas: 10), well("W01", .maintenance), well("W02", .ok, field: "F2", expected: nil)],
            alarms: [
                .init(rule: "well-no-data", scope: "well", id: "W07", severity: "critical", since: "2026-03-02T07:10:00+08:00",
                      message: "no data for 2h48m", value: nil, threshold: 3600, acknowledged: false, shelvedUntil: nil),
                .init(rule: "well-low-output", scope: "well", id: "W03", severity: "warning", since: "2026-03-02T09:00:00+08:00",
                      message: "output 8% of expected", value: 0.083, threshold: 0.5, acknowledged: true,
                      shelvedUntil: "2026-03-02T13:00:00+08:00"),
            ],
            rejectsLastHour: ["unknown_asset": 3, "bad_json": 7, "implausible": 1])
    }

    static func empty() -> StatusView {
        StatusView(generatedAt: "2026-03-02T09:58:12+08:00", watermark: nil, ready: false, brokerConnected: false, messagesPerSecond: 0,
                   basis: "m³ (20C)", coalKgcePerM3: 1.2143, co2eKgPerM3: 18.5, openHour: nil, gasDay: nil, gasDayElapsed: 0,
                   total: figures("all", "all", gas: 0), fields: [], sectors: [], hourly: [], wells: [], alarms: [], rejectsLastHour: [:])
    }

    static func matches(_ pattern: String, in text: String) -> [[String]] {
        let re = try! NSRegularExpression(pattern: pattern)
        return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            (0..<m.numberOfRanges).map { Range(m.range(at: $0), in: text).map { String(text[$0]) } ?? "" }
        }
    }

    /// The page without its inline style and script: what is drawn and written.
    static func content(_ page: String) -> String {
        page.replacingOccurrences(of: "<script>[\\s\\S]*?</script>", with: "", options: .regularExpression)
            .replacingOccurrences(of: "<style>[\\s\\S]*?</style>", with: "", options: .regularExpression)
    }

    @Test("the page is one self-contained HTML5 document: no URL, no src=, no <link>, no CSS url()/@import")
    func selfContained() {
        for lang in [StatusPage.Language.en, .zh] {
            let page = StatusPage.render(Self.sample(), language: lang, refreshSeconds: 30)
            #expect(page.hasPrefix("<!DOCTYPE html>"))
            #expect(page.contains("<meta charset=\"utf-8\">"))
            for bad in ["http://", "https://", "src=", "<link", "url(", "@import", "xmlns", "//cdn"] {
                #expect(!page.lowercased().contains(bad), "\(lang): \(bad)")
            }
            #expect(Self.matches("<script", in: page).count == 1)
            #expect(page.hasSuffix("</html>\n"))
        }
    }

    @Test("it refreshes itself every refreshSeconds, keeping the language, and links both languages")
    func refresh() {
        let zh = StatusPage.render(Self.sample(), language: .zh, refreshSeconds: 45)
        #expect(zh.contains("<meta http-equiv=\"refresh\" content=\"45; url=?lang=zh\">"))
        #expect(zh.contains("href=\"?lang=en\"") && zh.contains("href=\"?lang=zh\""))
        #expect(StatusPage.render(Self.sample(), language: .en, refreshSeconds: 10).contains("content=\"10; url=?lang=en\""))
        #expect(!StatusPage.render(Self.sample(), language: .en, refreshSeconds: 0).contains("http-equiv"))
    }

    @Test("model text is escaped everywhere: ids, messages, fields, hours, the basis")
    func escaping() {
        var v = Self.sample()
        let evil = "<script>alert('x')</script>&\""
        v.wells[0].id = evil
        v.wells[1].field = evil
        v.fields[0].id = evil
        v.sectors[0].id = evil
        v.hourly[0].field = evil
        v.alarms[0].message = evil
        v.alarms[0].id = evil
        v.basis = evil
        v.rejectsLastHour = [evil: 1]
        let page = StatusPage.render(v, language: .en, refreshSeconds: 30)
        #expect(!page.contains("<script>alert"))
        #expect(!page.contains("'x'"))
        #expect(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"))
        #expect(page.contains("data-well=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\""))
        #expect(Self.matches("<script", in: page).count == 1)
        #expect(StatusPage.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
    }

    @Test("wells rows come in the model's order, each with its data-state and a badge")
    func wellsOrder() {
        let v = Self.sample()
        let page = StatusPage.render(v, language: .en, refreshSeconds: 30)
        let rows = Self.matches("<tr data-well=\"([^\"]*)\" data-state=\"([^\"]*)\">", in: page)
        #expect(rows.map { $0[1] } == v.wells.map(\.id))
        #expect(rows.map { $0[2] } == ["silent", "low", "maintenance", "ok"])
        #expect(page.contains("<table id=\"wells\" class=\"sortable\">"))
        #expect(page.contains("class=\"badge st-silent\""))
        // The % of expected sorts on the number, and a missing one on an empty data-sort.
        let w03 = Self.matches("<tr data-well=\"W03\"[\\s\\S]*?</tr>", in: page).first?.first ?? ""
        #expect(w03.contains("data-sort=\"10.0\">10.0</td>"))
        #expect(w03.contains("data-sort=\"8.333333333333332\">8.3</td>") || w03.contains("data-sort=\"8.333333333333334\">8.3</td>"))
        let w02 = Self.matches("<tr data-well=\"W02\"[\\s\\S]*?</tr>", in: page).first?.first ?? ""
        #expect(w02.contains("data-sort=\"\">–</td>"))
    }

    @Test("total-gas-day carries the number with one decimal and the exact value")
    func totalGasDay() throws {
        for (gas, shown) in [(12345.6449, "12345.6"), (1_234_567.96, "1234568.0"), (0, "0.0"), (-0.04, "0.0"), (99.95, "100.0")] {
            var v = Self.sample()
            v.total.gasM3 = gas
            let page = StatusPage.render(v, language: .zh, refreshSeconds: 30)
            let m = Self.matches("<span id=\"total-gas-day\" data-value=\"([^\"]*)\">([^<]*)</span>", in: page)
            #expect(m.count == 1)
            #expect(m.first?[1] == String(describing: gas))
            #expect(m.first?[2] == shown, "\(gas)")
            #expect(Double(m.first?[1] ?? "") == gas)
        }
    }

    @Test("numbers: '.' decimal, no grouping, fixed digits, and a dash for what is not a number")
    func numbers() {
        #expect(StatusPage.num(1234567.25, 1) == "1234567.3")
        #expect(StatusPage.num(0.5, 0) == "1")
        #expect(StatusPage.num(-2.345, 2) == "-2.35" || StatusPage.num(-2.345, 2) == "-2.34")
        #expect(StatusPage.num(-0.001, 1) == "0.0")
        #expect(StatusPage.num(3.04, 2) == "3.04")
        #expect(StatusPage.num(7, 3) == "7.000")
        #expect(StatusPage.num(.nan, 1) == "–")
        #expect(StatusPage.num(-.infinity, 1) == "–")
        #expect(StatusPage.num(nil as Double?, 1) == "–")
        #expect(StatusPage.pct(0.8734) == "87.3")
    }

    @Test("the zh page is in Chinese and the en page in English")
    func languages() {
        let zh = StatusPage.render(Self.sample(), language: .zh, refreshSeconds: 30)
        let en = StatusPage.render(Self.sample(), language: .en, refreshSeconds: 30)
        let pairs = [("Gas day so far", "本气日累计"), ("Production by field, last 48 h", "近48小时各区块产气"),
                     ("Utilisation by sector", "分行业利用"), ("Utilisation rate", "利用率"), ("Standard coal", "折标煤"),
                     ("CO₂e avoided", "二氧化碳当量减排"), ("Wells", "气井"), ("Silent", "无数据"), ("Low", "低产"),
                     ("Maintenance", "检修"), ("Active alarms", "活动报警"), ("Acknowledge", "确认"), ("Unshelve", "取消搁置"),
                     ("Expected so far", "计划")]
        for (e, z) in pairs {
            #expect(en.contains(e), "en: \(e)")
            #expect(zh.contains(z), "zh: \(z)")
            #expect(!Self.content(zh).contains(">\(e)<"), "zh has \(e)")
        }
        #expect(!en.contains("本气日累计") && !en.contains("活动报警"))
        #expect(zh.contains("<html lang=\"zh-CN\">") && en.contains("<html lang=\"en\">"))
        // Units and the basis are always shown.
        for page in [en, zh] {
            for unit in ["m³", "m³/h", " t<", " %", "m³ (20C)"] { #expect(page.contains(unit), "\(unit)") }
        }
    }

    @Test("an empty model renders: no NaN or infinity, 'no data yet' notes, no rows")
    func emptyModel() {
        for lang in [StatusPage.Language.en, .zh] {
            let page = StatusPage.render(Self.empty(), language: lang, refreshSeconds: 30)
            let shown = Self.content(page)
            #expect(Self.matches("(?i)\\b(nan|inf|infinity)\\b", in: shown).isEmpty)
            #expect(shown.contains(lang == .en ? "no data yet" : "暂无数据"))
            #expect(shown.contains(lang == .en ? "no active alarms" : "无活动报警"))
            #expect(!shown.contains("<svg"))
            #expect(!shown.contains("data-well=") && !shown.contains("data-alarm="))
            #expect(shown.contains("<table id=\"wells\"") && shown.contains("id=\"alarms\""))
            #expect(shown.contains("id=\"total-gas-day\" data-value=\"0.0\">0.0<"))
        }
    }

    @Test("odd numbers (NaN, infinite, negative, all zero, one hour) never reach the SVG as nan/inf")
    func oddNumbers() {
        var v = Self.sample()
        v.total.gasM3 = .nan
        v.total.utilisationRate = .infinity
        v.fields[0].gasM3 = .infinity
        v.fields[1].expectedSoFarM3 = -.infinity
        v.sectors[0].utilisedM3 = .nan
        v.hourly = [.init(start: "not a time", field: "F1", gasM3: .nan, open: true),
                    .init(start: "not a time", field: "F2", gasM3: -5, open: false)]
        v.wells[0].lastRateM3h = .nan
        v.wells[1].ofExpected = .infinity
        v.alarms[0].value = .nan
        v.messagesPerSecond = .infinity
        v.gasDayElapsed = .nan
        for lang in [StatusPage.Language.en, .zh] {
            let page = Self.content(StatusPage.render(v, language: lang, refreshSeconds: 30))
            #expect(Self.matches("(?i)\\b(nan|inf|infinity)\\b", in: page).isEmpty)
            #expect(Self.matches("<svg", in: page).count == 3)
        }
        var zero = Self.sample()
        zero.hourly = zero.hourly.map { var p = $0; p.gasM3 = 0; return p }
        zero.fields = zero.fields.map { var f = $0; f.gasM3 = 0; f.expectedSoFarM3 = 0; return f }
        zero.sectors = zero.sectors.map { var s = $0; s.utilisedM3 = 0; return s }
        let page = Self.content(StatusPage.render(zero, language: .en, refreshSeconds: 30))
        #expect(Self.matches("(?i)\\b(nan|inf|infinity)\\b", in: page).isEmpty)
    }

    @Test("three charts, each an <svg> with a <title>; one series per field; the open hour dashed")
    func charts() {
        let page = StatusPage.render(Self.sample(), language: .en, refreshSeconds: 30)
        let svgs = Self.matches("<svg[^>]*><title>([^<]+)</title>", in: page)
        #expect(svgs.count == 3)
        #expect(Self.matches("<svg", in: page).count == Self.matches("</svg>", in: page).count)
        for id in ["chart-hourly", "chart-fields", "chart-sectors"] { #expect(page.contains("<figure id=\"\(id)\">")) }
        let series = Self.matches("<g class=\"series\" data-field=\"([^\"]*)\" stroke=\"([^\"]*)\"", in: page)
        #expect(series.map { $0[1] } == ["F1", "F2"])
        #expect(Set(series.map { $0[2] }).count == 2)
        #expect(Self.matches("<polyline class=\"open\"", in: page).count == 2)
        #expect(page.contains("<rect class=\"openband\""))
        #expect(page.contains(">m³/h</text>"))
        // The field bars: a marker where there is an expected figure, the day's expected as text.
        #expect(Self.matches("<line class=\"marker\"", in: page).count == 1)
        #expect(page.contains("100000.0 m³"))
    }

    @Test("the alarm rows name their alarm, have ack/shelve buttons, and unshelve when shelved")
    func alarms() {
        let page = StatusPage.render(Self.sample(), language: .en, refreshSeconds: 30)
        let rows = Self.matches("<tr data-alarm=\"([^\"]*)\"[\\s\\S]*?</tr>", in: page)
        #expect(rows.map { $0[1] } == ["well/W07/well-no-data", "well/W03/well-low-output"])
        #expect(rows.allSatisfy { $0[0].contains("<button type=\"button\" class=\"ack\">") && $0[0].contains("class=\"shelve\"") })
        #expect(rows.map { $0[0].contains("class=\"unshelve\"") } == [false, true])
        #expect(rows[0][0].contains("<option value=\"1h\">") && rows[0][0].contains("<option value=\"8h\">"))
        for s in ["/api/alarms/", "'ack'", "'shelve'", "'unshelve'", "cbm-ingest-token", "'Content-Type':'application/json'",
                  "'Bearer '", "by:'status page'", "getElementById('message')", "location.reload()"] {
            #expect(page.contains(s), "\(s)")
        }
        #expect(page.contains("id=\"message\"") && page.contains("id=\"token\""))
    }

    @Test("rejects in the last hour are listed by code")
    func rejects() {
        let page = StatusPage.render(Self.sample(), language: .en, refreshSeconds: 30)
        let codes = Self.matches("<tr data-code=\"([^\"]*)\"><td>[^<]*</td><td class=\"num\">([0-9]+)</td>", in: page)
        #expect(codes.map { $0[1] } == ["bad_json", "implausible", "unknown_asset"])
        #expect(codes.map { $0[2] } == ["7", "1", "3"])
    }

    @Test("the markup is balanced: every table, row, cell, section, figure, svg and group is closed")
    func balanced() {
        for v in [Self.sample(), Self.empty()] {
            let page = StatusPage.render(v, language: .en, refreshSeconds: 30)
            for tag in ["table", "thead", "tbody", "tr", "td", "th", "section", "figure", "svg", "g", "text", "div", "span", "p", "button", "select"] {
                #expect(Self.matches("<\(tag)[ >]", in: page).count == Self.matches("</\(tag)>", in: page).count, "\(tag)")
            }
        }
    }

    @Test("language: ?lang= first, then Accept-Language by preference (zh* → zh), else en")
    func language() {
        #expect(StatusPage.language(query: "lang=en", acceptLanguage: "zh-CN,zh;q=0.9") == .en)
        #expect(StatusPage.language(query: "x=1&lang=zh", acceptLanguage: "en-US") == .zh)
        #expect(StatusPage.language(query: "?lang=zh-CN", acceptLanguage: nil) == .zh)
        #expect(StatusPage.language(query: "lang=fr", acceptLanguage: "zh-TW") == .zh)
        // The server passes the parameter's value alone.
        #expect(StatusPage.language(query: "zh", acceptLanguage: "en-GB") == .zh)
        #expect(StatusPage.language(query: "en", acceptLanguage: "zh-CN") == .en)
        #expect(StatusPage.language(query: "fr", acceptLanguage: "zh-CN") == .zh)
        #expect(StatusPage.language(query: nil, acceptLanguage: "zh-CN") == .zh)
        #expect(StatusPage.language(query: "", acceptLanguage: "en-US,en;q=0.9,zh-CN;q=0.8") == .en)
        #expect(StatusPage.language(query: nil, acceptLanguage: "fr-FR, zh;q=0.5, en;q=0.4") == .zh)
        #expect(StatusPage.language(query: nil, acceptLanguage: "en;q=0.3, zh-Hans;q=0.7") == .zh)
        #expect(StatusPage.language(query: nil, acceptLanguage: "zh;q=0, en") == .en)
        #expect(StatusPage.language(query: nil, acceptLanguage: "de") == .en)
        #expect(StatusPage.language(query: nil, acceptLanguage: nil) == .en)
    }
}
