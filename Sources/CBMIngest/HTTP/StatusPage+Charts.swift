import CBMCore
import Foundation

/// The status page's inline SVG charts: production by field per hour, the gas day against
/// expected by field, utilisation by sector.
extension StatusPage.Renderer {
    /// Opens an SVG of the given size with its title (closed by the caller).
    mutating func svg(_ w: Int, _ ht: Int, _ title: String) {
        h.raw("<svg viewBox=\"0 0 \(w) \(ht)\" width=\"100%\" role=\"img\" preserveAspectRatio=\"xMinYMin meet\">")
        h.el("title", [:], title)
    }

    /// A "nice" axis: top ≥ max and a step of 1, 2 or 5 × 10ⁿ, about five ticks.
    static func axis(_ maxValue: Double) -> (top: Double, step: Double, digits: Int) {
        guard maxValue.isFinite, maxValue > 0 else { return (1, 0.25, 2) }
        let raw = maxValue / 5, mag = pow(10, log10(raw).rounded(.down))
        let n = raw / mag, step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag
        return ((maxValue / step).rounded(.up) * step, step, step >= 1 ? 0 : step >= 0.1 ? 1 : 2)
    }

    mutating func hourlyChart() {
        // Hours in time order (by instant when they parse), fields in first-seen order.
        var hours: [String] = [], fields: [String] = []
        var at: [String: [String: StatusView.HourPoint]] = [:]
        for p in v.hourly {
            if at[p.start] == nil { hours.append(p.start) }
            if !fields.contains(p.field) { fields.append(p.field) }
            at[p.start, default: [:]][p.field] = p
        }
        func key(_ s: String) -> Int64 { (try? RFC3339.parse(s).get())?.microseconds ?? .min }
        hours.sort { (key($0), $0) < (key($1), $1) }
        let W = 760, H = 300, L = 70.0, R = 10.0, T = 12.0, B = 46.0
        let pw = Double(W) - L - R, ph = Double(H) - T - B, n = hours.count, band = pw / Double(n)
        let ax = Self.axis(v.hourly.map { StatusPage.fin($0.gasM3) }.max() ?? 0)
        func x(_ i: Int) -> Double { L + (Double(i) + 0.5) * band }
        func y(_ val: Double) -> Double { T + ph - max(0, min(val, ax.top)) / ax.top * ph }
        svg(W, H, t("Production by field per hour, last 48 h (m³/h)", "近48小时各区块逐时产气（m³/h）"))
        for (i, hr) in hours.enumerated() where at[hr]?.values.contains(where: \.open) == true {
            h.raw("<rect class=\"openband\" x=\"\(StatusPage.num(x(i) - band / 2))\" y=\"\(T)\" width=\"\(StatusPage.num(band))\" height=\"\(ph)\"/>")
        }
        yAxis(ax, L, pw, y, "m³/h")
        // x ticks: every k hours, on hours of the day divisible by k where the start parses.
        let k = [1, 2, 3, 6, 12, 24].first { n / $0 <= 8 } ?? 24
        for (i, hr) in hours.enumerated() {
            let c = Array(hr), hod = c.count >= 13 ? Int(String(c[11...12])) : nil
            guard (hod ?? i) % k == 0 else { continue }
            let xs = StatusPage.num(x(i))
            h.raw("<line class=\"tick\" x1=\"\(xs)\" x2=\"\(xs)\" y1=\"\(T + ph)\" y2=\"\(T + ph + 4)\"/><text class=\"xl\" x=\"\(xs)\" y=\"\(T + ph + 16)\">")
            h.text(c.count >= 16 ? String(c[11...15]) : hr)
            if c.count >= 16, hod == 0 || i < k { h.raw("<tspan x=\"\(xs)\" dy=\"12\">"); h.text(String(c[5...9])); h.raw("</tspan>") }
            h.raw("</text>")
        }
        func xy(_ p: (Double, Double)) -> String { "\(StatusPage.num(p.0)),\(StatusPage.num(p.1))" }
        func dot(_ p: (Double, Double), _ r: String, _ cls: String?) {
            h.open("circle", ["class": cls, "r": r, "cx": StatusPage.num(p.0), "cy": StatusPage.num(p.1)]); h.close("circle")
        }
        for (fi, field) in fields.enumerated() {
            let colour = StatusPage.palette[fi % StatusPage.palette.count]
            h.open("g", ["class": "series", "data-field": field, "stroke": colour, "fill": colour])
            // Closed hours: solid runs (a lone hour as a dot); the open hour: a dashed link and a hollow dot.
            var run: [(Double, Double)] = [], prev: (Double, Double)?
            func flush() {
                if run.count > 1 { h.raw("<polyline fill=\"none\" points=\"\(run.map(xy).joined(separator: " "))\"/>") }
                else if let p = run.first { dot(p, "2.5", nil) }
                run = []
            }
            for (i, hr) in hours.enumerated() {
                guard let p = at[hr]?[field] else { flush(); prev = nil; continue }
                let pt = (x(i), y(StatusPage.fin(p.gasM3)))
                if p.open {
                    flush()
                    if let prev { h.raw("<polyline class=\"open\" fill=\"none\" points=\"\(xy(prev)) \(xy(pt))\"/>") }
                    dot(pt, "3.5", "open")
                } else { run.append(pt) }
                prev = pt
            }
            flush()
            h.raw("</g>")
        }
        h.raw("</svg><div class=\"legend\">")
        for (fi, field) in fields.enumerated() {
            h.raw("<span><i style=\"background:\(StatusPage.palette[fi % StatusPage.palette.count])\"></i>"); h.text(field); h.raw("</span>")
        }
        h.el("span", ["class": "muted"], "┄ " + t("open hour (still growing)", "当前小时（仍在累计）"))
        h.raw("</div>")
    }

