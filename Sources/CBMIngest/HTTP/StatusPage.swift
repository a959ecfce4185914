import CBMCore
import Foundation

/// The status page: one self-contained HTML5 document (inline style, inline SVG charts, a little
/// inline script; nothing fetched from anywhere) rendering a ``StatusView`` in English or
/// Simplified Chinese. It reloads itself every `refreshSeconds`, keeping the language.
///
/// Everything from the model is HTML-escaped, and the script reads alarm names from `data-`
/// attributes only, so no model text ever lands inside the script. Numbers are printed by
/// ``num(_:_:)`` ("." decimal, no grouping), whatever the process locale.
enum StatusPage {
    enum Language: String, Sendable { case en, zh }

    /// The language a request asks for: `?lang=` first, then Accept-Language (zh* → zh), else en.
    /// `query` is either the `lang` parameter's value (`zh`) or the whole query (`x=1&lang=zh`,
    /// with or without the leading `?`); an unknown `lang` is ignored.
    static func language(query: String?, acceptLanguage: String?) -> Language {
        func pick(_ tag: Substring) -> Language? {
            let t = tag.trimmingCharacters(in: .whitespaces).lowercased()
            return t.hasPrefix("zh") ? .zh : t.hasPrefix("en") ? .en : nil
        }
        let q = (query ?? "").drop(while: { $0 == "?" })
        if !q.contains("="), let l = pick(q) { return l }
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == "lang", let l = pick(kv[1]) { return l }
        }
        // The most preferred of the languages offered (q-values; earlier wins a tie; q=0 is "not").
        var best: (lang: Language, q: Double)?
        for item in (acceptLanguage ?? "").split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let first = parts.first, let l = pick(first) else { continue }
            var q = 1.0
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == "q" {
                    q = Double(kv[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if q > 0, q > (best?.q ?? 0) { best = (l, q) }
        }
        return best?.lang ?? .en
    }

    static func render(_ v: StatusView, language: Language, refreshSeconds: Int) -> String {
        var r = Renderer(v: v, zh: language == .zh)
        r.page(language: language, refreshSeconds: refreshSeconds)
        return r.h.out
    }

    // MARK: - Formatting

    /// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes.
    static func escape(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": o += "&amp;"; case "<": o += "&lt;"; case ">": o += "&gt;"; case "\"": o += "&quot;"; case "'": o += "&#39;"
            default: o.unicodeScalars.append(c)
            }
        }
        return o
    }

    /// `x` with exactly `digits` decimals, "." as the point, no grouping; "–" when not finite.
    static func num(_ x: Double, _ digits: Int = 1) -> String {
        guard x.isFinite else { return "–" }
        var scale: Int64 = 1
        for _ in 0..<max(0, min(digits, 6)) { scale *= 10 }
        let r = (x.magnitude * Double(scale)).rounded()
        guard r < 9e15 else { return String(describing: x) }
        let n = Int64(r)
        var s = (x < 0 && n != 0 ? "-" : "") + String(n / scale)
        if scale > 1 {
            let f = String(n % scale)
            s += "." + String(repeating: "0", count: String(scale).count - 1 - f.count) + f
        }
        return s
    }

    static func num(_ x: Double?, _ digits: Int = 1) -> String { x.map { num($0, digits) } ?? "–" }
    /// A fraction as a percentage (0.873 → "87.3").
    static func pct(_ x: Double?) -> String { x.map { num($0 * 100, 1) } ?? "–" }
    /// A finite value, else 0: what the charts draw.
    static func fin(_ x: Double?) -> Double { x.flatMap { $0.isFinite ? $0 : nil } ?? 0 }

    /// A tiny HTML builder: raw text, escaped text, and elements with escaped attributes (a nil
    /// value leaves the attribute out).
    struct Builder {
        var out = ""
        mutating func raw(_ s: String) { out += s }
        mutating func text(_ s: String) { out += StatusPage.escape(s) }
        mutating func open(_ tag: String, _ attrs: KeyValuePairs<String, String?> = [:]) {
            out += "<" + tag
            for (k, v) in attrs { if let v { out += " \(k)=\"\(StatusPage.escape(v))\"" } }
            out += ">"
        }
        mutating func close(_ tag: String) { out += "</\(tag)>" }
        mutating func el(_ tag: String, _ attrs: KeyValuePairs<String, String?> = [:], _ text: String) {
            open(tag, attrs); self.text(text); close(tag)
        }
    }

    // MARK: - The page

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    /// Builds the page; the charts are in StatusPage+Charts.swift.
    struct Renderer {
        let v: StatusView
        let zh: Bool
        var h = Builder()

        func t(_ en: String, _ zh: String) -> String { self.zh ? zh : en }

        mutating func page(language: Language, refreshSeconds: Int) {
            let title = t("CBM field status", "煤层气田生产状态")
            h.raw("<!DOCTYPE html>\n")
            h.open("html", ["lang": zh ? "zh-CN" : "en"])
            h.raw("<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            if refreshSeconds > 0 {
                h.open("meta", ["http-equiv": "refresh", "content": "\(refreshSeconds); url=?lang=\(language.rawValue)"])
            }
            h.el("title", [:], title)
            h.raw("<style>\(StatusPage.css)</style></head>\n<body>")
            header(title, refreshSeconds)
            summary()
            h.open("section", ["id": "charts"])
            figure("chart-hourly", t("Production by field, last 48 h", "近48小时各区块产气"), v.hourly.isEmpty) { $0.hourlyChart() }
            figure("chart-fields", t("Gas day so far against expected, by field", "各区块本气日累计与计划"), v.fields.isEmpty) { $0.fieldsChart() }
            figure("chart-sectors", t("Utilisation by sector", "分行业利用"), v.sectors.isEmpty) { $0.sectorsChart() }
            h.close("section")
            fieldsTable()
            wellsTable()
            alarmsTable()
            rejectsTable()
            h.raw("\n<script>\(StatusPage.script)</script>\n</body></html>\n")
        }

        mutating func header(_ title: String, _ refresh: Int) {
            h.raw("<header>")
            h.el("h1", [:], title)
            h.raw("<nav class=\"lang\"><a href=\"?lang=en\" hreflang=\"en\">English</a> · <a href=\"?lang=zh\" hreflang=\"zh\">中文</a></nav>")
            h.open("dl", ["class": "status"])
            let span = { (s: StatusView.Span?) in s.map { "\($0.start) – \($0.end)" } ?? "–" }
            let items: [(String, String, String?, String)] = [
                (t("Generated at", "生成时间"), v.generatedAt, nil, "generated-at"),
                (t("Watermark", "水位线"), v.watermark ?? "–", nil, "watermark"),
                (t("Broker", "消息代理"), v.brokerConnected ? t("connected", "已连接") : t("disconnected", "未连接"),
                 v.brokerConnected ? "good" : "bad", "broker"),
                (t("Messages/s", "消息/秒"), StatusPage.num(v.messagesPerSecond, 1), nil, "rate"),
                (t("State", "状态"), v.ready ? t("ready", "就绪") : t("recovering", "恢复中"), v.ready ? "good" : "warn", "ready"),
                (t("Open hour", "当前小时"), span(v.openHour), nil, "open-hour"),
                (t("Gas day", "气日"), span(v.gasDay) + " (" + t("elapsed", "已过") + " \(StatusPage.pct(v.gasDayElapsed)) %)", nil, "gas-day"),
                (t("Basis", "计量基准"), v.basis, nil, "basis"),
            ]
            for (label, value, cls, id) in items {
                h.raw("<div>"); h.el("dt", [:], label); h.el("dd", ["id": id, "class": cls.map { "badge " + $0 }], value); h.raw("</div>")
            }
            h.close("dl")
            h.raw("<p class=\"token\"><label>")
            h.text(t("API token", "API令牌"))
            h.raw(" <input id=\"token\" type=\"password\" autocomplete=\"off\" size=\"24\"></label> ")
            h.el("span", ["class": "muted"], refresh > 0 ? t("refreshes every \(refresh) s", "每\(refresh)秒自动刷新") : "")
            h.raw("</p><p id=\"message\" role=\"alert\" hidden></p></header>\n")
        }

        mutating func summary() {
            let f = v.total
            let ofExpected = f.expectedSoFarM3.flatMap { $0 > 0 ? f.gasM3 / $0 : nil }
            h.raw("<section id=\"summary\"><div class=\"cards\">")
            h.open("div", ["class": "card main"])
            h.el("div", ["class": "label"], t("Gas day so far", "本气日累计"))
            h.raw("<div class=\"value\">")
            h.el("span", ["id": "total-gas-day", "data-value": f.gasM3.isFinite ? String(describing: f.gasM3) : ""], StatusPage.num(f.gasM3, 1))
            h.raw(" m³</div>")
            h.el("div", ["class": "sub"], t("Expected so far", "截至目前计划") + " \(StatusPage.num(f.expectedSoFarM3)) m³ (\(StatusPage.pct(ofExpected)) %) · "
                + t("for the day", "全日计划") + " \(StatusPage.num(f.expectedDayM3)) m³")
            h.close("div")
            let cards: [(String, String, String)] = [
                ("open-hour-gas", t("Open hour", "当前小时"), StatusPage.num(f.openHourGasM3) + " m³"),
                ("utilised", t("Utilised", "利用量"), StatusPage.num(f.utilisedM3) + " m³"),
                ("flared", t("Flared", "燃烧放空"), StatusPage.num(f.flaredM3) + " m³"),
                ("utilisation-rate", t("Utilisation rate", "利用率"), StatusPage.pct(f.utilisationRate) + " %"),
                ("coal", t("Standard coal", "折标煤"), StatusPage.num(f.coalT, 2) + " t"),
                ("co2e", t("CO₂e avoided", "二氧化碳当量减排"), StatusPage.num(f.co2eT, 2) + " t"),
                ("coverage", t("Coverage", "数据覆盖率"), StatusPage.pct(f.coverage) + " %" + (f.estimated ? " *" : "")),
            ]
            for (id, label, value) in cards {
                h.open("div", ["class": "card", "id": "card-" + id]); h.el("div", ["class": "label"], label)
                h.el("div", ["class": "value"], value); h.raw("</div>")
            }
            h.raw("</div>")
            h.el("p", ["class": "muted"], t("Volumes in", "体积单位") + " \(v.basis); " + t("factors", "折算系数")
                + " \(StatusPage.num(v.coalKgcePerM3, 4)) kgce/m³, \(StatusPage.num(v.co2eKgPerM3, 4)) kg CO₂e/m³"
                + (f.estimated ? "; * " + t("includes estimates", "含估算值") : ""))
            h.raw("</section>\n")
        }

        /// Opens a section with its heading (closed by the caller), and the "nothing here" note.
        mutating func section(_ title: String) { h.raw("<section><h2>"); h.text(title); h.raw("</h2>") }
        mutating func nodata(_ en: String = "no data yet", _ zh: String = "暂无数据", id: String? = nil) { h.el("p", ["id": id, "class": "nodata"], t(en, zh)) }

        mutating func figure(_ id: String, _ title: String, _ empty: Bool, _ body: (inout Renderer) -> Void) {
            h.open("figure", ["id": id]); h.el("figcaption", [:], title)
            if empty { nodata() } else { body(&self) }
            h.close("figure")
        }

        mutating func thead(_ cols: [(String, String)]) {
            h.raw("<thead><tr>")
            for (c, type) in cols { h.el("th", ["data-type": type, "class": type == "num" ? "num" : nil], c) }
            h.raw("</tr></thead>")
        }

        mutating func numCell(_ x: Double?, _ digits: Int = 1, percent: Bool = false) {
            let shown = percent ? StatusPage.pct(x) : StatusPage.num(x, digits)
            h.el("td", ["class": "num", "data-sort": x.flatMap { $0.isFinite ? String(describing: percent ? $0 * 100 : $0) : nil } ?? ""], shown)
        }

        /// A time as `<time>`, shown with a space for the `T` so that it can wrap between date and time.
        mutating func timeCell(_ s: String?) {
            guard let s else { return h.el("td", ["class": "time", "data-sort": ""], "–") }
            h.open("td", ["class": "time", "data-sort": s]); h.el("time", ["datetime": s], s.count > 10 && Array(s)[10] == "T" ? String(s.prefix(10)) + " " + s.dropFirst(11) : s)
            h.close("td")
        }

        mutating func fieldsTable() {
            section(t("Fields", "区块")); h.raw("<table id=\"fields\" class=\"sortable\">")
            thead([(t("Field", "区块"), "text"), (t("Gas day so far", "本气日累计") + ", m³", "num"), (t("Expected so far", "截至目前计划") + ", m³", "num"),
                   (t("% of expected", "计划完成率") + ", %", "num"), (t("Expected for the day", "全日计划") + ", m³", "num"), (t("Open hour", "当前小时") + ", m³", "num")])
            h.raw("<tbody>")
            for f in v.fields {
                h.open("tr", ["data-field": f.id]); h.el("td", [:], f.id)
                numCell(f.gasM3); numCell(f.expectedSoFarM3)
                numCell(f.expectedSoFarM3.flatMap { $0 > 0 ? f.gasM3 / $0 : nil }, percent: true)
                numCell(f.expectedDayM3); numCell(f.openHourGasM3); h.raw("</tr>")
            }
            h.raw("</tbody></table>")
            if v.fields.isEmpty { nodata() }
            h.raw("</section>\n")
        }

        func stateLabel(_ s: StatusView.WellState) -> String {
            switch s {
            case .silent: t("Silent", "无数据")
            case .low: t("Low", "低产")
            case .maintenance: t("Maintenance", "检修")
            case .ok: t("OK", "正常")
            }
        }

        mutating func wellsTable() {
            section(t("Wells", "气井")); h.raw("<p class=\"counts\">")
            for s in StatusView.WellState.allCases {
                h.el("span", ["class": "badge st-\(s.rawValue)", "data-count": s.rawValue], "\(stateLabel(s)) \(v.wells.filter { $0.state == s }.count)")
            }
            h.raw("</p><table id=\"wells\" class=\"sortable\">")
            thead([(t("Well", "井号"), "text"), (t("Field", "区块"), "text"), (t("Block", "井区"), "text"), (t("State", "状态"), "rank"),
                   (t("Last seen", "最后上报"), "text"), (t("Last rate", "最新流量") + ", m³/h", "num"), (t("Gas day so far", "本气日累计") + ", m³", "num"),
                   (t("Expected so far", "截至目前计划") + ", m³", "num"), (t("% of expected", "计划完成率") + ", %", "num")])
            h.raw("<tbody>")
            for w in v.wells {
                h.open("tr", ["data-well": w.id, "data-state": w.state.rawValue])
                h.el("td", [:], w.id); h.el("td", [:], w.field); h.el("td", [:], w.block)
                let rank = StatusView.WellState.allCases.firstIndex(of: w.state) ?? 0
                h.raw("<td data-sort=\"\(rank)\">"); h.el("span", ["class": "badge st-\(w.state.rawValue)"], stateLabel(w.state)); h.raw("</td>")
                timeCell(w.lastSeen)
                numCell(w.lastRateM3h, 2); numCell(w.gasDayM3); numCell(w.expectedSoFarM3); numCell(w.ofExpected, percent: true)
                h.raw("</tr>")
            }
            h.raw("</tbody></table>")
            if v.wells.isEmpty { nodata() }
            h.raw("</section>\n")
        }

        mutating func alarmsTable() {
            section(t("Active alarms", "活动报警"))
            guard !v.alarms.isEmpty else {
                nodata("no active alarms", "无活动报警", id: "no-alarms")
                return h.raw("<table id=\"alarms\" hidden><tbody></tbody></table></section>\n")
            }
            h.raw("<table id=\"alarms\">")
            thead([(t("Severity", "级别"), "text"), (t("Since", "开始时间"), "text"), (t("Alarm", "报警对象"), "text"), (t("Message", "信息"), "text"),
                   (t("Value / threshold", "值 / 阈值"), "num"), (t("Acknowledged", "已确认"), "text"), (t("Shelved until", "搁置至"), "text"), (t("Actions", "操作"), "text")])
            h.raw("<tbody>")
            for a in v.alarms {
                let sev = a.severity.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
                h.open("tr", ["data-alarm": "\(a.scope)/\(a.id)/\(a.rule)", "data-rule": a.rule, "data-scope": a.scope, "data-id": a.id,
                              "class": (a.acknowledged ? "acked" : "") + (a.shelvedUntil != nil ? " shelved" : "")])
                h.raw("<td>"); h.el("span", ["class": "badge sev-\(sev)"], a.severity); h.raw("</td>")
                timeCell(a.since)
                h.raw("<td>"); h.el("b", [:], "\(a.scope)/\(a.id)"); h.raw("<br>"); h.el("span", ["class": "muted"], a.rule); h.raw("</td>")
                h.el("td", ["class": "msg"], a.message)
                h.el("td", ["class": "num"], "\(StatusPage.num(a.value, 2)) / \(StatusPage.num(a.threshold, 2))")
                h.el("td", [:], a.acknowledged ? t("yes", "是") : t("no", "否"))
                timeCell(a.shelvedUntil)
                h.raw("<td class=\"actions\">")
                h.el("button", ["type": "button", "class": "ack"], t("Acknowledge", "确认"))
                h.raw(" <select class=\"shelve-for\" aria-label=\"duration\"><option value=\"1h\">1 h</option><option value=\"4h\" selected>4 h</option><option value=\"8h\">8 h</option></select>")
                h.el("button", ["type": "button", "class": "shelve"], t("Shelve", "搁置"))
                if a.shelvedUntil != nil { h.raw(" "); h.el("button", ["type": "button", "class": "unshelve"], t("Unshelve", "取消搁置")) }
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table></section>\n")
        }

        mutating func rejectsTable() {
            section(t("Rejects in the last hour", "近1小时拒收消息"))
            if v.rejectsLastHour.isEmpty { nodata("no rejects", "无拒收", id: "no-rejects") } else {
                h.raw("<table id=\"rejects\">"); thead([(t("Code", "代码"), "text"), (t("Count", "条数"), "num")]); h.raw("<tbody>")
                for (code, n) in v.rejectsLastHour.sorted(by: { $0.key < $1.key }) {
                    h.open("tr", ["data-code": code]); h.el("td", [:], code); h.el("td", ["class": "num"], String(n)); h.raw("</tr>")
                }
                h.raw("</tbody></table>")
            }
            h.raw("</section>\n")
        }
    }

    private static let css = """
        :root{--fg:#1b1f23;--muted:#6a737d;--line:#d0d7de;--bg:#fff;--alt:#f6f8fa}
        *{box-sizing:border-box}body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;padding:12px 16px;max-width:1200px}
        h1{font-size:20px;margin:0 12px 0 0;display:inline-block}h2{font-size:16px;margin:18px 0 6px;border-bottom:1px solid var(--line)}
        .lang{display:inline-block}a{color:#0969da}.muted{color:var(--muted)}.nodata{color:var(--muted);font-style:italic}
        dl.status{display:flex;flex-wrap:wrap;gap:2px 16px;margin:8px 0}dl.status dt{color:var(--muted)}dl.status dt::after{content:":"}dl.status div{white-space:nowrap}dl.status dt,dl.status dd{display:inline;margin:0 4px 0 0}
        .cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid var(--line);border-radius:6px;padding:6px 10px;min-width:130px}.card.main{min-width:300px}
        .card .label{color:var(--muted);font-size:12px}.card .value{font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}.card.main .value{font-size:26px}
        table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}th,td{padding:3px 6px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{background:var(--alt);font-weight:600}table.sortable th{cursor:pointer}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
        td.num,th.num{text-align:right}td.time{min-width:9em}td.msg{min-width:12em}section{overflow-x:auto}tbody tr:nth-child(even){background:var(--alt)}
        .badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;font-weight:600;color:#fff;background:#6a737d}
        .good,.st-ok{background:#1a7f37}.bad,.st-silent,.sev-critical,.sev-high,.sev-major{background:#cf222e}.warn,.st-low,.sev-warning,.sev-medium{background:#bf8700}
        .st-maintenance{background:#0969da}.sev-minor,.sev-low,.sev-info{background:#57606a}.counts .badge{margin-right:6px}
        figure{margin:10px 0;border:1px solid var(--line);border-radius:6px;padding:6px 10px}figcaption{font-weight:600}svg{max-width:760px;display:block}
        svg text{font-size:10px;fill:var(--fg)}svg .yl,svg .bl{text-anchor:end;dominant-baseline:middle}svg .xl{text-anchor:middle}svg .unit{font-weight:600}
        svg .grid{stroke:#eaeef2}svg .tick{stroke:#8c959f}svg .openband{fill:#f6f8fa}svg .series polyline{stroke-width:1.8}svg .series .open{stroke-dasharray:4 3;fill:#fff}
        svg .bar rect{fill:#1f77b4}svg .bar.behind rect{fill:#bf8700}svg .bar.flared rect{fill:#fb8f44}svg .marker{stroke:#1b1f23;stroke-width:2.5}
        .legend{font-size:12px}.legend span{margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.rate{margin:4px 0;font-weight:600}
        .actions button,.actions select{font-size:12px}#message{background:#ffebe9;border:1px solid #cf222e;padding:4px 8px;border-radius:4px;white-space:pre-wrap}
        @media print{.token,.lang,.actions,#message{display:none}body{max-width:none;padding:0}figure,tr{break-inside:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
        """

    private static let script = """
        (function(){var KEY='cbm-ingest-token',tok=document.getElementById('token'),each=function(l,f){Array.prototype.forEach.call(l,f);};
        function stored(){try{return localStorage.getItem(KEY)||'';}catch(e){return '';}}
        if(tok){tok.value=stored();tok.addEventListener('input',function(){try{if(tok.value){localStorage.setItem(KEY,tok.value);}else{localStorage.removeItem(KEY);}}catch(e){}});}
        function say(t){var m=document.getElementById('message');if(m){m.textContent=t;m.hidden=false;}}
        function send(action,row,button,extra){
          var body={rule:row.getAttribute('data-rule'),scope:row.getAttribute('data-scope'),id:row.getAttribute('data-id'),by:'status page'};
          if(extra){for(var k in extra){body[k]=extra[k];}}
          var headers={'Content-Type':'application/json'},t=(tok&&tok.value?tok.value:stored()).trim();
          if(t){headers['Authorization']='Bearer '+t;}
          button.disabled=true;
          fetch('/api/alarms/'+action,{method:'POST',headers:headers,body:JSON.stringify(body)}).then(function(r){
            if(r.ok){location.reload();return;}
            return r.text().then(function(x){button.disabled=false;say(x||(r.status+' '+r.statusText));});
          }).catch(function(e){button.disabled=false;say(String(e));});}
        document.addEventListener('click',function(ev){
          var b=ev.target&&ev.target.closest?ev.target.closest('#alarms button'):null,row=b?b.closest('tr'):null;if(!row){return;}
          if(b.classList.contains('ack')){send('ack',row,b);}
          else if(b.classList.contains('shelve')){var s=row.querySelector('select.shelve-for');send('shelve',row,b,{'for':s?s.value:'4h'});}
          else if(b.classList.contains('unshelve')){send('unshelve',row,b);}});
        each(document.querySelectorAll('table.sortable'),function(table){var head=table.tHead&&table.tHead.rows[0];if(!head){return;}
          each(head.cells,function(th,i){th.addEventListener('click',function(){var body=table.tBodies[0];if(!body){return;}
            var asc=th.getAttribute('aria-sort')!=='ascending',num=th.getAttribute('data-type')!=='text';
            each(head.cells,function(h){h.removeAttribute('aria-sort');});th.setAttribute('aria-sort',asc?'ascending':'descending');
            function key(r){var c=r.cells[i],s=!c?'':c.hasAttribute('data-sort')?c.getAttribute('data-sort'):c.textContent.trim();
              if(!num){return s;}var x=parseFloat(s);return isNaN(x)?-Infinity:x;}
            var rows=Array.prototype.slice.call(body.rows);
            rows.sort(function(a,b){var x=key(a),y=key(b),d=num?(x<y?-1:x>y?1:0):String(x).localeCompare(String(y));return asc?d:-d;});
            rows.forEach(function(r){body.appendChild(r);});});});});})();
        """
}
