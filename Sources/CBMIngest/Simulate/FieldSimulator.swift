import CBMCore
import Foundation

/// A synthetic CBM field, seeded and reproducible: wells in blocks and fields with realistic rates
/// (mostly vertical wells of a few hundred to a few thousand m³/d, a few horizontal ones far
/// higher), decline, pump stops, water, casing pressure; totalizers that roll over, are reset, or
/// step back a little (corrections), some far up their range;
/// delivery meters by sector taking production minus what the flares burn; communication outages
/// whose buffered history arrives late; and a little junk.
///
/// It speaks the topic and payload layouts of `config/cbm-ingest.yaml`, and it knows the truth:
/// every gas volume it generated, per asset and clock hour, rolled up like the ingester does.
/// Rates are constant between readings and every totalizer counts exactly, so the ingester's
/// totals must equal the truth (to the last rounding).
public struct FieldSimulator {
    public struct Options: Sendable {
        public var wells = 300
        public var fields = 2
        public var blocksPerField = 4
        /// The first reading.
        public var start = Timestamp(seconds: 1_795_996_800)
        public var hours = 24
        /// Seconds between readings.
        public var intervalSeconds = 300
        public var seed: UInt64 = 1
        /// Share of messages that are junk (malformed, unknown assets).
        public var junk = 0.002
        /// Share of wells with a communication outage whose history arrives late.
        public var outages = 0.05
        /// Store and forward: the first `backfillWells` wells' messages of the first
        /// `backfillHours` hours are held by their RTUs and arrive, in order, after the live stream
        /// has ended (a weekend on a failed radio link). The truth is the same: it is by event time.
        public var backfillWells = 0
        public var backfillHours = 0
        /// The last `silentWells` wells have a dead RTU and are shut in: no messages, no gas (a
        /// status page shows them silent).
        public var silentWells = 0
        public init() {}
    }

    /// A message: when to publish it (its receive time in a recording), where and what.
    public struct Message: Sendable {
        public var time: Timestamp
        public var topic: String
        public var payload: String
    }

    public let options: Options
    public private(set) var assets: [Asset] = []
    private var rng: SplitMix64

    public init(_ options: Options) {
        self.options = options
        rng = SplitMix64(state: options.seed &* 0x2545_F491_4F6C_DD1D &+ 1)
    }

