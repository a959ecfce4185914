/// One thing wrong with the configuration (or a file it names), located for the user:
/// `file:line: key.path: what is wrong`.
public struct ConfigProblem: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file, as the user named it.
    public var file: String
    /// 1-based line, or 0 when the problem is not tied to a line.
    public var line: Int
    /// Dotted key path, e.g. `subscriptions[1].values.gas_m3h.unit`; for CSV files the column.
    public var key: String
    /// What is wrong, and what would be right.
    public var message: String

    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}
