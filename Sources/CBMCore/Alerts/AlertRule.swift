/// An alert rule (the `alerts:` configuration), validated.
public struct AlertRule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A closed window's volume below a threshold.
        case lowOutput(Threshold)
        /// No reading from an asset for a duration (distinct from zero flow).
        case noData(afterUS: Int64)
        /// The utilisation rate below a fraction.
        case lowUtilisation(below: Double, clearAbove: Double)
    }

    /// How a low-output threshold is given.
    public enum Threshold: Sendable, Equatable {
        /// A fraction of the register's expected_gas_m3d (summed over a roll-up's wells), pro rata
        /// for the window's length.
        case fractionOfExpected(below: Double, clearAbove: Double)
        /// An absolute volume for the window, m³.
        case absolute(belowM3: Double, clearAboveM3: Double)
        /// A fraction of the median of the last `windows` evaluated windows.
        case baseline(below: Double, clearAbove: Double, windows: Int)
    }

    /// Which ids of the scope a rule watches.
    public enum Selection: Sendable, Equatable {
        case all
        case ids([String])
        /// A glob with `*` and `?`.
        case match(String)

        public func selects(_ id: String) -> Bool {
            switch self {
            case .all: return true
            case .ids(let ids): return ids.contains(id)
            case .match(let pattern): return Self.glob(Array(pattern.utf8)[...], Array(id.utf8)[...])
            }
        }

        public static func glob(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
            guard let c = p.first else { return s.isEmpty }
            if c == UInt8(ascii: "*") {
                var rest = s
                while true {
                    if glob(p.dropFirst(), rest) { return true }
                    guard !rest.isEmpty else { return false }
                    rest = rest.dropFirst()
                }
            }
            guard let d = s.first, c == UInt8(ascii: "?") || c == d else { return false }
            return glob(p.dropFirst(), s.dropFirst())
        }
    }

    public var name: String
    public var kind: Kind
    public var severity: String
    public var scope: TotalsRecord.Scope
    public var selection: Selection
    /// The window a window-based rule evaluates.
    public var window: WindowKind
    /// Consecutive bad windows before the alarm becomes active.
    public var onDelay: Int
    /// Consecutive good windows before an active alarm clears.
    public var offDelay: Int
    /// Windows with less coverage are not evaluated.
    public var minCoverage: Double

    public init(name: String, kind: Kind, severity: String = "warning", scope: TotalsRecord.Scope, selection: Selection = .all,
                window: WindowKind = .hour, onDelay: Int = 1, offDelay: Int = 1, minCoverage: Double = 0.8) {
        self.name = name
        self.kind = kind
        self.severity = severity
        self.scope = scope
        self.selection = selection
        self.window = window
        self.onDelay = onDelay
        self.offDelay = offDelay
        self.minCoverage = minCoverage
    }
}

/// An `alerts` record: a change of an alarm's state (DESIGN §3.5).
public struct AlertRecord: Sendable, Equatable {
    public enum State: String, Sendable {
        case active, cleared
    }
    /// Event time of the change: the end of the window that decided it, or when silence passed `after`.
    public var time: Timestamp
    public var rule: String
    public var scope: TotalsRecord.Scope
    public var id: String
    public var state: State
    public var severity: String
    /// The value that decided it (m³, or a rate), nil for `no_data`.
    public var value: Double?
    /// The threshold it was compared with (seconds of silence for `no_data`).
    public var threshold: Double?
    /// The window evaluated, nil for `no_data`.
    public var window: WindowKind?
    public var message: String
    /// Whether an operator has acknowledged it.
    public var acknowledged: Bool
    /// Until when it is shelved or suppressed by maintenance (its changes are recorded, not announced).
    public var suppressedUntil: Timestamp?

    /// The MQTT topic level path of the alarm: `scope/id/rule`.
    public var path: String { "\(scope.rawValue)/\(id)/\(rule)" }
}
