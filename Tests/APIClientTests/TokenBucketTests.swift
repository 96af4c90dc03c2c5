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

/// Rule 35 as amended: one queue served in priority order, and a rate that follows
/// what the upstream reports.
final class TokenBucketOrderTests: XCTestCase {
    /// Waits (real deadline) until `condition` holds.
    func until(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            await Task.yield()
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }

    func testWaitersAreServedLaunchesUnderWayFirstEarliestLaunchFirstThenArrivalThenBackground() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 1, burst: 1, sleeper: clock)
        try await bucket.acquire()
        let served = Locked<[String]>([])
        let order: [(String, TokenBucket.Priority?)] = [
            ("new-a", nil), ("launch-5", .underWay(5)), ("janitor", .background),
            ("launch-2", .underWay(2)), ("new-b", .normal),
        ]
        var tasks: [Task<Void, any Error>] = []
        for (index, (name, priority)) in order.enumerated() {
            tasks.append(Task {
                try await TokenBucket.Priority.$current.withValue(priority) { try await bucket.acquire() }
                served.withLock { $0.append(name) }
            })
            let queued = await until { bucket.waiting == index + 1 }
            XCTAssertTrue(queued, "\(name) is queued")
        }
        for n in 1...order.count {
            let parked = await clock.waitForSleepers(1)
            XCTAssertTrue(parked)
            clock.advance(by: .seconds(1))
            let got = await until { served.withLock { $0.count } == n }
            XCTAssertTrue(got, "one token a second serves one waiter")
        }
        for task in tasks { try await task.value }
        XCTAssertEqual(served.withLock { $0 }, ["launch-2", "launch-5", "new-a", "new-b", "janitor"])
    }

    func testANewCallerDoesNotJumpAheadOfTheQueue() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 1, burst: 2, sleeper: clock)
        try await bucket.acquire()
        try await bucket.acquire()
        let waiter = Task { try await bucket.acquire() }
        let queued = await until { bucket.waiting == 1 }
        XCTAssertTrue(queued)
        let parked = await clock.waitForSleepers(1)
        XCTAssertTrue(parked)
        XCTAssertFalse(bucket.tryAcquire(), "someone is waiting")
        clock.advance(by: .seconds(1))
        try await waiter.value
    }

    func testTheRateFollowsTheReportedLimitAtItsShareAndRemainingCapsTheTokens() {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 15, burst: 20, sleeper: clock, share: 0.9)
        XCTAssertEqual(bucket.currentRate, 15)
        bucket.observe(.init(limitPerSecond: 10, burst: 40, remaining: 3))
        XCTAssertEqual(bucket.currentRate, 9, accuracy: 1e-9, "down at once to 0.9 × 10")
        XCTAssertEqual(bucket.reportedLimit, 10)
        for _ in 0..<3 { XCTAssertTrue(bucket.tryAcquire()) }
        XCTAssertFalse(bucket.tryAcquire(), "the team has 3 left, whatever this bucket thought")
        bucket.observe(.init(limitPerSecond: 20))
        XCTAssertEqual(bucket.currentRate, 9, accuracy: 1e-9, "a higher limit is approached gradually")
        clock.advance(by: .seconds(5))
        _ = bucket.tryAcquire()
        XCTAssertEqual(bucket.currentRate, 14, accuracy: 1e-9, "+1 req/s per second")
        clock.advance(by: .seconds(60))
        _ = bucket.tryAcquire()
        XCTAssertEqual(bucket.currentRate, 18, accuracy: 1e-9, "up to 0.9 × 20, no further")
    }

    func testA429HalvesTheRatePausesAndTheRateGrowsBack() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 20, burst: 5, sleeper: clock, share: 1)
        bucket.observe(.init(limitPerSecond: 20, burst: 40, remaining: 3))   // the team's budget is nearly spent
        let halved = bucket.rateLimited(retryAfter: .seconds(2), sentAt: clock.uptime(), report: .init(remaining: 0))
        XCTAssertTrue(halved)
        XCTAssertEqual(bucket.currentRate, 10, accuracy: 1e-9)
        XCTAssertEqual(bucket.rateLimitedCount, 1)
        XCTAssertEqual(bucket.decreaseCount, 1)
        XCTAssertFalse(bucket.tryAcquire(), "paused for Retry-After")
        clock.advance(by: .seconds(2))
        XCTAssertFalse(bucket.tryAcquire(), "refills from empty after the pause")
        clock.advance(by: .milliseconds(150))
        XCTAssertTrue(bucket.tryAcquire())
        clock.advance(by: .seconds(30))
        _ = bucket.tryAcquire()
        XCTAssertEqual(bucket.currentRate, 20, accuracy: 1e-9)
    }

    /// The collapse this guards against: 429s that are not about this bucket's pace
    /// (a proxy's, another client's spike, injected faults) arriving between answers
    /// that show the team has room used to halve the rate each time, down to ~1 req/s.
    func testA429AfterAnswersShowingRoomPausesButKeepsTheRate() {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 15, burst: 20, sleeper: clock, share: 0.9)
        bucket.observe(.init(limitPerSecond: 20, burst: 40, remaining: 30))
        for _ in 0..<50 {
            let halved = bucket.rateLimited(retryAfter: .seconds(1), sentAt: clock.uptime(), report: .init(limitPerSecond: 20, remaining: 0))
            XCTAssertFalse(halved)
            XCTAssertFalse(bucket.tryAcquire(), "every 429 still pauses the bucket (rule 35)")
            clock.advance(by: .seconds(1))
            bucket.observe(.init(limitPerSecond: 20, burst: 40, remaining: 25))
        }
        XCTAssertEqual(bucket.rateLimitedCount, 50)
        XCTAssertEqual(bucket.decreaseCount, 0)
        XCTAssertEqual(bucket.currentRate, 15, accuracy: 1e-9)
        // The same 429 once the answers showed the budget running out halves it.
        bucket.observe(.init(limitPerSecond: 20, burst: 40, remaining: 10))
        XCTAssertTrue(bucket.rateLimited(retryAfter: .seconds(1), sentAt: clock.uptime()))
        XCTAssertEqual(bucket.currentRate, 7.5, accuracy: 1e-9)
    }

    func testWithoutAReportedLimitA429OnlyPauses() {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 200, burst: 20, sleeper: clock)
        for _ in 0..<10 {
            XCTAssertFalse(bucket.rateLimited(retryAfter: .seconds(1), sentAt: clock.uptime(), report: .init(remaining: 0)))
            XCTAssertFalse(bucket.tryAcquire())
            clock.advance(by: .seconds(1))
        }
        XCTAssertEqual(bucket.currentRate, 200, accuracy: 1e-9, "the configured rate stands")
        XCTAssertNil(bucket.reportedLimit)
    }

    func testCallsInFlightWhenTheRateWasHalvedDoNotHalveItAgain() {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 20, burst: 20, sleeper: clock, share: 1)
        bucket.observe(.init(limitPerSecond: 20, burst: 40, remaining: 0))
        let inFlight = clock.uptime()          // eight calls took their tokens together
        clock.advance(by: .milliseconds(50))
        XCTAssertTrue(bucket.rateLimited(retryAfter: .seconds(1), sentAt: inFlight))
        for _ in 0..<7 {
            XCTAssertFalse(bucket.rateLimited(retryAfter: .seconds(1), sentAt: inFlight), "same round trip")
        }
        XCTAssertEqual(bucket.currentRate, 10, accuracy: 1e-9)
        clock.advance(by: .seconds(1))
        // A call sent after the decrease that still meets an exhausted budget halves again.
        XCTAssertTrue(bucket.rateLimited(retryAfter: .seconds(1), sentAt: clock.uptime()))
        XCTAssertEqual(bucket.currentRate, 5, accuracy: 1e-9, "no regrowth while paused; halved again")
        XCTAssertEqual(bucket.decreaseCount, 2)
        XCTAssertEqual(bucket.rateLimitedCount, 9)
    }

    func testReportsAreReadFromRateLimitHeaders() {
        func response(_ headers: [String: String]) -> InboundResponse {
            InboundResponse(status: 200, headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) }),
                            body: Data())
        }
        XCTAssertEqual(TokenBucket.Report.parse(response(["RateLimit-Limit": "20", "RateLimit-Remaining": "7",
                                                          "RateLimit-Policy": "20;w=1;burst=40"])),
                       .init(limitPerSecond: 20, burst: 40, remaining: 7))
        XCTAssertEqual(TokenBucket.Report.parse(response(["RateLimit-Policy": "100;w=10"])),
                       .init(limitPerSecond: 10), "a 10 s window divides the quota")
        XCTAssertEqual(TokenBucket.Report.parse(response(["RateLimit-Limit": "20, 20;w=1"])), .init(limitPerSecond: 20))
        XCTAssertEqual(TokenBucket.Report.parse(response(["RateLimit-Limit": "lots", "RateLimit-Remaining": "-1"])), .init())
        XCTAssertTrue(TokenBucket.Report.parse(response([:])).isEmpty)
    }
}

/// A launch's meter counts the tokens its calls took (the `superserve.calls` of its log line).
final class BucketWaitMeterTests: XCTestCase {
    func testTheMeterCountsEveryTokenTakenAndNotACancelledWait() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(ratePerSecond: 1, burst: 2, sleeper: clock)
        let meter = BucketWaitMeter()
        try await BucketWaitMeter.$current.withValue(meter) {
            try await bucket.acquire()
            try await bucket.acquire()
            let waiter = Task { try await bucket.acquire() }          // inherits the meter
            let parked = await clock.waitForSleepers(1)
            XCTAssertTrue(parked)
            clock.advance(by: .seconds(1))
            try await waiter.value
            let cancelled = Task { try await bucket.acquire() }
            let parkedAgain = await clock.waitForSleepers(1)
            XCTAssertTrue(parkedAgain)
            cancelled.cancel()
            do { try await cancelled.value; XCTFail("expected cancellation") } catch is CancellationError {}
        }
        XCTAssertEqual(meter.tokens, 3)
        XCTAssertGreaterThanOrEqual(meter.total, .seconds(1))
        clock.advance(by: .seconds(1))
        try await bucket.acquire()
        XCTAssertEqual(meter.tokens, 3, "a call outside the meter's task is not counted")
    }
}
