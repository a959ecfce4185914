import CBMCore
import CBMStorage
import Foundation
import Logging

/// What reaches the sinks.
public enum SinkBatch: Sendable {
    case readings([Reading])
    case rejects([Reject])
    case totals([TotalsRecord])
    case events([AggregationEvent])
}

/// Writes record families as JSON Lines files under the output directory: `totals/`,
/// `events/`, `rejects/`, and `readings/` when switched on. Files are opened on their first record. A write that fails
/// (disk full, directory not writable) is retried with backoff: nothing is dropped, and the
/// pipeline waits behind it.
public final class FileSink {
    private let directory: String
    private let writeReadings: Bool
    private let factors: Factors
    private var encoder: RecordEncoder
    private var writers: [RecordFamily: RecordFileWriter] = [:]
    private let now: @Sendable () -> Timestamp
    private let logger: Logger
    /// Records written, by family.
    public private(set) var written: [RecordFamily: Int] = [:]

    public init(configuration: Configuration, now: @escaping @Sendable () -> Timestamp, logger: Logger) {
        directory = configuration.output.directory
        writeReadings = configuration.output.readings
        factors = configuration.factors
        encoder = RecordEncoder(zone: ZoneOffsets(zone: configuration.aggregation.timeZone),
                                basis: configuration.aggregation.basis)
        self.now = now
        self.logger = logger
    }

    /// The files written so far, by family.
    public var files: [RecordFamily: String] { writers.mapValues(\.path) }

    /// Writes a batch.
    public func write(_ batch: SinkBatch) {
        switch batch {
        case .readings(let readings):
            guard writeReadings, !readings.isEmpty else { return }
            for r in readings { encoder.encode(r) }
            append(encoder.take(), family: .readings, count: readings.count)
        case .rejects(let rejects):
            guard !rejects.isEmpty else { return }
            for r in rejects { encoder.encode(r) }
            append(encoder.take(), family: .rejects, count: rejects.count)
        case .totals(let totals):
            guard !totals.isEmpty else { return }
            for r in totals { encoder.encode(r, factors: factors) }
            append(encoder.take(), family: .totals, count: totals.count)
        case .events(let events):
            guard !events.isEmpty else { return }
            for e in events { encoder.encode(e) }
            append(encoder.take(), family: .events, count: events.count)
        }
    }

    private func append(_ bytes: [UInt8], family: RecordFamily, count: Int) {
        var delay = 0.05
        var lastLogged: Timestamp?
        while true {
            do {
                let writer = try writer(for: family)
                try writer.append(bytes)
                written[family, default: 0] += count
                return
            } catch {
                let t = now()
                if lastLogged.map({ t - $0 > 10_000_000 }) ?? true {
                    logger.error("cannot write records; retrying, nothing is dropped",
                                 metadata: ["output.family": "\(family.rawValue)", "error": "\(error)"])
                    lastLogged = t
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }

    private func writer(for family: RecordFamily) throws(StorageError) -> RecordFileWriter {
        if let w = writers[family] { return w }
        var zone = encoder.zoneOffsets
        let t = now()
        let w = try RecordFileWriter(directory: directory, family: family, openedAt: t, offsetSeconds: zone.offset(at: t))
        writers[family] = w
        logger.info("writing \(family.rawValue)", metadata: ["output.file": "\(w.path)"])
        return w
    }

    /// Syncs and closes every file.
    public func close() {
        for (family, w) in writers.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do { try w.close() } catch {
                logger.error("cannot close output file", metadata: ["output.family": "\(family.rawValue)", "error": "\(error)"])
            }
        }
        writers.removeAll()
    }
}
