import XCTest
@testable import Orchestrator

final class ActivityLogTests: XCTestCase {
    func testKeepsTheNewestEntriesNewestFirst() {
        let log = ActivityLog(capacity: 3)
        XCTAssertEqual(log.recent.map(\.event), [])
        log.record("e1")
        log.record("e2")
        XCTAssertEqual(log.recent.map(\.event), ["e2", "e1"])
        log.record("e3")
        XCTAssertEqual(log.recent.map(\.event), ["e3", "e2", "e1"])
        for n in 4...8 {
            log.record("e\(n)")
            XCTAssertEqual(log.recent.map(\.event), ["e\(n)", "e\(n - 1)", "e\(n - 2)"])
        }
    }

    func testLongDetailsAreCut() {
        let log = ActivityLog(capacity: 2)
        log.record("launch", detail: String(repeating: "x", count: 600))
        log.record("launch", detail: "short")
        XCTAssertEqual(log.recent.map { $0.detail?.count }, [5, 500])
    }
}
