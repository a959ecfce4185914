import Foundation
@testable import CBMCore

// Reference instants, computed by hand and checked with `date -u -d … +%s`:
//   2026-11-28T00:00:00Z = 20 785 days · 86 400 s = 1 795 824 000 s
//   (1970→2026: 56 years · 365 + 14 leap days = 20 454 days; 1 Jan → 28 Nov 2026: 304 + 27 = 331 days)
enum Ref {
    /// 2026-11-28T00:00:00Z (= 08:00 in Shanghai).
    static let nov28: Int64 = 1_795_824_000
    /// 2026-11-29T07:16:51Z.
    static let nov29_071651: Int64 = 1_795_936_611
    /// 2000-03-01T00:00:00Z.
    static let y2000mar1: Int64 = 951_868_800
    /// 2024-02-29T12:00:00Z.
    static let leapDayNoon2024: Int64 = 1_709_208_000
    /// 1900-01-01T00:00:00Z.
    static let y1900: Int64 = -2_208_988_800
    /// America/New_York: EST → EDT at 2026-03-08T07:00:00Z, EDT → EST at 2026-11-01T06:00:00Z.
    static let nyDSTStart2026: Int64 = 1_772_953_200
    static let nyDSTEnd2026: Int64 = 1_793_512_800
    /// Europe/Berlin: CET → CEST at 2026-03-29T01:00:00Z, CEST → CET at 2026-10-25T01:00:00Z.
    static let berlinDSTStart2026: Int64 = 1_774_746_000
    static let berlinDSTEnd2026: Int64 = 1_792_890_000
}

func ts(_ seconds: Int64, micros: Int64 = 0) -> Timestamp {
    Timestamp(microseconds: seconds * 1_000_000 + micros)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

/// |a − b| ≤ tolerance · max(1, |b|).
func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(b))
}

func zone(_ id: String) -> TimeZone { TimeZone(identifier: id)! }

extension Result {
    var success: Success? { if case .success(let v) = self { return v } else { return nil } }
    var failure: Failure? { if case .failure(let e) = self { return e } else { return nil } }
}