    /// Horizontal grid lines with value labels, and the unit.
    mutating func yAxis(_ ax: (top: Double, step: Double, digits: Int), _ L: Double, _ pw: Double, _ y: (Double) -> Double, _ unit: String) {
        var val = 0.0
        while val <= ax.top * 1.000001 {
            let ys = StatusPage.num(y(val))
            h.raw("<line class=\"grid\" x1=\"\(L)\" x2=\"\(L + pw)\" y1=\"\(ys)\" y2=\"\(ys)\"/><text class=\"yl\" x=\"\(L - 4)\" y=\"\(ys)\">\(StatusPage.num(val, ax.digits))</text>")
            val += ax.step
        }
        h.raw("<text class=\"unit\" x=\"4\" y=\"10\">\(StatusPage.escape(unit))</text>")
    }

    struct Bar { var label: String; var value: Double; var marker: Double?; var note: String; var cls: String }

    /// Horizontal bars (one per row) on a shared m³ axis, with an optional marker per bar.
    mutating func bars(_ title: String, _ rows: [Bar]) {
        let W = 760, L = 120.0, R = 210.0, T = 8.0, rh = 24.0, H = Int(T + rh * Double(rows.count) + 34)
        let pw = Double(W) - L - R, bottom = T + rh * Double(rows.count)
        let ax = Self.axis(rows.flatMap { [StatusPage.fin($0.value), StatusPage.fin($0.marker)] }.max() ?? 0)
        func x(_ val: Double) -> Double { L + max(0, min(val, ax.top)) / ax.top * pw }
        svg(W, H, title)
        var val = 0.0
        while val <= ax.top * 1.000001 {
            let xs = StatusPage.num(x(val))
            h.raw("<line class=\"grid\" x1=\"\(xs)\" x2=\"\(xs)\" y1=\"\(T)\" y2=\"\(bottom)\"/><text class=\"xl\" x=\"\(xs)\" y=\"\(bottom + 14)\">\(StatusPage.num(val, ax.digits))</text>")
            val += ax.step
        }
        h.raw("<text class=\"xl\" x=\"\(L + pw / 2)\" y=\"\(bottom + 28)\">\(StatusPage.escape(v.basis))</text>")
        for (i, b) in rows.enumerated() {
            let y0 = T + rh * Double(i), mid = StatusPage.num(y0 + rh / 2 + 4)
            h.open("g", ["class": "bar " + b.cls, "data-id": b.label])
            h.raw("<text class=\"bl\" x=\"\(L - 6)\" y=\"\(mid)\">"); h.text(b.label); h.raw("</text>")
            h.raw("<rect x=\"\(L)\" y=\"\(StatusPage.num(y0 + 4))\" height=\"\(rh - 8)\" width=\"\(StatusPage.num(x(StatusPage.fin(b.value)) - L))\"/>")
            if let m = b.marker, m.isFinite {
                let xs = StatusPage.num(x(m))
                h.raw("<line class=\"marker\" x1=\"\(xs)\" x2=\"\(xs)\" y1=\"\(StatusPage.num(y0 + 1))\" y2=\"\(StatusPage.num(y0 + rh - 1))\"/>")
            }
            h.raw("<text class=\"note\" x=\"\(L + pw + 8)\" y=\"\(mid)\">"); h.text(b.note); h.raw("</text></g>")
        }
        h.raw("</svg>")
    }

    mutating func fieldsChart() {
        bars(t("Gas day so far (bar) against expected so far (mark), by field, m³", "各区块本气日累计（条）与截至目前计划（标记），m³"), v.fields.map { f in
            let ratio = f.expectedSoFarM3.flatMap { $0 > 0 ? f.gasM3 / $0 : nil }
            return Bar(label: f.id, value: f.gasM3, marker: f.expectedSoFarM3,
                       note: "\(StatusPage.num(f.gasM3)) m³ · " + t("day", "全日计划") + " \(StatusPage.num(f.expectedDayM3)) m³",
                       cls: ratio.map { $0 < 0.8 ? "behind" : "" } ?? "")
        })
        h.el("div", ["class": "legend muted"], "▬ " + t("Gas day so far", "本气日累计") + "  ┃ " + t("Expected so far", "截至目前计划"))
    }

    mutating func sectorsChart() {
        let used = v.sectors.reduce(0) { $0 + StatusPage.fin($1.utilisedM3) }
        var rows = v.sectors.map { s in
            Bar(label: s.id, value: s.utilisedM3, marker: nil,
                note: "\(StatusPage.num(s.utilisedM3)) m³ · \(StatusPage.pct(used > 0 ? s.utilisedM3 / used : nil)) %", cls: "")
        }
        rows.append(Bar(label: t("Flared", "燃烧放空"), value: v.total.flaredM3, marker: nil, note: "\(StatusPage.num(v.total.flaredM3)) m³", cls: "flared"))
        h.el("p", ["class": "rate"], t("Utilisation rate", "利用率") + " \(StatusPage.pct(v.total.utilisationRate)) % ("
            + t("utilised", "利用") + " \(StatusPage.num(v.total.utilisedM3)) m³ / " + t("produced", "产出") + " \(StatusPage.num(v.total.gasM3)) m³)")
        bars(t("Utilised by sector, gas day so far, m³", "本气日分行业利用量，m³"), rows)
    }

    /// A table header; `text` columns sort on their cells' text (or `data-sort`), the others
    /// (`num`, `rank`) numerically on their cells' `data-sort`.
}
