import Foundation
import XCTest
@testable import SandboxLifecycle

/// The activity table is keyed by sandbox ids that come from upstream, so it must
/// stay bounded however many distinct sandboxes pass through it.
final class SandboxActivityTests: XCTestCase {
    func testOneHundredThousandDistinctSandboxesLeaveTheTableAtItsBoundWithTheNewestKept() throws {
        let activity = SandboxActivity()
        let bound = SandboxActivity.defaultCapacity
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for n in 0..<100_000 {
            let id = "sb-\(n)"
            if n.isMultiple(of: 2) {
                activity.recordRunning(id, at: start.addingTimeInterval(Double(n)))
            } else {
                activity.remember(SandboxAccess(sandboxID: id, accessToken: "tok-TEST", routingHint: nil))
            }
            XCTAssertLessThanOrEqual(activity.count, bound)
        }
        XCTAssertEqual(activity.count, bound)
        XCTAssertNil(activity.lastSeenRunning("sb-0"), "the oldest is forgotten")
        XCTAssertNil(activity.access(for: "sb-1"))
        XCTAssertEqual(activity.lastSeenRunning("sb-99998"), start.addingTimeInterval(99_998))
        XCTAssertEqual(activity.access(for: "sb-99999")?.sandboxID, "sb-99999")
        // Both facts about one sandbox share one row.
        activity.recordRunning("sb-99999", at: start)
        XCTAssertEqual(activity.count, bound)
        XCTAssertNotNil(activity.access(for: "sb-99999"))
        XCTAssertEqual(activity.lastSeenRunning("sb-99999"), start)
    }

    func testAnEvictedSandboxCanBeRecordedAgain() {
        let activity = SandboxActivity(capacity: 2)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for id in ["a", "b", "c", "a"] { activity.recordRunning(id, at: now) }
        XCTAssertEqual(activity.count, 2)
        XCTAssertNil(activity.lastSeenRunning("b"))
        XCTAssertNotNil(activity.lastSeenRunning("c"))
        XCTAssertNotNil(activity.lastSeenRunning("a"))
    }
}
