import Dispatch
import Synchronization

/// A part of the daemon with a start and a stop. ``LiveIngester`` starts its services in order
/// and stops them in the reverse order.
protocol DaemonService: AnyObject, Sendable {
    func start()
    func stop()
}

/// Runs jobs at intervals: the real clock's timers, or a test's hand (which fires them when it
/// likes, so a test drives time instead of sleeping).
public protocol Scheduler: Sendable {
    /// Runs `body` every `intervalUS`, the first time after `firstUS`, until cancelled.
    func every(_ intervalUS: Int64, first firstUS: Int64, label: String, _ body: @escaping @Sendable () -> Void) -> any ScheduledJob
}

public protocol ScheduledJob: Sendable {
    func cancel()
}

/// Timers on Dispatch queues.
public struct DispatchScheduler: Scheduler {
    public init() {}

    /// A dispatch timer; they are safe to cancel from any thread.
    private final class Job: ScheduledJob, @unchecked Sendable {
        let timer: any DispatchSourceTimer
        init(_ timer: any DispatchSourceTimer) { self.timer = timer }
        func cancel() { timer.cancel() }
    }

    public func every(_ intervalUS: Int64, first firstUS: Int64, label: String, _ body: @escaping @Sendable () -> Void) -> any ScheduledJob {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: label))
        timer.schedule(deadline: .now() + .microseconds(Int(firstUS)), repeating: .microseconds(Int(max(1, intervalUS))))
        timer.setEventHandler(handler: body)
        timer.resume()
        return Job(timer)
    }
}

/// The configuration in force: the start's, then each reload's.
final class CurrentConfiguration: Sendable {
    private let value: Mutex<Configuration>
    init(_ c: Configuration) { value = Mutex(c) }
    var configuration: Configuration { value.withLock { $0 } }
    func replace(_ c: Configuration) { value.withLock { $0 = c } }
}
