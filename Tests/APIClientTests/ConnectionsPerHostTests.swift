import APIClient
import Foundation
import Synchronization
import XCTest

/// URLSession's per-host connection limit against the Superserve in-flight cap
/// (rule 35): eight slow sandbox creates must all be on the wire at once, or the
/// queued ones spend their deadline waiting for a connection inside URLSession.
final class ConnectionsPerHostTests: XCTestCase {
    /// Requests the server holds until `expected` are open at once (or `patience`
    /// passes); each answer tells how many were open when it was released.
    final class Gate: Sendable {
        private let arrived = Mutex(0)
        private let condition = NSCondition()
        let expected: Int
        let patience: TimeInterval

        init(expected: Int, patience: TimeInterval) {
            self.expected = expected
            self.patience = patience
        }

        func hold() -> Int {
            condition.lock()
            defer { condition.unlock() }
            let count = arrived.withLock { n in n += 1; return n }
            if count >= expected { condition.broadcast() }
            let deadline = Date().addingTimeInterval(patience)
            while arrived.withLock({ $0 }) < expected, condition.wait(until: deadline) {}
            return arrived.withLock { $0 }
        }
    }

    /// Sends `count` creates at once through a transport allowing `limit` connections per
    /// host; returns how many requests the server saw open together at each answer.
    func slowCreates(count: Int, limit: Int, patience: TimeInterval) async throws -> [Int] {
        let gate = Gate(expected: count, patience: patience)
        let server = try LoopbackServer { _ in
            let open = gate.hold()
            return LoopbackServer.response(status: 201, headers: [("X-Open", String(open))], body: #"{"id":"sbx"}"#)
        }
        defer { server.stop() }
        let transport = URLSessionTransport(maxConnectionsPerHost: limit)
        let url = URL(string: "http://127.0.0.1:\(server.port)/sandboxes")!
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let response = try await transport.send(OutboundRequest(
                        method: "POST", url: url, headers: [("Content-Type", "application/json")],
                        body: Data(#"{"name":"cma-sesn"}"#.utf8), timeout: .seconds(patience + 10)))
                    return Int(response.header("x-open") ?? "") ?? -1
                }
            }
            var seen: [Int] = []
            for try await open in group { seen.append(open) }
            return seen
        }
    }

    func testEightSlowCreatesAreOnTheWireAtOnceWithTheConfiguredLimit() async throws {
        // The app's figure: the in-flight cap (8) plus Anthropic's four calls (rule 36).
        let seen = try await slowCreates(count: 8, limit: 12, patience: 20)
        XCTAssertEqual(seen.count, 8)
        XCTAssertEqual(Set(seen), [8], "every create was held open while all eight were")
    }

    func testURLSessionsDefaultOfSixHoldsTheSeventhCreateBack() async throws {
        // The control: with URLSession's default only six reach the server together, so
        // the test above fails if the configured limit stops reaching URLSession.
        let seen = try await slowCreates(count: 8, limit: URLSessionTransport.urlSessionDefaultConnectionsPerHost,
                                         patience: 2)
        XCTAssertEqual(seen.count, 8)
        XCTAssertEqual(seen.max(), 6, "\(seen)")
    }
}
