import CBMCore
@testable import CBMIngest
import CBMTestSupport
import Dispatch
import Foundation
import Logging
import Testing

@Suite("Pipeline")
struct PipelineTests {
    @Test("a full stage blocks its submitter until the handler catches up; nothing is lost or reordered")
    func backPressure() {
        let gate = DispatchSemaphore(value: 0)
        let lock = NSLock()
        var handled: [Int] = []
        let stage = Stage<Int>(label: "test.stage", capacity: 4, batch: 2) { items in
            gate.wait()
            lock.withLock { handled += items }
        }
        let submitted = ManagedAtomicCounter()
        let producer = Thread {
            for i in 0..<20 {
                stage.submit(i)
                submitted.increment()
            }
        }
        producer.start()
        // The handler holds its first batch (1 or 2 items) and the queue holds 4: the producer
        // must stop there.
        #expect(eventually(timeout: 5) { stage.depth == 4 })
        Thread.sleep(forTimeInterval: 0.2)
        #expect((5...6).contains(submitted.value))
        #expect(stage.depth == 4)
        for _ in 0..<20 { gate.signal() }
        #expect(eventually(timeout: 5) { submitted.value == 20 })
        stage.drain()
        #expect(lock.withLock { handled } == Array(0..<20))
    }

    @Test("per-asset order is kept through the partitions, and every message is accounted for")
    func perAssetOrder() throws {
        let dir = TemporaryDirectory("pipeline")
        dir.write("assets.csv", "id,kind,field,block\n" + (0..<8).map { "W\($0),well,F,B" }.joined(separator: "\n"))
        let yaml = """
            subscriptions:
              - topic: cbm/+/+/+/+
                template: cbm/{field}/{block}/{asset}/{measurement}
                format: value
                units: { gas_rate: m3/d }
            assets: assets.csv
            output: { directory: out, readings: true }
            pipeline: { partitions: 3, queue_capacity: 16, batch: 5 }
            """
        let config = try ConfigurationLoader.parse(yaml: yaml, file: "c.yaml", baseDirectory: dir.path).get()
        let clock: @Sendable () -> Timestamp = { Timestamp(seconds: 1_800_000_000) }
        let sink = FileSink(configuration: config, now: clock, logger: Logger(label: "test"))
        let pipeline = try Pipeline(configuration: config, sink: sink)
        var expected: [String: [Double]] = [:]
        for i in 0..<2_000 {
            let asset = "W\(i % 8)"
            let topic = i % 97 == 0 ? "cbm/F/B/NOPE/gas_rate" : "cbm/F/B/\(asset)/gas_rate"
            if i % 97 != 0 { expected[asset, default: []].append(Double(i)) }
            pipeline.submit(InboundMessage(topic: topic, payload: Array("\(i)".utf8),
                                           receivedAt: Timestamp(seconds: 1_800_000_000 + Int64(i))))
        }
        pipeline.drain()
        sink.close()
        let stats = pipeline.statistics
        #expect(stats.messages == 2_000)
        #expect(stats.rejects == 21)
        #expect(stats.readings == 2_000 - 21)
        var got: [String: [Double]] = [:]
        for r in records(under: dir.file("out/readings")) {
            got[r["asset"] as! String, default: []].append(r["value"] as! Double)
        }
        #expect(got == expected)
        #expect(records(under: dir.file("out/rejects")).count == 21)
    }
}

/// A counter shared between a test and a thread it starts.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
