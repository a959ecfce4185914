import Foundation

/// Durations and sizes as configuration writes them: `500ms`, `30s`, `15m`, `2h`, `7d`; `64KiB`,
/// `64MiB`, `20GiB`.
public enum Quantities {
    /// Parses a duration into microseconds. A bare number is refused: say the unit.
    public static func duration(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 1e3), ("us", 1), ("s", 1e6), ("m", 60e6), ("h", 3600e6), ("d", 86_400e6), ("w", 604_800e6)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let v = Double(number), v.isFinite, v >= 0, v * scale < 9e18 else { return nil }
            return Int64((v * scale).rounded())
        }
        return nil
    }

    /// Parses a size into bytes: a plain number of bytes, or with B, KB/MB/GB (powers of 1000) or
    /// KiB/MiB/GiB/TiB (powers of 1024).
    public static func size(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                         ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1), ("", 1)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let v = Double(number), v.isFinite, v >= 0, v * scale < 9e18 else { continue }
            return Int64((v * scale).rounded())
        }
        return nil
    }

    /// A duration for people: `250ms`, `45s`, `5m`, `2h30m`, `3d4h`.
    public static func describe(microseconds us: Int64) -> String {
        let a = abs(us)
        if a < 1_000_000 { return "\(a / 1000)ms" }
        let s = a / 1_000_000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return s % 60 == 0 ? "\(s / 60)m" : "\(s / 60)m\(s % 60)s" }
        if s < 86_400 { return s % 3600 / 60 == 0 ? "\(s / 3600)h" : "\(s / 3600)h\(s % 3600 / 60)m" }
        return s % 86_400 / 3600 == 0 ? "\(s / 86_400)d" : "\(s / 86_400)d\(s % 86_400 / 3600)h"
    }

    /// A size for people: `512B`, `64KiB`, `1.5MiB`.
    public static func describe(bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        if i == 0 || v == v.rounded() { return "\(Int64(v))\(units[i])" }
        return "\((v * 10).rounded() / 10)\(units[i])"
    }

    /// A measured number for people (events, reasons): unrounded, but without the noise of
    /// binary fractions (12 significant digits); whole numbers without a fraction.
    public static func describe(number v: Double) -> String {
        guard v.isFinite else { return "\(v)" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.12g", v)
    }
}
