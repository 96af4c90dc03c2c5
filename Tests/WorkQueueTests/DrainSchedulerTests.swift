import XCTest
import APIClient
import TestSupport
@testable import WorkQueue

final class DrainSchedulerTests: XCTestCase {
    /// A drain the test controls: counts runs and parks each one until released.
    private final class ControlledDrain: Sendable {
        let started = Locked(0)
        let concurrent = Locked((now: 0, peak: 0))
        let release = AsyncSemaphore(value: 0)

        func run() async {
            started.withLock { $0 += 1 }
            concurrent.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            try? await release.wait()
            concurrent.withLock { $0.now -= 1 }
        }
    }

    // rule 40: a trigger during a drain → exactly one more drain
    func testTriggersDuringADrainCauseExactlyOneRerun() async {
        for triggers in [1, 5] {
            let sleeper = ManualSleeper()
            let drain = ControlledDrain()
            let scheduler = DrainScheduler(interval: .seconds(30), drainAtStart: false, sleeper: sleeper) { await drain.run() }
            let task = Task { await scheduler.run() }
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }   // idle, timer armed
            XCTAssertEqual(drain.started.value, 0)
            scheduler.trigger()
            do { let ok = await ManualSleeper.waitUntil { drain.started.value == 1 }; XCTAssertTrue(ok) }
            for _ in 0..<triggers { scheduler.trigger() }
            drain.release.signal()
            do { let ok = await ManualSleeper.waitUntil { drain.started.value == 2 }; XCTAssertTrue(ok) }
            drain.release.signal()
            // Back to idle: waiting on the timer again, no third drain.
            do { let ok = await ManualSleeper.waitUntil { !scheduler.isDraining && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
            XCTAssertEqual(drain.started.value, 2, "\(triggers) triggers")
            XCTAssertEqual(drain.concurrent.value.peak, 1)   // one drain at a time
            task.cancel()
            await task.value
        }
    }

    // rule 40 with a minimum gap: the rerun still comes, no earlier than the gap
    // after the previous start, and triggers during the gap ride along with it.
    func testTheRerunWaitsForTheMinimumGapAndStillComes() async {
        let sleeper = ManualSleeper()
        let drain = ControlledDrain()
        let scheduler = DrainScheduler(interval: .seconds(30), minimumGap: .seconds(1), drainAtStart: false,
                                       sleeper: sleeper) { await drain.run() }
        let task = Task { await scheduler.run() }
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        scheduler.trigger()
        do { let ok = await ManualSleeper.waitUntil { drain.started.value == 1 }; XCTAssertTrue(ok) }
        scheduler.trigger()
        drain.release.signal()
        // The rerun is due but parked on the gap.
        do { let ok = await ManualSleeper.waitUntil { sleeper.pendingSleepers == 1 && !scheduler.isDraining }; XCTAssertTrue(ok) }
        XCTAssertEqual(drain.started.value, 1)
        for _ in 0..<3 { scheduler.trigger() }
        sleeper.advance(by: .seconds(1))
        do { let ok = await ManualSleeper.waitUntil { drain.started.value == 2 }; XCTAssertTrue(ok) }
        drain.release.signal()
        do { let ok = await ManualSleeper.waitUntil { !scheduler.isDraining && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
        XCTAssertEqual(drain.started.value, 2, "the triggers during the gap were served by the rerun")
        task.cancel()
        await task.value
    }

    // A drain that gave up (failures in a row) never saw the queue empty: the triggers
    // it absorbed get another drain after a backoff (1 s, 2 s, …), not the 30 s timer,
    // and one that finishes resets the backoff.
    func testADrainThatGaveUpIsFollowedByAnotherAfterABackoffWithoutANewTrigger() async {
        let sleeper = ManualSleeper()
        let ends = Locked<[DrainEnd]>([.gaveUp, .gaveUp, .finished])
        let started = Locked(0)
        let scheduler = DrainScheduler(interval: .seconds(30), drainAtStart: false, sleeper: sleeper, random: { 0 }) {
            started.withLock { $0 += 1 }
            return ends.withLock { $0.isEmpty ? .finished : $0.removeFirst() }
        }
        let task = Task { await scheduler.run() }
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }   // idle, timer armed
        scheduler.trigger()   // the only trigger
        do { let ok = await ManualSleeper.waitUntil { started.value == 1 && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
        XCTAssertEqual(scheduler.drainsGivenUp, 1)
        sleeper.advance(by: .seconds(1))
        do { let ok = await ManualSleeper.waitUntil { started.value == 2 && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
        sleeper.advance(by: .seconds(1))
        XCTAssertEqual(started.value, 2, "the second retry waits twice as long")
        sleeper.advance(by: .seconds(1))
        do { let ok = await ManualSleeper.waitUntil { started.value == 3 && !scheduler.isDraining && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
        XCTAssertEqual(scheduler.drainsGivenUp, 0)
        // Finished: back to waiting for a trigger or the 30 s timer.
        XCTAssertEqual(sleeper.requestedSleeps.last, .seconds(30))
        task.cancel()
        await task.value
        XCTAssertEqual(started.value, 3)
    }

    func testTriggersBeforeADrainStartsCoalesceIntoOne() async {
        let sleeper = ManualSleeper()
        let drain = ControlledDrain()
        let scheduler = DrainScheduler(interval: .seconds(30), drainAtStart: false, sleeper: sleeper) { await drain.run() }
        for _ in 0..<3 { scheduler.trigger() }   // all before run() looks: one pending flag
        let task = Task { await scheduler.run() }
        do { let ok = await ManualSleeper.waitUntil { drain.started.value == 1 }; XCTAssertTrue(ok) }
        drain.release.signal()
        do { let ok = await ManualSleeper.waitUntil { !scheduler.isDraining && sleeper.pendingSleepers == 1 }; XCTAssertTrue(ok) }
        XCTAssertEqual(drain.started.value, 1)
        task.cancel()
        await task.value
    }

    // rule 42: a timer drain every 30 s without triggers; a drain at start
    func testTimerDrainsEveryIntervalAndAtStart() async {
        let sleeper = ManualSleeper()
        let drain = ControlledDrain()
        let scheduler = DrainScheduler(sleeper: sleeper) { await drain.run() }
        XCTAssertEqual(scheduler.interval, .seconds(30))
        let task = Task { await scheduler.run() }
        do { let ok = await ManualSleeper.waitUntil { drain.started.value == 1 }; XCTAssertTrue(ok) }   // at start
        drain.release.signal()
        for expected in 2...3 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            XCTAssertEqual(sleeper.requestedSleeps.last, .seconds(30))
            XCTAssertEqual(drain.started.value, expected - 1)
            sleeper.advance(by: .seconds(30))
            do { let ok = await ManualSleeper.waitUntil { drain.started.value == expected }; XCTAssertTrue(ok) }
            drain.release.signal()
        }
        task.cancel()
        await task.value
        XCTAssertEqual(drain.started.value, 3)
    }

    func testCancellingRunWhileIdleReturns() async {
        let sleeper = ManualSleeper()
        let scheduler = DrainScheduler(drainAtStart: false, sleeper: sleeper) {}
        let task = Task { await scheduler.run() }
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        task.cancel()
        await task.value
        XCTAssertEqual(scheduler.drainsStarted, 0)
    }
}
