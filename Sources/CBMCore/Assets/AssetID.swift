import Synchronization

/// An asset's id as a small number, the same number for the same id everywhere in the process:
/// what readings carry, so that a reading is plain bytes to copy, and finding an asset's
/// partition or its aggregation state is an array index, not a string hash.
///
/// Numbers are given in the order ids are first seen and never reused. They are never written
/// (files and checkpoints hold the id itself), so they need not match from one run to the next.
/// An id gets a number when its first reading is admitted (within `limits.max_series`) or when a
/// checkpoint or a test names it: the table holds each admitted asset once.
public struct AssetID: Sendable, Hashable, CustomStringConvertible {
    /// The asset's number in this process.
    public let number: Int32

    /// The number of `id` (a new one the first time it is seen).
    public init(_ id: String) { self = AssetID.table.withLock { $0.number(of: id) } }

    /// The id itself (under a lock: for what is not done per reading).
    public var name: String { AssetID.table.withLock { $0.names[Int(number)] } }

    public var description: String { name }

    private struct Table {
        var numbers: [String: Int32] = [:]
        var names: [String] = []

        mutating func number(of id: String) -> AssetID {
            if let n = numbers[id] { return AssetID(number: n) }
            let n = Int32(names.count)
            numbers[id] = n
            names.append(id)
            return AssetID(number: n)
        }
    }

    private init(number: Int32) { self.number = number }

    private static let table = Mutex(Table())
}

/// What one thread keeps of ``AssetID/name`` (the ids it has looked up, by number), so that a
/// name needed per reading is an array index, not a lock.
public struct AssetNames: Sendable {
    private var names: [String?] = []

    public init() {}

    public mutating func callAsFunction(_ id: AssetID) -> String {
        let i = Int(id.number)
        if i < names.count, let n = names[i] { return n }
        if i >= names.count { names.append(contentsOf: repeatElement(nil, count: i + 1 - names.count)) }
        let n = id.name
        names[i] = n
        return n
    }
}
