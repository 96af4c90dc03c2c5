import Orchestrator
import XCTest

/// Rule 41: repeated webhook-ids within the window are duplicates; the set is bounded.
final class DeliveryDedupeTests: XCTestCase {
    func testARepeatWithinTheWindowIsADuplicateAndAfterItIsNot() {
        let d = DeliveryDedupe(windowSeconds: 600)
        XCTAssertFalse(d.isRepeat("msg_1", now: 1000))
        XCTAssertTrue(d.isRepeat("msg_1", now: 1599))
        XCTAssertFalse(d.isRepeat("msg_1", now: 1600))
        XCTAssertFalse(d.isRepeat("msg_2", now: 1600))
    }

    func testEntriesExpireSoTheSetStaysSmall() {
        let d = DeliveryDedupe(windowSeconds: 10)
        for i in 0..<1000 { _ = d.isRepeat("msg_\(i)", now: Int64(i)) }
        XCTAssertLessThanOrEqual(d.count, 10)
    }

    func testTheCapacityBoundDropsTheOldestFirst() {
        let d = DeliveryDedupe(windowSeconds: 600, capacity: 3)
        for id in ["a", "b", "c", "d"] { XCTAssertFalse(d.isRepeat(id, now: 5)) }
        XCTAssertEqual(d.count, 3)
        XCTAssertTrue(d.isRepeat("d", now: 6))
        XCTAssertFalse(d.isRepeat("a", now: 6), "the oldest entry was dropped")
    }

    func testAZeroWindowTurnsDeduplicationOff() {
        let d = DeliveryDedupe(windowSeconds: 0)
        XCTAssertFalse(d.isRepeat("msg_1", now: 1))
        XCTAssertFalse(d.isRepeat("msg_1", now: 1))
    }
}
