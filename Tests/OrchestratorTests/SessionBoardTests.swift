import Foundation
@testable import Orchestrator
import Synchronization
import XCTest

final class SessionBoardTests: XCTestCase {
    /// A clock the test moves by hand, so "least recently updated" is exact.
    final class Clock: Sendable {
        let seconds = Mutex(1_000_000.0)
        func advance(_ by: Double = 1) { seconds.withLock { $0 += by } }
        var now: @Sendable () -> Date { { [self] in Date(timeIntervalSince1970: self.seconds.withLock { $0 }) } }
    }

    func testManyMoreSessionsThanItsCapacityLeaveItAtCapacityWithTheNewestKept() {
        let clock = Clock()
        let board = SessionBoard(capacity: 50, now: clock.now)
        for i in 0..<5_000 {
            clock.advance()
            board.launching(sessionID: "sesn_\(i)", environmentID: "env_1", workID: "work_\(i)")
            if i.isMultiple(of: 2) { board.launched(sessionID: "sesn_\(i)", sandboxID: "sbx_\(i)", duration: .seconds(2)) }
        }
        XCTAssertEqual(board.count, 50)
        XCTAssertEqual(board.snapshot.map(\.sessionID), (4_950..<5_000).reversed().map { "sesn_\($0)" })
        XCTAssertEqual(board.countsByState().map(\.count).reduce(0, +), 50)
    }

    func testTheLeastRecentlyUpdatedRowIsTheOneEvicted() {
        let clock = Clock()
        let board = SessionBoard(capacity: 2, now: clock.now)
        board.launching(sessionID: "a", environmentID: "e", workID: nil); clock.advance()
        board.launching(sessionID: "b", environmentID: "e", workID: nil); clock.advance()
        board.failed(sessionID: "a", sandboxID: nil, reason: "x"); clock.advance()
        board.launching(sessionID: "c", environmentID: "e", workID: nil)
        XCTAssertEqual(Set(board.snapshot.map(\.sessionID)), ["a", "c"])
    }

    func testEachFactMovesTheRowToItsState() {
        let clock = Clock()
        let board = SessionBoard(now: clock.now)
        let cases: [(String, (SessionBoard) -> Void, SessionBoard.State, String?)] = [
            ("launching", { $0.launching(sessionID: "s", environmentID: "e", workID: "w") }, .launching, nil),
            ("launched", { $0.launched(sessionID: "s", sandboxID: "sbx", duration: .milliseconds(1500)) }, .running, nil),
            ("probe", { $0.runnerProbed(sandboxID: "sbx", state: "exited", at: Date()) }, .running, nil),
            ("paused", { $0.sandboxPaused(sandboxID: "sbx", at: Date()) }, .paused, nil),
            ("late failure", { $0.failed(sessionID: "s", sandboxID: "sbx", reason: "runner exited") }, .failed, "runner exited"),
            ("terminated", { $0.stopped(sessionID: "s", reason: "session.status_terminated") }, .stopped,
             "session.status_terminated"),
        ]
        for (name, fact, state, reason) in cases {
            clock.advance()
            fact(board)
            let row = board.snapshot.first
            XCTAssertEqual(row?.state, state, name)
            XCTAssertEqual(row?.reason, reason, name)
        }
        let row = board.snapshot[0]
        XCTAssertEqual(row.sandboxID, "sbx")
        XCTAssertEqual(row.launchSeconds, 1.5)
        XCTAssertEqual(row.runnerState, "exited")
    }

    func testFactsAboutUnknownSessionsOrSandboxesAddNoRow() {
        let board = SessionBoard()
        board.failed(sessionID: "never-launched", sandboxID: nil, reason: "x")
        board.stopped(sessionID: "never-launched", reason: "session.deleted")
        board.sandboxPaused(sandboxID: "sbx-unknown", at: Date())
        XCTAssertEqual(board.count, 0)
    }

    func testLongReasonsAreCut() {
        let board = SessionBoard()
        board.launching(sessionID: "s", environmentID: "e", workID: nil)
        board.failed(sessionID: "s", sandboxID: nil, reason: String(repeating: "x", count: 10_000))
        XCTAssertLessThanOrEqual(board.snapshot[0].reason?.count ?? 0, SessionBoard.maxReasonBytes + 1)
    }
}
