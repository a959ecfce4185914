/// When assets were heard from over a stretch of input: the receive times of the messages that
/// gave them readings. It is what `no_data` needs, batch by batch, to judge silence exactly as if
/// it had seen every message on its own: each asset's first and last receive time, every gap
/// between them longer than `minGapUS` (the shortest `after` of the rules), and the latest time
/// (the silence clock: receive times, and in live mode the wall clock).
public struct HeardFrom: Sendable, Equatable {
    /// A span between two consecutive messages of one asset.
    public struct Gap: Sendable, Equatable {
        public var from: Int64
        public var to: Int64
        public init(from: Int64, to: Int64) {
            self.from = from
            self.to = to
        }
    }

    /// One asset's receive times in the stretch.
    public struct Times: Sendable, Equatable {
        public var first: Int64
        public var last: Int64
        /// Gaps longer than `minGapUS`, in order.
        public var gaps: [Gap] = []
        public init(first: Int64, last: Int64, gaps: [Gap] = []) {
            self.first = first
            self.last = last
            self.gaps = gaps
        }

        mutating func heard(at t: Int64, minGapUS: Int64) {
            guard t > last else { return }
            if t - last > minGapUS { gaps.append(Gap(from: last, to: t)) }
            last = t
        }
    }

    /// The shortest gap worth noting.
    public let minGapUS: Int64
    /// The assets heard from.
    public private(set) var assets: [String: Times] = [:]
    /// An asset known to have gone offline (a Sparkplug death): silent from `at`, without waiting
    /// for `after`, until it is heard from again (`back`).
    public struct Offline: Sendable, Equatable {
        public var at: Int64
        public var back: Int64?
    }
    /// The assets that went offline in the stretch (the latest death of each).
    public private(set) var offline: [String: Offline] = [:]
    /// The first time noted (a message's or the wall clock's): where monitoring begins.
    public private(set) var start = Int64.min
    /// The latest time noted.
    public private(set) var clock = Int64.min

    public init(minGapUS: Int64) { self.minGapUS = minGapUS }

    /// Whether nothing was noted.
    public var isEmpty: Bool { clock == .min && offline.isEmpty }

    /// Notes a message of `asset` received at `t`.
    public mutating func heard(_ asset: String, at t: Int64) {
        note(t)
        if !offline.isEmpty, let o = offline[asset], o.back == nil, t >= o.at { offline[asset]!.back = t }
        assets[asset, default: Times(first: t, last: t)].heard(at: t, minGapUS: minGapUS)
    }

    /// Notes that `asset` went offline at `t`.
    public mutating func wentOffline(_ asset: String, at t: Int64) {
        note(t)
        offline[asset] = Offline(at: t)
    }

    /// Notes that a time has passed (the wall clock, live).
    public mutating func note(_ t: Int64) {
        if start == .min { start = t }
        if t > clock { clock = t }
    }

    /// Empties it for the next stretch.
    public mutating func reset() {
        assets.removeAll(keepingCapacity: true)
        offline.removeAll()
        start = .min
        clock = .min
    }
}
