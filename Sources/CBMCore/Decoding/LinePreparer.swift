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

    /// Per entry of the router's table: its rule and its scanner, uncounted (a line that finds
    /// its topic there changes no reference count, which the decoding thread reads beside it).
    private var entries: [(rule: Unmanaged<TelemetryDecoder.RouteRule>?, scanner: Unmanaged<FlatJSON>?)] = []

    /// Reads the routes and flat payloads of the batch's lines.
    public mutating func prepare(_ batch: inout MessageBatch) {
        batch.prepare { topic, payload, slots in
            let hash = RouteTable<TelemetryDecoder.Route>.hash(topic)
            let entry: (rule: Unmanaged<TelemetryDecoder.RouteRule>?, scanner: Unmanaged<FlatJSON>?)
            if let e = router.routes.find(topic, hash: hash) {
                entry = entries[e]
            } else {
                if router.routes.count >= TelemetryDecoder.maxRoutes {
                    // The table starts over here, not in the router: what it held stays alive.
                    retired += router.routes.values
                    router.routes.removeAll()
                    entries.removeAll()
                }
                if case .rule(let rule) = router.route(topic) {
                    entry = (Unmanaged.passUnretained(rule), router.json[rule.index]?.scanner.map { Unmanaged.passUnretained($0) })
                } else {
                    entry = (nil, nil)
                }
                entries.append(entry)
            }
            guard let rule = entry.rule else { return (nil, .notScanned) }
            guard let scanner = entry.scanner else { return (rule, .notScanned) }
            let start = slots.count
            let n = scanner._withUnsafeGuaranteedRef { $0.count }
            for _ in 0..<n { slots.append(FlatJSON.Slot()) }
            let flat = slots.withUnsafeMutableBufferPointer { s in
                scanner._withUnsafeGuaranteedRef { $0.scan(payload, into: UnsafeMutableBufferPointer(rebasing: s[start...])) }
            }
            guard flat else {
                slots.removeLast(n)
                return (rule, .notFlat)
            }
            return (rule, .scanned(start))
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
