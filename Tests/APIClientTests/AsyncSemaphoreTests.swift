import XCTest
import Synchronization
import TestSupport
@testable import APIClient

final class AsyncSemaphoreTests: XCTestCase {
    func testBoundsConcurrencyAndWakesWaitersInOrder() async throws {
        let semaphore = AsyncSemaphore(value: 2)
        try await semaphore.wait()
        try await semaphore.wait()
        XCTAssertEqual(semaphore.available, 0)
        XCTAssertFalse(semaphore.tryWait())
        let order = Locked<[Int]>([])
        let first = Task { try await semaphore.wait(); order.withLock { $0.append(1) } }
        do { let ok = await ManualSleeper.waitUntil { semaphore.waiting == 1 }; XCTAssertTrue(ok) }
        let second = Task { try await semaphore.wait(); order.withLock { $0.append(2) } }
        do { let ok = await ManualSleeper.waitUntil { semaphore.waiting == 2 }; XCTAssertTrue(ok) }
        semaphore.signal()
        try await first.value
        XCTAssertEqual(order.withLock { $0 }, [1])
        semaphore.signal()
        try await second.value
        XCTAssertEqual(order.withLock { $0 }, [1, 2])
        semaphore.signal(); semaphore.signal()
        XCTAssertEqual(semaphore.available, 2)
    }

    func testCancelledWaiterLeavesWithoutTakingAPermit() async throws {
        let semaphore = AsyncSemaphore(value: 0)
        let waiter = Task { try await semaphore.wait() }
        do { let ok = await ManualSleeper.waitUntil { semaphore.waiting == 1 }; XCTAssertTrue(ok) }
        waiter.cancel()
        do { try await waiter.value; XCTFail("expected cancellation") } catch is CancellationError {}
        XCTAssertEqual(semaphore.waiting, 0)
        semaphore.signal()
        XCTAssertEqual(semaphore.available, 1)   // the permit was not lost to the cancelled waiter
    }

    func testAlreadyCancelledTaskDoesNotWait() async {
        let semaphore = AsyncSemaphore(value: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await semaphore.wait()
        }
        do { try await task.value; XCTFail("expected cancellation") } catch { XCTAssertTrue(error is CancellationError) }
        XCTAssertEqual(semaphore.available, 1)
    }

    func testManyConcurrentUsersNeverExceedTheLimit() async throws {
        let semaphore = AsyncSemaphore(value: 3)
        let counters = Locked((current: 0, peak: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await semaphore.withPermit {
                        counters.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                        await Task.yield()
                        counters.withLock { $0.current -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertLessThanOrEqual(counters.withLock { $0.peak }, 3)
        XCTAssertEqual(semaphore.available, 3)
    }

    // A signal that lands after a waiter found no permit but before it parked must
    // still let it through: the signal sees no waiter and leaves a permit, which the
    // waiter takes instead of sleeping beside it (a drain scheduler test hung on this).
    func testASignalBetweenLookingAndParkingIsNotLost() async throws {
        let box = Locked<AsyncSemaphore?>(nil)
        let semaphore = AsyncSemaphore(value: 0, beforeParking: { box.value?.signal() })
        box.withLock { $0 = semaphore }
        let waiter = Task { try await semaphore.wait() }
        let finished = await ManualSleeper.waitUntil(timeout: .seconds(5)) { semaphore.waiting == 0 && semaphore.available == 0 }
        guard finished else {
            // Not awaited: a waiter parked this way would keep the test from ending.
            return XCTFail("the waiter parked with \(semaphore.available) permit(s) free")
        }
        try await waiter.value
    }
}
