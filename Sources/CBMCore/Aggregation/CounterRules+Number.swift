import Synchronization

extension CounterRules {
    /// Counter rules as a small number, the same number for the same rules everywhere in the
    /// process: what a reading carries (four bytes, not the rules' sixty-odd), so that readings
    /// stay small plain bytes to copy from one stage to the next. The rules of a process are
    /// few: one per mapped totalizer and asset bound, numbered when first seen and never reused.
    /// Numbers are never written (checkpoints hold the rules themselves).
    public struct Number: Sendable, Hashable {
        /// 0: no rules (not a totalizer).
        public let value: UInt32
        public static let none = Number(value: 0)
    }

    private struct Table {
        var numbers: [CounterRules: UInt32] = [:]
        var rules: [CounterRules] = []
    }

    private static let table = Mutex(Table())

    /// The number of these rules (a new one the first time they are seen); ``Number/none`` for nil.
    public static func number(of rules: CounterRules?) -> Number {
        guard let rules else { return .none }
        return table.withLock { t in
            if let n = t.numbers[rules] { return Number(value: n) }
            t.rules.append(rules)
            let n = UInt32(t.rules.count)
            t.numbers[rules] = n
            return Number(value: n)
        }
    }

    /// The rules numbered after the first `known`, in number order (to bring a table of one's own
    /// up to date: ``Number/value`` − 1 is the place of each).
    public static func rules(after known: Int) -> [CounterRules] {
        table.withLock { t in known < t.rules.count ? Array(t.rules[known...]) : [] }
    }

    /// The rules of a number; nil for ``Number/none``.
    public static func rules(_ n: Number) -> CounterRules? {
        n == .none ? nil : table.withLock { $0.rules[Int(n.value) - 1] }
    }
}
