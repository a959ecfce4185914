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
///
/// The queue is under a `Mutex`; who waits for room or for the stage to go idle counts itself in
/// under that mutex and then waits on a semaphore, which the handler's loop signals once for
/// every waiter when it takes items or finds the queue empty (a semaphore counts, so a signal
/// given before its wait is not lost).
final class Stage<Item: Sendable, State>: Sendable {
    let label: String
    private let capacity: Int
    private let batchSize: Int
    private let queue: DispatchQueue
    private let handler: @Sendable (inout State, [Item]) -> Void
    private let state: Mutex<State>
    private let items = Mutex(Queue())
    private let room = DispatchSemaphore(value: 0)
    private let idle = DispatchSemaphore(value: 0)

    private struct Queue {
        /// Waiting items: `pending[head...]` (taking a batch moves an index, not the items behind
        /// it; the taken front is dropped once it is most of the array).
        var pending: [Item] = []
        var head = 0
        var count: Int { pending.count - head }
        var isEmpty: Bool { head == pending.count }

        /// Takes up to `n` items from the front.
        mutating func take(_ n: Int) -> [Item] {
            if head == 0 && pending.count <= n {
                var taken: [Item] = []
                swap(&taken, &pending)
                return taken
            }
            let end = min(head + n, pending.count)
            let taken = Array(pending[head..<end])
            head = end
            if head == pending.count {
                pending.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= pending.count {
                pending.removeFirst(head)
                head = 0
            }
            return taken
        }
        var scheduled = false
        /// Submitters waiting for room, and callers of `drain` waiting for the stage to go idle.
        var waitingForRoom = 0
        var waitingForIdle = 0
    }

    /// In synchronous mode `submit` runs the handler on the caller's thread: no queue, no
    /// threads, and batches exactly as submitted (replay, where the output must not depend on
    /// timing).
    private let synchronous: Bool
    /// Seconds an idle stage waits after a single item (`submit(_:)`) before it takes what came
    /// meanwhile: messages that come one at a time (the broker's) are handled in batches, with a
    /// wake-up of the stage's thread, and of the stages after it, a batch and not a message. A
    /// batch (`submit(contentsOf:)`, as recovery submits) starts the stage at once.
    private let gather: Double

    /// Creates a stage. `capacity` is the most items waiting; `batch` the most handed over at once.
    init(label: String, capacity: Int, batch: Int, synchronous: Bool = false, gather: Double = 0, state: sending State,
         handler: @escaping @Sendable (inout State, [Item]) -> Void) {
        self.gather = gather
        self.state = Mutex(state)
        self.synchronous = synchronous
        self.label = label
        self.capacity = max(1, capacity)
        self.batchSize = max(1, batch)
        self.queue = DispatchQueue(label: label)
        self.handler = handler
    }

    /// Adds one item, waiting while the stage is full.
    func submit(_ item: Item) {
        if synchronous {
            handle([item])
            return
        }
        admit([item], gathering: true) { q in q.count < capacity }
    }

    /// Adds items, waiting while the stage is full. A batch larger than the capacity is admitted
    /// whole once the stage is empty.
    func submit(contentsOf batch: [Item]) {
        guard !batch.isEmpty else { return }
        if synchronous {
            if batch.count <= batchSize { return handle(batch) }
            var i = 0
            while i < batch.count {
                let end = min(i + batchSize, batch.count)
                handle(Array(batch[i..<end]))
                i = end
            }
            return
        }
        admit(batch, gathering: false) { q in q.isEmpty || q.count + batch.count <= capacity }
    }

    /// Appends `batch` once `fits` says there is room, waiting for the handler otherwise.
    /// `gathering`: an item that finds the stage idle waits `gather` seconds for others.
    private func admit(_ batch: [Item], gathering: Bool, when fits: (borrowing Queue) -> Bool) {
        while true {
            let outcome = items.withLock { q -> Bool? in
                guard fits(q) else {
                    q.waitingForRoom += 1
                    return nil
                }
                q.pending.append(contentsOf: batch)
                defer { q.scheduled = true }
                return !q.scheduled
            }
            guard let start = outcome else {
                room.wait()
                continue
            }
            if start {
                if gathering && gather > 0 {
                    queue.asyncAfter(deadline: .now() + gather) { self.run() }
                } else {
                    queue.async { self.run() }
                }
            }
            return
        }
    }

    private func run() {
        while true {
            let (taken, roomWaiters, idleWaiters) = items.withLock { q -> ([Item], Int, Int) in
                let taken = q.take(batchSize)
                let room = q.waitingForRoom
                q.waitingForRoom = 0
                var idle = 0
                if taken.isEmpty {
                    q.scheduled = false
                    idle = q.waitingForIdle
                    q.waitingForIdle = 0
                }
                return (taken, room, idle)
            }
            for _ in 0..<roomWaiters { room.signal() }
            if taken.isEmpty {
                for _ in 0..<idleWaiters { idle.signal() }
                return
            }
            handle(taken)
        }
    }

    private func handle(_ batch: [Item]) {
        state.withLock { handler(&$0, batch) }
    }

    /// Runs `body` with the state (after ``drain()``: closing what it holds).
    func withState(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    /// Waits until everything submitted so far has been handled.
    func drain() {
        while true {
            let done = items.withLock { q -> Bool in
                if !q.scheduled && q.isEmpty { return true }
                q.waitingForIdle += 1
                return false
            }
            if done { return }
            idle.wait()
        }
    }

    /// Items waiting now.
    var depth: Int { items.withLock { $0.count } }
}
