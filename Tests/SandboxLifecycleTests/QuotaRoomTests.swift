import Foundation
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// superserve.md §7: launches that meet `too_many_sandboxes` wait in launch order,
/// and room is made for as many as wait.
final class QuotaRoomTests: XCTestCase {
    func until(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }

    func testWaitersGoInLaunchOrderAsRoomIsMade() async throws {
        let gate = Gate()
        let asked = Locked<[Int]>([])
        let room = QuotaRoom(maker: { count in
            asked.withLock { $0.append(count) }
            await gate.wait()
            return 1
        }, sleeper: ManualSleeper())
        let released = Locked<[UInt64]>([])
        var tasks: [Task<Void, any Error>] = []
        for ticket: UInt64 in [5, 2, 9] {
            tasks.append(Task {
                try await room.waitForRoom(ticket: ticket)
                released.withLock { $0.append(ticket) }
            })
            let queued = await until { room.waiting == tasks.count }
            XCTAssertTrue(queued)
        }
        XCTAssertNotNil(room.lastPressure)
        gate.open()
        for task in tasks { try await task.value }
        XCTAssertEqual(released.withLock { $0 }, [2, 5, 9], "earliest launch first, whatever the arrival")
        XCTAssertEqual(asked.withLock { $0.first }, 1, "the first round saw one waiter")
        XCTAssertEqual(room.pausedForRoom, 3)
        XCTAssertEqual(room.waiting, 0)
    }

    func testWithNothingToPauseTheEarliestRetriesAfterTheInterval() async throws {
        let clock = ManualSleeper()
        let room = QuotaRoom(maker: { _ in 0 }, sleeper: clock, retryInterval: .seconds(2))
        let waiter = Task { try await room.waitForRoom(ticket: 1) }
        let parked = await clock.waitForSleepers(1)
        XCTAssertTrue(parked)
        XCTAssertEqual(clock.requestedSleeps, [.seconds(2)])
        clock.advance(by: .seconds(2))
        try await waiter.value
        XCTAssertEqual(room.pausedForRoom, 0)
    }

    func testACancelledWaiterLeavesTheLine() async throws {
        let clock = ManualSleeper()
        let room = QuotaRoom(maker: { _ in 0 }, sleeper: clock, retryInterval: .seconds(2))
        let first = Task { try await room.waitForRoom(ticket: 1) }
        let parked = await clock.waitForSleepers(1)
        XCTAssertTrue(parked)
        let second = Task { try await room.waitForRoom(ticket: 2) }
        let queued = await until { room.waiting == 1 }
        XCTAssertTrue(queued)
        second.cancel()
        do { try await second.value; XCTFail("expected cancellation") } catch is CancellationError {}
        XCTAssertEqual(room.waiting, 0)
        clock.advance(by: .seconds(2))
        try await first.value
    }
}
