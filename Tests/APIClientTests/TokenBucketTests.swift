import XCTest
import TestSupport
@testable import APIClient

final class TokenBucketTests: XCTestCase {
    func testBurstIsServedAtOnceThenRefillsAtTheRate() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 2, burst: 3, sleeper: clock)
        for _ in 0..<3 { try await bucket.acquire() }
        XCTAssertTrue(clock.requestedSleeps.isEmpty)
        XCTAssertFalse(bucket.tryAcquire())

        let waiter = Task { try await bucket.acquire() }
        do { let ok = await clock.waitForSleepers(1); XCTAssertTrue(ok) }
        XCTAssertEqual(clock.requestedSleeps, [.milliseconds(500)])   // one token at 2/s
        clock.advance(by: .milliseconds(500))
        try await waiter.value
        XCTAssertFalse(bucket.tryAcquire())

        clock.advance(by: .seconds(10))        // refill is capped at the burst
        for _ in 0..<3 { XCTAssertTrue(bucket.tryAcquire()) }
        XCTAssertFalse(bucket.tryAcquire())
    }

    // rule 35: a 429 pauses the bucket for Retry-After
    func testPauseBlocksEveryTokenUntilItEnds() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 10, burst: 5, sleeper: clock)
        bucket.pause(for: .seconds(2))
        XCTAssertFalse(bucket.tryAcquire())
        let waiter = Task { try await bucket.acquire() }
        do { let ok = await clock.waitForSleepers(1); XCTAssertTrue(ok) }
        XCTAssertEqual(clock.requestedSleeps.last, .seconds(2))
        bucket.pause(for: .seconds(1))           // shorter pause does not shorten it
        clock.advance(by: .seconds(1))
        XCTAssertFalse(bucket.tryAcquire())
        clock.advance(by: .seconds(1))
        // Pause over, bucket starts empty: the waiter needs 100 ms of refill.
        do { let ok = await clock.waitForSleepers(1); XCTAssertTrue(ok) }
        clock.advance(by: .milliseconds(100))
        try await waiter.value
    }

    func testCancelledWaiterThrows() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 1, burst: 1, sleeper: clock)
        try await bucket.acquire()
        let waiter = Task { try await bucket.acquire() }
        do { let ok = await clock.waitForSleepers(1); XCTAssertTrue(ok) }
        waiter.cancel()
        do { try await waiter.value; XCTFail("expected cancellation") } catch is CancellationError {}
    }
}
