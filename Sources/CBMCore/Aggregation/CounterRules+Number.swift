import Synchronization

extension CounterRules {
    /// Counter rules as a small number, the same number for the same rules everywhere in the
    /// process: what a reading carries (four bytes, not the rules' sixty-odd), so that readings
    /// stay small plain bytes to copy from one stage to the next. The rules of a process are
    /// one per mapped totalizer and asset bound, numbered when first seen and never reused.
    /// Numbers are never written (checkpoints hold the rules themselves).
    public struct Number: Sendable, Hashable {
        /// 0: no rules (not a totalizer).
        public let value: UInt32
        public static let none = Number(value: 0)
    }

    /// Numbering takes a lock; reading the rules of a number does not (a series reads them each
    /// time it figures an hour): they are kept in chunks that never move, and a number is handed
    /// out only once its rules are there for every thread to read.
    private final class Table: @unchecked Sendable {
        static let shift = 12
        static let chunk = 1 << shift
        /// Room for 2^26 numbered rules (far beyond assets × totalizers).
        static let maxChunks = 1 << 14
        /// Under `lock`: the number of each set of rules.
        var numbers: [CounterRules: UInt32] = [:]
        let lock = Mutex(())
        let chunks: UnsafeMutablePointer<UnsafeMutablePointer<CounterRules>?>
        /// How many are numbered (written last, read first).
        let count = Atomic<Int>(0)

        init() {
            chunks = .allocate(capacity: Self.maxChunks)
            chunks.initialize(repeating: nil, count: Self.maxChunks)
        }

        func number(of rules: CounterRules) -> UInt32 {
            lock.withLock { _ in
                if let n = numbers[rules] { return n }
                let i = count.load(ordering: .relaxed)
                precondition(i >> Self.shift < Self.maxChunks, "more counter rules than a process keeps")
                if i & (Self.chunk - 1) == 0 { chunks[i >> Self.shift] = .allocate(capacity: Self.chunk) }
                (chunks[i >> Self.shift]! + (i & (Self.chunk - 1))).initialize(to: rules)
                count.store(i + 1, ordering: .releasing)
                numbers[rules] = UInt32(i + 1)
                return UInt32(i + 1)
            }
        }

        func rules(_ i: Int) -> CounterRules? {
            guard i >= 0, i < count.load(ordering: .acquiring) else { return nil }
            return chunks[i >> Self.shift]![i & (Self.chunk - 1)]
        }
    }

    private static let table = Table()

    /// The number of these rules (a new one the first time they are seen); ``Number/none`` for nil.
    public static func number(of rules: CounterRules?) -> Number {
        guard let rules else { return .none }
        return Number(value: table.number(of: rules))
    }

    /// The rules of a number; nil for ``Number/none``.
    public static func rules(_ n: Number) -> CounterRules? {
        table.rules(Int(n.value) - 1)
    }
}
