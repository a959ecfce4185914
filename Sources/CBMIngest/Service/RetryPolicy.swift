import CBMStorage
import Foundation

/// How a write that must not be dropped is retried: at once, then after a delay that doubles up
/// to a cap, until it succeeds, or, with a budget, until that much time has gone by. The journal
/// and the output files share it.
struct RetryPolicy: Sendable {
    var firstDelay = 0.05
    var maxDelay = 5.0
    /// The most seconds spent retrying; nil: no limit.
    var budget: Double?

    /// The policy of output writes: until it succeeds.
    static let storage = RetryPolicy()

    /// Runs `body` until it succeeds (nil when the budget ran out first); `failed` hears each
    /// failure and its attempt number.
    func attempt<T>(_ body: () throws(StorageError) -> T, failed: (StorageError, Int) -> Void) -> T? {
        var delay = firstDelay
        var attempt = 0
        // Read the clock only once something failed: the first try is on the per-message path.
        var deadline: ContinuousClock.Instant?
        while true {
            do {
                return try body()
            } catch {
                attempt += 1
                failed(error, attempt)
                if let budget {
                    if deadline == nil { deadline = ContinuousClock.now + .microseconds(Int64(budget * 1e6)) }
                    let left = deadline! - ContinuousClock.now
                    guard left > .zero else { return nil }
                    delay = min(delay, Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18)
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, maxDelay)
            }
        }
    }

    /// Runs `body` until it succeeds (a policy without a budget).
    func run<T>(_ body: () throws(StorageError) -> T, failed: (StorageError, Int) -> Void) -> T {
        precondition(budget == nil, "a policy with a budget may give up: use attempt")
        return attempt(body, failed: failed)!
    }
}
