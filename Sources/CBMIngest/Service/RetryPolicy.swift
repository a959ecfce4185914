import CBMStorage
import Foundation

/// How a write that must not be dropped is retried: at once, then after a delay that doubles up
/// to a cap, until it succeeds. The journal and the output files share it.
struct RetryPolicy: Sendable {
    var firstDelay = 0.05
    var maxDelay = 5.0

    /// The policy of storage writes.
    static let storage = RetryPolicy()

    /// Runs `body` until it succeeds; `failed` hears each failure and its attempt number.
    func run<T>(_ body: () throws(StorageError) -> T, failed: (StorageError, Int) -> Void) -> T {
        var delay = firstDelay
        var attempt = 0
        while true {
            do {
                return try body()
            } catch {
                attempt += 1
                failed(error, attempt)
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, maxDelay)
            }
        }
    }
}