    /// The field and its messages, and the truth: every generated gas volume, per asset and hour.
    public mutating func generate() -> (messages: [Message], hourly: [String: [Int64: Double]]) {
        let o = options
        let steps = o.hours * 3600 / o.intervalSeconds
        let dt = Double(o.intervalSeconds)
        // Wells.
        struct Well {
            var id: String, field: String, block: String, q0: Double, decline: Double, water: Double
            var counter: Double, rollover: Bool, stoppedUntil = -1, outage: Range<Int>? = nil
        }
        var wells: [Well] = []
        for i in 0..<o.wells {
            let f = i % o.fields, b = (i / o.fields) % o.blocksPerField
            let field = "F\(f + 1)", block = "F\(f + 1)-B\(b + 1)"
            let horizontal = i % 97 == 13
            let q0 = horizontal ? Double.random(in: 80_000...150_000, using: &rng)
                : exp(Double.random(in: log(100)...log(3000), using: &rng))
            let rollover = i % 53 == 7
            // Some counters far up their range, above half the rollover value, that never reach it.
            let high = i % 53 == 20
            var w = Well(id: String(format: "W-\(field)-%04d", i), field: field, block: block, q0: q0,
                         decline: Double.random(in: 0...0.002, using: &rng), water: Double.random(in: 0.2...5, using: &rng),
                         counter: rollover ? 1.0e9 - q0 / 24 * Double.random(in: 0.5...3, using: &rng)
                             : high ? Double(Int.random(in: 500_000_001...900_000_000, using: &rng))
                             : Double(Int.random(in: 10_000...50_000_000, using: &rng)),
                         rollover: rollover)
            if Double.random(in: 0..<1, using: &rng) < o.outages {
                let from = Int.random(in: 1..<max(2, steps - 2), using: &rng)
                w.outage = from..<min(steps, from + Int.random(in: 3...24, using: &rng))
            }
            wells.append(w)
        }
        let sectors: [(Asset.Sector, Double)] = [(.power, 0.35), (.cityGas, 0.2), (.transport, 0.15), (.industry, 0.1),
                                                 (.materials, 0.05), (.pipelineExport, 0.15)]
        assets = wells.map { Asset(id: $0.id, kind: .well, field: $0.field, block: $0.block, expectedGasM3d: ($0.q0 * 10).rounded() / 10) }
        let meters = sectors.enumerated().map { (i, s) in
            Asset(id: "M-\(s.0.rawValue.uppercased().replacingOccurrences(of: "_", with: "-"))-\(i + 1)", kind: .delivery, sector: s.0)
        }
        let flares = (0..<o.fields).map { Asset(id: "FL-F\($0 + 1)", kind: .flare, field: "F\($0 + 1)") }
        assets += meters + flares
        var meterCounters = meters.map { _ in Double(Int.random(in: 1_000...90_000, using: &rng)) }  // in 10^4 m3
        var flareCounters = flares.map { _ in Double(Int.random(in: 0...1_000_000, using: &rng)) }
        var flareShare = Double.random(in: 0.02...0.08, using: &rng)

        var hourly: [String: [Int64: Double]] = [:]
        var calendar = WindowCalendar(zone: TimeZone(identifier: "UTC")!, dayStartMinutes: 0)
        func credit(_ id: String, from t: Timestamp, volume: Double) {
            // The interval [t, t + dt) at a constant rate, split by clock hours (UTC hours are the
            // local hours of any whole-hour zone).
            var a = t
            let end = t + Int64(o.intervalSeconds) * 1_000_000
            while a < end {
                let hour = calendar.hour(containing: a)
                let b = min(end, hour.end)
                hourly[id, default: [:]][hour.start.microseconds, default: 0] += volume * Double(b - a) / Double(end - t)
                a = b
            }
        }
        var messages: [Message] = []
        var late: [Message] = []
        for k in 0...steps {
            let t = o.start + Int64(k * o.intervalSeconds) * 1_000_000
            let seconds = t.microseconds / 1_000_000
            var production = 0.0
            for i in wells.indices where i < wells.count - o.silentWells {
                var w = wells[i]
                // This interval's rate: decline, and now and then a pump stop.
                if k >= w.stoppedUntil && Int.random(in: 0..<400, using: &rng) == 0 { w.stoppedUntil = k + Int.random(in: 1...6, using: &rng) }
                let days = Double(k) * dt / 86_400
                let rate = k < w.stoppedUntil ? 0 : w.q0 * max(0.2, 1 - w.decline * days)
                let payload = #"{"ts":\#(seconds),"gas_m3h":\#(Self.num(rate / 24)),"gas_total":\#(Self.num(w.counter)),"water_m3d":\#(Self.num(rate > 0 ? w.water : 0)),"casing_kpa":\#(Self.num(650 + Double(i % 200)))}"#
                let m = Message(time: t, topic: "cbm/\(w.field)/\(w.block)/\(w.id)/telemetry", payload: payload)
                if let outage = w.outage, outage.contains(k) {
                    // Buffered by the RTU, sent when the link is back.
                    late.append(Message(time: o.start + Int64(outage.upperBound * o.intervalSeconds) * 1_000_000 + Int64(i % 1000) * 1000,
                                        topic: m.topic, payload: m.payload))
                } else {
                    messages.append(m)
                }
                guard k < steps else { wells[i] = w; continue }
                let volume = rate * dt / 86_400
                production += volume
                // A counter reset now and then (far from its rollover); a rollover when it is due;
                // now and then a small step back (a flow computer's audit correction).
                // The truth is what the counter shows (a meter's totalizer is the measurement), from
                // what the simulator did to it, not from how the ingester reads a fall.
                let before = w.counter
                var shown: Double
                if !w.rollover && Int.random(in: 0..<5000, using: &rng) == 0 {
                    w.counter = 0 + volume
                    shown = w.counter  // a reset: the counter counts from zero
                } else {
                    w.counter += volume
                    shown = w.counter - before
                }
                if Int.random(in: 0..<3000, using: &rng) == 0 && w.counter > before && w.counter > 100_000 {
                    w.counter -= volume + Double(Int.random(in: 1...500, using: &rng))
                    shown = w.counter - before  // a step back: the meter's correction
                }
                if w.rollover && w.counter >= 1.0e9 {
                    w.counter -= 1.0e9
                    shown = 1.0e9 - before + w.counter  // through the rollover value
                }
                credit(w.id, from: t, volume: shown)
                wells[i] = w
            }
            // Meters and flares: this interval's production, less what the flares burn.
            for (j, meter) in meters.enumerated() {
                messages.append(Message(time: t, topic: "cbm/delivery/\(meter.id)/meter",
                                        payload: #"{"time":\#(seconds * 1000),"flow_e4m3d":\#(Self.num(production / dt * 86_400 / 1e4 * sectors[j].1)),"total_e4m3":\#(Self.num(meterCounters[j]))}"#))
            }
            for (j, flare) in flares.enumerated() {
                messages.append(Message(time: t, topic: "cbm/\(flare.field!)/flare/\(flare.id)/telemetry",
                                        payload: #"{"ts":\#(seconds),"gas_total":\#(Self.num(flareCounters[j]))}"#))
            }
            guard k < steps else { continue }
            let flared = production * flareShare
            for (j, meter) in meters.enumerated() {
                let v = (production - flared) * sectors[j].1
                let before = meterCounters[j]
                meterCounters[j] += v / 1e4
                // Now and then a sales meter's correction: a step back of 10 to 500 m3 (0.001 to 0.05 in 10^4 m3).
                if Int.random(in: 0..<500, using: &rng) == 0 { meterCounters[j] -= v / 1e4 + Double(Int.random(in: 1...50, using: &rng)) / 1000 }
                credit(meter.id, from: t, volume: meterCounters[j] * 1e4 - before * 1e4)
            }
            for (j, flare) in flares.enumerated() {
                let v = flared / Double(flares.count)
                let before = flareCounters[j]
                flareCounters[j] += v
                credit(flare.id, from: t, volume: flareCounters[j] - before)
            }
            flareShare = min(0.2, max(0.01, flareShare + Double.random(in: -0.005...0.005, using: &rng)))
            // A little junk, as real fields send.
            if Double.random(in: 0..<1, using: &rng) < o.junk * Double(wells.count) {
                let w = wells[Int.random(in: 0..<max(1, wells.count - o.silentWells), using: &rng)]
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: messages.append(Message(time: t, topic: "cbm/\(w.field)/\(w.block)/\(w.id)/telemetry", payload: #"{"ts":\#(seconds),"gas_m3h":"ERR"}"#))
                case 1: messages.append(Message(time: t, topic: "cbm/\(w.field)/\(w.block)/W-UNREGISTERED/telemetry", payload: #"{"ts":\#(seconds),"gas_m3h":5}"#))
                default: messages.append(Message(time: t, topic: "cbm/\(w.field)/\(w.block)/\(w.id)/telemetry", payload: #"{"ts":\#(seconds),"gas_m3h":4"#))
                }
            }
        }
        // Buffered history arrives when each outage ends.
        messages += late
        messages = messages.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        if o.backfillWells > 0 && o.backfillHours > 0 {
            messages = Self.heldBack(messages, wells: Set(wells.prefix(o.backfillWells).map(\.id)),
                                     before: o.start + Int64(o.backfillHours) * 3_600_000_000,
                                     arriving: o.start + Int64(o.hours * 3600 + o.intervalSeconds) * 1_000_000)
        }
        return (messages, hourly)
    }

    /// The messages of `wells` received before `before`, moved after the rest, received from
    /// `arriving` on, one a millisecond, in their order.
    static func heldBack(_ messages: [Message], wells: Set<String>, before: Timestamp, arriving: Timestamp) -> [Message] {
        var live: [Message] = [], held: [Message] = []
        for m in messages {
            let parts = m.topic.split(separator: "/")
            if m.time < before, parts.count >= 4, wells.contains(String(parts[3])) { held.append(m) } else { live.append(m) }
        }
        for (k, m) in held.enumerated() {
            var late = m
            late.time = arriving + Int64(k) * 1000
            live.append(late)
        }
        return live
    }

    /// A number as JSON writes it, full precision (the totalizers must be exact).
    static func num(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)" }

    /// The register as CSV.
    public var registerCSV: String {
        "id,kind,field,block,sector,expected_gas_m3d\n" + assets.map { a in
            [a.id, a.kind.rawValue, a.field ?? "", a.block ?? "", a.sector?.rawValue ?? "", a.expectedGasM3d.map { Self.num($0) } ?? ""]
                .joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }

    /// The truth as totals: hour, gas-day and gas-month volumes of every asset and roll-up, as
    /// `totals` records would give them (without quality fields), one JSON object per line.
    public func truth(_ hourly: [String: [Int64: Double]], settings: AggregationSettings) -> String {
        var calendar = WindowCalendar(zone: settings.timeZone, dayStartMinutes: settings.dayStartMinutes)
        var sums: [String: Double] = [:]  // "window start scope id field" → volume
        var offsets = ZoneOffsets(zone: settings.timeZone)
        func add(_ kind: WindowKind, _ span: WindowSpan, _ scope: String, _ id: String, _ field: String, _ v: Double) {
            sums["\(kind.rawValue)|\(offsets.format(span.start))|\(scope)|\(id)|\(field)", default: 0] += v
        }
        let byID = Dictionary(uniqueKeysWithValues: assets.map { ($0.id, $0) })
        for (id, hours) in hourly {
            guard let a = byID[id] else { continue }
            for (start, v) in hours {
                let t = Timestamp(microseconds: start)
                for kind in settings.windows {
                    let span = calendar.window(kind, containing: t)
                    switch a.kind {
                    case .well:
                        add(kind, span, "well", id, "gas_m3", v)
                        add(kind, span, "block", a.block!, "gas_m3", v)
                        add(kind, span, "field", a.field!, "gas_m3", v)
                        add(kind, span, "all", "all", "gas_m3", v)
                    case .delivery:
                        add(kind, span, "meter", id, "utilised_m3", v)
                        add(kind, span, "sector", a.sector!.rawValue, "utilised_m3", v)
                        add(kind, span, "all", "all", "utilised_m3", v)
                    case .flare:
                        add(kind, span, "flare", id, "flared_m3", v)
                        add(kind, span, "all", "all", "flared_m3", v)
                    }
                }
            }
        }
        return sums.keys.sorted().map { key in
            let p = key.split(separator: "|").map(String.init)
            return #"{"window":"\#(p[0])","start":"\#(p[1])","scope":"\#(p[2])","id":"\#(p[3])","\#(p[4])":\#(sums[key]!)}"#
        }.joined(separator: "\n") + "\n"
    }
}
