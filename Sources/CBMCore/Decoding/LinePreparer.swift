/// What can be read of a recording's lines before they are decoded, on the thread that read them:
/// each topic's route (its rule and captures) and a flat payload's values (``FlatJSON``). Both
/// are functions of the bytes and the rules alone, so the decoder, which keeps the state (the
/// watermark, the series, the totalizers), takes them as its own routing and scanning would have
/// made them: the same readings and the same rejects, with half its work done on another core.
///
/// Made from the same settings as the pipeline's decoder, and only for a pipeline that is never
/// reconfigured (a replay): a line prepared under other rules would be decoded as they route it.
/// The lines hold their routes uncounted: the preparer must outlive the batches it prepared.
public struct LinePreparer: Sendable {
    /// A decoder of the same rules, used for its routing and scanners only.
    private var router: TelemetryDecoder
    /// The routes handed out before the router's table last started over (kept alive).
    private var retired: [TelemetryDecoder.Route] = []

    public init(settings: PipelineSettings) {
        router = TelemetryDecoder(rules: settings.rules, register: settings.register, limits: settings.limits)
    }

    /// One payload's values (kept: a line allocates nothing of its own).
    private var found: [FlatJSON.Slot] = []

    /// Reads the routes and flat payloads of the batch's lines.
    public mutating func prepare(_ batch: inout MessageBatch) {
        batch.prepare { topic, payload, slots in
            if router.routes.count >= TelemetryDecoder.maxRoutes {
                // The table starts over here, not in the router: what it held stays alive.
                retired += router.routes.values
                router.routes.removeAll()
            }
            guard case .rule(let rule) = router.route(topic) else { return (nil, .notScanned) }
            let r = Unmanaged.passUnretained(rule)
            guard let j = router.json[rule.index], let scanner = j.scanner else { return (r, .notScanned) }
            guard scanner.scan(payload, into: &found) else { return (r, .notFlat) }
            let start = slots.count
            slots.append(contentsOf: found)
            return (r, .scanned(start))
        }
    }
}

/// What the preparer did with a line's payload.
enum PreparedPayload: Sendable, Equatable {
    /// Nothing: the decoder scans it (or its rule is not JSON).
    case notScanned
    /// Not a flat object: it takes the parser.
    case notFlat
    /// Scanned: its rule's slots start here in the batch's slots.
    case scanned(Int)
}
