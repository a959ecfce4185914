import Foundation
import Testing
@testable import CBMCore

@Suite("Zone offsets")
struct ZoneOffsetsTests {
    @Test func shanghaiIsAlwaysPlusEight() {
        var z = ZoneOffsets(zone: zone("Asia/Shanghai"))
        #expect(z.offset(at: ts(Ref.nov28)) == 28_800)
        #expect(z.offset(at: ts(Ref.nov28 + 180 * 86_400)) == 28_800)  // northern summer: no DST since 1991
        #expect(z.offset(at: ts(Ref.nov28 - 2 * 365 * 86_400)) == 28_800)
        #expect(z.format(ts(Ref.nov28)) == "2026-11-28T08:00:00+08:00")
        #expect(z.format(ts(Ref.nov28, micros: 250_000)) == "2026-11-28T08:00:00.250+08:00")
        #expect(z.format(ts(Ref.nov28 + 16 * 3600)) == "2026-11-29T00:00:00+08:00")
    }

    @Test func newYorkSpringForward() {
        var z = ZoneOffsets(zone: zone("America/New_York"))
        let t = Ref.nyDSTStart2026
        // Ask first for an instant long before the transition, so a value is cached…
        #expect(z.offset(at: ts(t - 30 * 86_400)) == -18_000)
        #expect(z.offset(at: ts(t - 1)) == -18_000)
        #expect(z.offset(at: Timestamp(microseconds: t * 1_000_000 - 1)) == -18_000)
        // …and it must not be reused on the other side of the transition.
        #expect(z.offset(at: ts(t)) == -14_400)
        #expect(z.offset(at: ts(t + 3600)) == -14_400)
        #expect(z.format(ts(t - 1)) == "2026-03-08T01:59:59-05:00")
        #expect(z.format(ts(t)) == "2026-03-08T03:00:00-04:00")
    }

    @Test func newYorkCacheIsNotReusedAcrossTheTransition() {
        // The pair of calls the cache could get wrong: before, then after (no call in between).
        var z = ZoneOffsets(zone: zone("America/New_York"))
        #expect(z.offset(at: ts(Ref.nyDSTStart2026 - 86_400)) == -18_000)
        #expect(z.offset(at: ts(Ref.nyDSTStart2026 + 86_400)) == -14_400)
        // Through the autumn transition and back again in time.
        #expect(z.offset(at: ts(Ref.nyDSTEnd2026 - 1)) == -14_400)
        #expect(z.offset(at: ts(Ref.nyDSTEnd2026)) == -18_000)
        #expect(z.offset(at: ts(Ref.nyDSTEnd2026 + 7 * 86_400)) == -18_000)
        #expect(z.offset(at: ts(Ref.nyDSTStart2026 - 1)) == -18_000)
        #expect(z.offset(at: ts(Ref.nyDSTStart2026 + 1)) == -14_400)
        // The repeated hour in November: 01:30 EDT then 01:30 EST.
        #expect(z.format(ts(Ref.nyDSTEnd2026 - 1800)) == "2026-11-01T01:30:00-04:00")
        #expect(z.format(ts(Ref.nyDSTEnd2026 + 1800)) == "2026-11-01T01:30:00-05:00")
    }

    @Test func berlinBothTransitions() {
        var z = ZoneOffsets(zone: zone("Europe/Berlin"))
        #expect(z.offset(at: ts(Ref.berlinDSTStart2026 - 3600)) == 3600)
        #expect(z.offset(at: ts(Ref.berlinDSTStart2026)) == 7200)
        #expect(z.offset(at: ts(Ref.berlinDSTEnd2026 - 1)) == 7200)
        #expect(z.offset(at: ts(Ref.berlinDSTEnd2026)) == 3600)
        #expect(z.format(ts(Ref.berlinDSTStart2026)) == "2026-03-29T03:00:00+02:00")
        #expect(z.format(ts(Ref.berlinDSTEnd2026)) == "2026-10-25T02:00:00+01:00")
    }

    @Test func matchesFoundationEverywhere() {
        // Every 6 hours through 2026 in order, and then in reverse: the cache never disagrees
        // with a direct look-up.
        let tz = zone("Europe/Berlin")
        var z = ZoneOffsets(zone: tz)
        let start = Ref.nov28 - 331 * 86_400  // 2026-01-01T00:00:00Z
        let instants = stride(from: start, to: start + 365 * 86_400, by: 6 * 3600).map { ts($0) }
        for t in instants + instants.reversed() {
            let expected = tz.secondsFromGMT(for: Date(timeIntervalSince1970: t.epochSeconds))
            #expect(z.offset(at: t) == expected)
        }
    }
}
