import CBMCore
@testable import CBMIngest
import CBMTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A scheduler whose jobs run when the test says: time is driven, not slept through.
final class ManualScheduler: Scheduler {
    private final class Job: ScheduledJob {
        let label: String
        let body: @Sendable () -> Void
        let cancelled = Atomic(false)
        init(label: String, body: @escaping @Sendable () -> Void) {
            self.label = label
            self.body = body
        }
        func cancel() { cancelled.store(true, ordering: .relaxed) }
    }
    private let jobs = Mutex<[Job]>([])

    func every(_ intervalUS: Int64, first firstUS: Int64, label: String, _ body: @escaping @Sendable () -> Void) -> any ScheduledJob {
        let job = Job(label: label, body: body)
        jobs.withLock { $0.append(job) }
        return job
    }

    /// Runs every job not cancelled whose label contains `label` once; returns how many ran.
    @discardableResult
    func fire(_ label: String) -> Int {
        let due = jobs.withLock { $0.filter { $0.label.contains(label) && !$0.cancelled.load(ordering: .relaxed) } }
        for j in due { j.body() }
        return due.count
    }
}

final class Count: Sendable {
    let value = Atomic(0)
}

@Suite("Services")
struct ServicesTests {
    func pipeline(_ dir: TemporaryDirectory, output: String = "output: { directory: out }", extra: String = "") throws -> (Configuration, Pipeline) {
        dir.write("assets.csv", "id,kind,field,block\nW0,well,F,B\n")
        let config = try ConfigurationLoader.parse(yaml: """
            subscriptions:
              - topic: cbm/+/+/+/+
                template: cbm/{field}/{block}/{asset}/{measurement}
                format: value
                units: { gas_rate: m3/d }
            assets: assets.csv
            \(output)
            \(extra)
            """, file: "c.yaml", baseDirectory: dir.path).get()
        return (config, Pipeline(configuration: config, sink: FileSink(configuration: config, now: { Timestamp(seconds: 1_800_000_000) },
                                                                         logger: Logger(label: "test"))))
    }

    @Test("the watchdog pings only while its probes come out of the sink: a stuck sink stops the pings, a freed one resumes them")
    func watchdog() throws {
        let dir = TemporaryDirectory("watchdog")
        let (_, pipeline) = try pipeline(dir)
        let scheduler = ManualScheduler()
        let pings = Count()
        let watchdog = Watchdog(pipeline: pipeline, intervalUS: 1_000_000, scheduler: scheduler) { pings.value.add(1, ordering: .relaxed) }
        watchdog.start()
        for _ in 0..<3 {
            scheduler.fire("watchdog")
            pipeline.drain()
        }
        #expect(pings.value.load(ordering: .relaxed) == 3)

        // A file where the rejects folder should be: the sink retries the reject, the probe behind it waits.
        let rejects = dir.file("out/rejects")
        try FileManager.default.removeItem(atPath: rejects)
        #expect(FileManager.default.createFile(atPath: rejects, contents: nil))
        pipeline.submit(InboundMessage(topic: "cbm/F/B/NOPE/gas_rate", payload: Array("1".utf8), receivedAt: Timestamp(seconds: 1_800_000_000)))
        scheduler.fire("watchdog")  // the last probe came through: a ping, and the next probe goes in behind the reject
        Thread.sleep(forTimeInterval: 0.3)
        for _ in 0..<3 { scheduler.fire("watchdog") }
        #expect(pings.value.load(ordering: .relaxed) == 4, "pings went on while the sink was stuck")

        try FileManager.default.removeItem(atPath: rejects)
        #expect(eventually(timeout: 20) {
            scheduler.fire("watchdog")
            return pings.value.load(ordering: .relaxed) > 4
        })
        watchdog.stop()
        #expect(scheduler.fire("watchdog") == 0, "a stopped watchdog's job is cancelled")
        pipeline.close()
        #expect(records(under: dir.file("out/rejects")).count == 1)
    }

    @Test("the cadence ticks every second, asks for latest.json at its interval, and reports each second")
    func cadence() throws {
        let dir = TemporaryDirectory("cadence")
        let (config, pipeline) = try pipeline(dir, output: "output: { directory: out, snapshot_interval: 2s }")
        let scheduler = ManualScheduler()
        let seconds = Count()
        let cadence = Cadence(pipeline: pipeline, configuration: config, scheduler: scheduler, now: { Timestamp(seconds: 1_800_000_000) }) { _ in
            seconds.value.add(1, ordering: .relaxed)
        }
        cadence.start()
        scheduler.fire("cadence")
        pipeline.drain()
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/latest.json")), "latest.json after one second of two")
        scheduler.fire("cadence")
        pipeline.drain()
        #expect(FileManager.default.fileExists(atPath: dir.file("out/latest.json")))
        #expect(seconds.value.load(ordering: .relaxed) == 2)
        cadence.stop()
        pipeline.close()
    }
}
