extension AlertEngine {
    // MARK: commands

    /// Applies an operator's command; returns the changed alarm's new record, or why it failed.
    public mutating func apply(_ command: Command, at t: Timestamp) -> Result<AlertRecord?, CommandError> {
        switch command {
        case .maintenance(let m):
            maintenance.append(m)
            return .success(nil)
        case .acknowledge(let rule, let scope, let id, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard var a = alarms[key], var last = a.last else { return .failure(CommandError(message: "no alarm \(scope.rawValue)/\(id)/\(rule)")) }
            guard a.active else { return .failure(CommandError(message: "\(scope.rawValue)/\(id)/\(rule) is not active")) }
            a.acknowledged = true
            last.acknowledged = true
            last.time = t
            last.message = "\(rule): acknowledged by \(by)"
            a.last = last
            alarms[key] = a
            return .success(last)
        case .shelve(let rule, let scope, let id, let until, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard rules.contains(where: { $0.name == rule }) else { return .failure(CommandError(message: "no rule \(rule)")) }
            var a = alarms[key] ?? Alarm()
            a.shelvedUntil = until.microseconds
            nextExpiry = min(nextExpiry, until.microseconds)
            var record = a.last ?? AlertRecord(time: t, rule: rule, scope: scope, id: id, state: .cleared,
                                               severity: rules.first { $0.name == rule }!.severity, value: nil, threshold: nil,
                                               window: nil, message: "", acknowledged: false, suppressedUntil: nil)
            record.time = t
            record.suppressedUntil = until
            record.message = "\(rule): shelved by \(by) until \(until)"
            a.last = record
            alarms[key] = a
            return .success(record)
        case .unshelve(let rule, let scope, let id, let by):
            let key = Key(rule: rule, scope: scope, id: id)
            guard var a = alarms[key], var last = a.last else { return .failure(CommandError(message: "no alarm \(scope.rawValue)/\(id)/\(rule)")) }
            a.shelvedUntil = nil
            last.time = t
            last.suppressedUntil = nil
            last.message = "\(rule): unshelved by \(by)"
            a.last = last
            alarms[key] = a
            return .success(last)
        }
    }

    /// Why a command was refused.
    public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }
}
