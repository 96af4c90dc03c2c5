import HTTPServer
import TestSupport
import XCTest

/// At the connection cap a newcomer is admitted by closing a connection that does
/// nothing: the longest-idle keep-alive one, else the oldest awaiting its first head.
/// (Refusal when every connection is busy: `RejectionTests`.)
final class ConnectionCapTests: XCTestCase {
    private static let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    private func evictions(_ observer: RecordingObserver, _ reason: String) -> Int {
        observer.rejected.filter { $0 == reason }.count
    }

    func testFreshConnectionsAtTheCapCloseTheLongestIdleKeepAliveConnections() async throws {
        let observer = RecordingObserver()
        // Several loops: the oldest idle connection is chosen across them.
        let h = try ServerHarness(router: .testing(), configure: { $0.maxConnections = 50; $0.connectionQueues = 4 },
                                  observer: observer)
        var held: [RawClient] = []
        for _ in 0..<50 {   // used in this order: held[0] has been idle longest
            let c = try h.client()
            try c.send(Self.healthz)
            XCTAssertEqual(try c.readResponse().status, 200)
            held.append(c)
        }
        var fresh: [RawClient] = []   // held too: closing one would make room below the cap
        for i in 0..<20 {
            let c = try h.client()
            fresh.append(c)
            try c.send(Self.healthz)
            XCTAssertEqual(try c.readResponse().status, 200, "fresh connection \(i)")
            // The victim's loop closes it on its own queue: wait for it before the next
            // newcomer, so that each one sees the ages that eviction left.
            await waitUntil(.seconds(5), "eviction \(i + 1)") { self.evictions(observer, "evicted_idle") == i + 1 }
        }
        for (i, c) in held.enumerated() where i < 20 {
            XCTAssertTrue(try c.waitForClose(), "idle connection \(i) was evicted")
            XCTAssertTrue(c.buffered.isEmpty, "closed without an answer")
        }
        for (i, c) in held.enumerated() where i >= 20 {
            try c.send(Self.healthz)
            XCTAssertEqual(try c.readResponse().status, 200, "recently used connection \(i) is still open")
        }
        XCTAssertFalse(observer.rejected.contains("connection_cap"))
        await h.stop()
    }

    func testSilentConnectionsAtTheCapMakeRoomForFreshOnes() async throws {
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(), configure: { $0.maxConnections = 50 }, observer: observer)
        var silent: [RawClient] = []
        for _ in 0..<50 { silent.append(try h.client()) }
        await waitUntil(.seconds(5), "the silent connections are accepted") { observer.opened == 50 }
        var refills: [RawClient] = []
        for i in 0..<10 {
            let fresh = try h.client()
            try fresh.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(try fresh.readResponse().status, 200, "fresh connection \(i)")
            XCTAssertTrue(try fresh.waitForClose())
            fresh.close()   // ends the server's linger: its close and the eviction's are counted
            await waitUntil(.seconds(5), "fresh connection \(i) and its victim closed") { observer.closed == 2 * (i + 1) }
            // Back to the cap with one more silent connection (the newest awaiting its head).
            refills.append(try h.client())
            await waitUntil(.seconds(5), "refill \(i) accepted") { observer.opened == 50 + 2 * (i + 1) }
        }
        await waitUntil(.seconds(5), "ten silent connections evicted") {
            self.evictions(observer, "evicted_awaiting_head") == 10
        }
        // The observer hears of each eviction after its close: the EOFs are already there
        // (a millisecond is for the read, not a wait for the server).
        var closed = 0
        for c in silent + refills {
            if try c.waitForClose(timeout: .milliseconds(1)) { closed += 1 }
        }
        XCTAssertEqual(closed, 10)
        XCTAssertFalse(observer.rejected.contains("connection_cap"))
        await h.stop()
    }
}
