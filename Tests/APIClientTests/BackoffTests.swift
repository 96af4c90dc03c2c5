import XCTest
@testable import APIClient

final class BackoffTests: XCTestCase {
    // rule 34: min(cap, 0.5 s × 2^n) × U(0.5, 1]
    func testDelayStaysWithinJitterBoundsAndCap() {
        let cases: [(attempt: Int, cap: Duration, low: Double, high: Double)] = [
            (0, .seconds(30), 0.25, 0.5),
            (1, .seconds(30), 0.5, 1),
            (3, .seconds(30), 2, 4),
            (6, .seconds(30), 15, 30),     // 32 s capped at 30
            (10, .seconds(60), 30, 60),
            (10_000, .seconds(60), 30, 60),  // no overflow
            (-3, .seconds(30), 0.25, 0.5),   // negative treated as 0
        ]
        for c in cases {
            let lowest = Backoff(cap: c.cap, random: { 0.999_999_999_9 }).delay(attempt: c.attempt, hint: nil)
            let highest = Backoff(cap: c.cap, random: { 0 }).delay(attempt: c.attempt, hint: nil)
            XCTAssertEqual(highest.secondsDouble, c.high, accuracy: 1e-6, "attempt \(c.attempt)")
            XCTAssertGreaterThan(lowest.secondsDouble, c.low - 1e-6, "attempt \(c.attempt)")
            XCTAssertLessThan(lowest.secondsDouble, c.low + 1e-3, "attempt \(c.attempt)")
            let real = Backoff(cap: c.cap)
            for _ in 0..<50 {
                let d = real.delay(attempt: c.attempt, hint: nil).secondsDouble
                XCTAssertGreaterThan(d, c.low - 1e-9)
                XCTAssertLessThanOrEqual(d, c.high + 1e-9)
            }
        }
    }

    func testLongerServerHintWinsUpToSixtySeconds() {
        let backoff = Backoff(cap: .seconds(30), random: { 0 })
        let cases: [(attempt: Int, hint: Duration?, expected: Duration)] = [
            (0, nil, .milliseconds(500)),
            (0, .seconds(5), .seconds(5)),            // hint asks for more: wins
            (3, .seconds(1), .seconds(4)),            // hint asks for less: computed delay
            (0, .seconds(600), .seconds(60)),         // capped at 60 s
            (10, .seconds(45), .seconds(45)),         // hint beyond the 30 s cap still honoured
        ]
        for c in cases {
            XCTAssertEqual(backoff.delay(attempt: c.attempt, hint: c.hint), c.expected, "\(c)")
        }
    }
}
