import CBMStorage
import Dispatch
import Logging
import Synchronization

/// Catch-ups of the index on a thread of its own, one at a time, at most one waiting. The index
/// is used only there until ``drain()`` returns (then by the sink again): that is what makes
/// sharing it safe. Each reads at most a few MiB of a plain file (memory stays bounded however far
/// behind it is; a compressed file is read whole, once). What a catch-up there fails on is logged
/// (once) and left to the sink's next one at the files' close, which reads the same files from the
/// same marks and reports what it meets; a damaged database it set aside and rebuilt is logged
/// as the sink's own would be.
final class BackgroundCatchUp: @unchecked Sendable {
    private let index: TotalsIndex
    private let logger: Logger
    private let queue = DispatchQueue(label: "cbm-ingest.index")
    private let scheduled = Atomic<Bool>(false)
    /// Only on `queue`: whether a failure was logged.
    private var failed = false

    init(_ index: TotalsIndex, logger: Logger) {
        self.index = index
        self.logger = logger
    }

    /// Asks for a catch-up (none if one is waiting already).
    func kick() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { self.run() }
    }

    private func run() {
        scheduled.store(false, ordering: .releasing)
        let before = index.opened
        do {
            if try index.catchUp(upTo: BackgroundCatchUp.chunk) > 0 { index.checkpointLog() }
        } catch where TotalsIndex.isBusy(error) {
            // Another writer has it (a report catching it up): the next time, then.
        } catch {
            if !failed {
                logger.warning("cannot catch the index of final figures up as totals are written: tried again when the files close",
                               metadata: ["index.file": "\(index.path)", "error": "\(error)"])
            }
            failed = true
        }
        FileSink.reportRebuilt(index, since: before, logger: logger)
    }

    /// Waits for the catch-ups asked for.
    func drain() { queue.sync {} }

    static let chunk = 4 << 20
}
