import Dispatch
import Foundation
import Synchronization

/// One stage of the pipeline: a bounded queue drained in batches by a serial `DispatchQueue`.
///
/// `submit` blocks while the queue is full, so a slow stage holds back the one before it, and in
/// the end the MQTT callback, and with it the broker (back-pressure instead of unbounded memory).
/// The handler runs on the stage's queue, one batch at a time, in submission order, with the
/// stage's state (the step it runs) under a lock of its own: the state is only ever touched by
/// the handler, so the lock is never contended, but nothing relies on that.
final class Stage<Item: Sendable, State>: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`; the state by its mutex.
    let label: String
    private let capacity: Int
    private let batchSize: Int
    private let queue: DispatchQueue
    private let handler: (inout State, [Item]) -> Void
    private let state: Mutex<State>
    private let condition = NSCondition()
    private var pending: [Item] = []
    private var scheduled = false

    /// In synchronous mode `submit` runs the handler on the caller's thread: no queue, no
    /// threads, and batches exactly as submitted (replay, where the output must not depend on
    /// timing).
    private let synchronous: Bool

    /// Creates a stage. `capacity` is the most items waiting; `batch` the most handed over at once.
    init(label: String, capacity: Int, batch: Int, synchronous: Bool = false, state: sending State,
         handler: @escaping (inout State, [Item]) -> Void) {
        self.state = Mutex(state)
        self.synchronous = synchronous
        self.label = label
        self.capacity = max(1, capacity)
        self.batchSize = max(1, batch)
        self.queue = DispatchQueue(label: label)
        self.handler = handler
        pending.reserveCapacity(min(capacity, 65_536))
    }

    /// Adds one item, waiting while the stage is full.
    func submit(_ item: Item) {
        if synchronous {
            handle([item])
            return
        }
        condition.lock()
        while pending.count >= capacity { condition.wait() }
        pending.append(item)
        let start = !scheduled
        scheduled = true
        condition.unlock()
        if start { queue.async { self.run() } }
    }

    /// Adds items, waiting while the stage is full. A batch larger than the capacity is admitted
    /// whole once the stage is empty.
    func submit(contentsOf items: [Item]) {
        guard !items.isEmpty else { return }
        if synchronous {
            var i = 0
            while i < items.count {
                let end = min(i + batchSize, items.count)
                handle(Array(items[i..<end]))
                i = end
            }
            return
        }
        condition.lock()
        while !pending.isEmpty && pending.count + items.count > capacity { condition.wait() }
        pending.append(contentsOf: items)
        let start = !scheduled
        scheduled = true
        condition.unlock()
        if start { queue.async { self.run() } }
    }

    private func run() {
        while true {
            condition.lock()
            if pending.isEmpty {
                scheduled = false
                condition.broadcast()
                condition.unlock()
                return
            }
            var taken: [Item] = []
            if pending.count <= batchSize {
                swap(&taken, &pending)
                pending.reserveCapacity(min(capacity, 65_536))
            } else {
                taken = Array(pending.prefix(batchSize))
                pending.removeFirst(batchSize)
            }
            condition.broadcast()
            condition.unlock()
            handle(taken)
        }
    }

    private func handle(_ items: [Item]) {
        state.withLock { handler(&$0, items) }
    }

    /// Runs `body` with the state (after ``drain()``: closing what it holds).
    func withState(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    /// Waits until everything submitted so far has been handled.
    func drain() {
        condition.lock()
        while scheduled || !pending.isEmpty { condition.wait() }
        condition.unlock()
    }

    /// Items waiting now.
    var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return pending.count
    }
}
