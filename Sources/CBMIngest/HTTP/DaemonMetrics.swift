import CBMCore
import CBMStorage
import Foundation
import Prometheus
import Synchronization

/// `/metrics` in the Prometheus text format, with a registry of swift-prometheus. Nothing on the
/// path of a message touches it: the pipeline, the intake and the journal keep their own counts
/// (atomics, and locks taken once a batch), and each scrape carries them over (a counter goes
/// up by what its count grew since the last scrape; gauges are set). Only the journal's fsync
/// durations are recorded as they happen, into the histogram.
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let fsync: DurationHistogram
    /// Per counter (name and labels), what it was carried over to.
    private let carried = Mutex<[String: Int64]>([:])
    private let render = Mutex(())

    /// What a scrape reads.
    struct Sources: Sendable {
        var received: Int
        var statistics: Pipeline.Statistics
        var gauges: Pipeline.Gauges
        var openWindows: Int
        var journalDirectory: String
        var journalAppended: Int64
        var lastCheckpoint: Timestamp?
        var subscriptions: [String]
        var alarms: [(rule: String, severity: String)]
        var alarmRules: [(rule: String, severity: String)]
        var connected: Bool
        var now: Timestamp
    }


    init() {
        fsync = registry.makeDurationHistogram(
            name: "cbm_ingest_journal_fsync_seconds",
            buckets: [.microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)],
            help: "How long each journal fsync (an append under fsync: always, or a group commit) took.")
        registry.makeGauge(name: "cbm_ingest_build_info", labels: [("version", LiveIngester.version)],
                           help: "Always 1; the version of the running daemon is its label.").set(to: 1.0)
    }

    /// Hears an fsync's duration (the journal calls it).
    func observeFsync(_ d: Duration) { fsync.record(d) }

    private func count(_ name: String, to value: Int, help: String) { count(name, [], to: value, help: help) }

    private func count(_ name: String, _ labels: [(String, String)], to value: Int, help: String) {
        let counter = registry.makeCounter(name: name, labels: labels, help: help)
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let delta = carried.withLock { c -> Int64 in
            let d = Int64(value) - (c[key] ?? 0)
            if d > 0 { c[key] = Int64(value) }
            return d
        }
        if delta > 0 { counter.increment(by: delta) }
    }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double, help: String) {
        registry.makeGauge(name: name, labels: labels, help: help).set(to: value)
    }

    private func gauge(_ name: String, _ value: Double, help: String) { gauge(name, [], value, help: help) }

    /// The text of a scrape.
    func scrape(_ s: Sources) -> [UInt8] {
        render.withLock { _ in
            update(s)
            var out: [UInt8] = []
            out.reserveCapacity(16_384)
            registry.emit(into: &out)
            return out
        }
    }

    private func update(_ s: Sources) {
        count("cbm_ingest_messages_received_total", to: s.received,
              help: "Telemetry messages received from the broker and journaled (commands and our own alarm states not counted).")
        count("cbm_ingest_messages_decoded_total", to: s.statistics.messages,
              help: "Messages through the decoder (replayed from the journal at a start included), rejected or not.")
        for (code, n) in s.gauges.rejectsByCode.sorted(by: { $0.key < $1.key }) {
            count("cbm_ingest_rejects_total", [("code", code)], to: n, help: "Rejects written to rejects/, by reason code.")
        }
        for (m, n) in s.gauges.readingsByMeasurement {
            count("cbm_ingest_readings_total", [("measurement", m.rawValue)], to: n, help: "Readings taken, by measurement.")
        }
        count("cbm_ingest_totals_records_total", to: s.statistics.totals, help: "Totals records written (revisions included).")
        count("cbm_ingest_output_errors_total", to: s.gauges.outputErrors,
              help: "Failed output writes; each is retried until it succeeds, nothing is dropped.")
        count("cbm_ingest_journal_appended_bytes_total", to: Int(s.journalAppended), help: "Bytes appended to the journal since the start.")
        let onDisk = Journal.segments(in: s.journalDirectory).reduce(Int64(0)) { sum, path in
            sum + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0)
        }
        gauge("cbm_ingest_journal_bytes", Double(onDisk), help: "Bytes of the journal's segments on disk.")
        gauge("cbm_ingest_checkpoint_age_seconds", s.lastCheckpoint.map { Double(s.now.microseconds - $0.microseconds) / 1e6 } ?? -1,
              help: "Seconds since the last checkpoint was written and committed (-1: none yet).")
        for q in s.gauges.queues {
            gauge("cbm_ingest_queue_depth", [("stage", q.stage)], Double(q.depth), help: "Items waiting in a pipeline stage's queue.")
        }
        gauge("cbm_ingest_watermark_lag_seconds", s.gauges.watermark.map { Double(s.now.microseconds - $0.microseconds) / 1e6 } ?? -1,
              help: "How far the watermark is behind the wall clock (-1: no watermark yet).")
        gauge("cbm_ingest_open_windows", Double(s.openWindows), help: "Asset hours with data not yet closed.")
        for (i, topic) in s.subscriptions.enumerated() {
            let last = i < s.gauges.lastByRule.count ? s.gauges.lastByRule[i] : .min
            gauge("cbm_ingest_last_message_age_seconds", [("subscription", topic)],
                  last == .min ? -1 : Double(s.now.microseconds - last) / 1e6,
                  help: "Seconds since a subscription last took a message (-1: none since the start).")
        }
        var active: [String: Int] = [:]
        for a in s.alarmRules { active["\(a.rule)\u{0}\(a.severity)"] = 0 }
        for a in s.alarms { active["\(a.rule)\u{0}\(a.severity)", default: 0] += 1 }
        for (key, n) in active.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            gauge("cbm_ingest_alarms_active", [("rule", parts[0]), ("severity", parts[1])], Double(n), help: "Alarms active now, by rule and severity.")
        }
        gauge("cbm_ingest_broker_connected", s.connected ? 1 : 0, help: "1 while the MQTT connection is up.")
    }
}
