/// What the status page and `GET /api/status` show: the field as the roll-up last saw it, put in
/// the terms a production office uses (the gas day so far against expected, wells by state,
/// utilisation by sector, active alarms). Volumes in m³ at the reporting basis, times in RFC 3339
/// with the configured zone's offset. Built by ``StatusBoard`` from the pipeline's snapshots;
/// rendered by ``StatusPage`` and encoded as JSON (snake_case keys) by the server.
struct StatusView: Codable, Sendable, Equatable {
    /// When the snapshot behind it was made, and the watermark then.
    var generatedAt: String
    var watermark: String?
    /// Whether recovery has finished and the broker is connected.
    var ready: Bool
    var brokerConnected: Bool
    var messagesPerSecond: Double
    /// The reporting basis (`20C`, …) of every volume.
    var basis: String
    var coalKgcePerM3: Double
    var co2eKgPerM3: Double
    /// The open hour and the open gas day.
    var openHour: Span?
    var gasDay: Span?
    /// The open gas day's share elapsed, 0…1 (how much of the expected volume is due so far).
    var gasDayElapsed: Double
    /// The whole field (scope `all`): the open gas day so far and the open hour.
    var total: Figures
    /// By field (scope `field`), then by consumer sector (scope `sector`).
    var fields: [Figures]
    var sectors: [Figures]
    /// Production by field per hour: closed hours of the last 48 hours and the open one.
    var hourly: [HourPoint]
    /// Every well, silent and low first.
    var wells: [Well]
    /// Alarms active now, most severe first.
    var alarms: [Alarm]
    /// Rejects in the last hour, by reason code.
    var rejectsLastHour: [String: Int]

    struct Span: Codable, Sendable, Equatable {
        var start: String
        var end: String
    }

    /// One scope's figures for the open gas day so far (and its open hour).
    struct Figures: Codable, Sendable, Equatable {
        var scope: String
        var id: String
        var gasM3: Double
        var utilisedM3: Double
        var flaredM3: Double
        /// Utilised ÷ produced (nil when nothing was produced).
        var utilisationRate: Double?
        var coalT: Double
        var co2eT: Double
        /// The register's expected volume for the whole gas day, and the part due so far.
        var expectedDayM3: Double?
        var expectedSoFarM3: Double?
        var openHourGasM3: Double
        var coverage: Double
        var estimated: Bool
    }

    struct HourPoint: Codable, Sendable, Equatable {
        var start: String
        var field: String
        var gasM3: Double
        /// The hour is still open (its figure will grow).
        var open: Bool
    }

    enum WellState: String, Codable, Sendable, Equatable, CaseIterable {
        /// No message for longer than the silence rule allows (or an active no-data alarm).
        case silent
        /// Below the low-output threshold of expected for the gas day so far (or an active low-output alarm).
        case low
        /// In a declared maintenance period.
        case maintenance
        case ok
    }

    struct Well: Codable, Sendable, Equatable {
        var id: String
        var field: String
        var block: String
        var state: WellState
        var lastSeen: String?
        /// The latest gas rate reading, m³/h at the reporting basis (nil: the well reports a totalizer only).
        var lastRateM3h: Double?
        var gasDayM3: Double
        var expectedDayM3: Double?
        var expectedSoFarM3: Double?
        /// Gas day so far ÷ expected so far (nil without an expected figure).
        var ofExpected: Double?
    }

    struct Alarm: Codable, Sendable, Equatable {
        var rule: String
        var scope: String
        var id: String
        var severity: String
        var since: String
        var message: String
        var value: Double?
        var threshold: Double?
        var acknowledged: Bool
        var shelvedUntil: String?
    }
}
