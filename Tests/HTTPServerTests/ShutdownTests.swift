import Foundation
import HTTPServer
import TestSupport
import XCTest

final class ShutdownTests: XCTestCase {
    func testShutdownClosesIdleAtOnceLetsInFlightFinishAndRefusesNewConnections() async throws {
        let gate = Gate()
        let entered = Counter()
        let h = try ServerHarness(router: .testing(slow: gate, slowEntered: entered), configure: { $0.shutdownGracePeriod = .seconds(5) })
        let idle = try h.client()
        try idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().status, 200)
        let busy = try h.client()
        try busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await waitUntil(.seconds(2), "slow request in its handler") { entered.value == 1 }

        let stopping = Task { await h.server.shutdown() }
        await waitUntil(.seconds(2), "shutdown flag") { h.server.isShuttingDown }
        XCTAssertTrue(try idle.waitForClose(timeout: .seconds(2)), "idle keep-alive closed at once")
        XCTAssertThrowsError(try RawClient(port: h.port), "listener closed")
        await waitUntil(.seconds(2), "idle connection released") { h.server.openConnections == 1 }
        gate.open()
        let r = try busy.readResponse()
        XCTAssertEqual(r.bodyText, "slow")
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try busy.waitForClose())
        busy.close()
        await stopping.value
        XCTAssertEqual(h.server.openConnections, 0)
    }

    func testShutdownClosesWhatIsStillRunningAfterTheGracePeriod() async throws {
        let gate = Gate()
        let entered = Counter()
        let h = try ServerHarness(router: .testing(slow: gate, slowEntered: entered), configure: { $0.shutdownGracePeriod = .milliseconds(300) })
        let busy = try h.client()
        try busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await waitUntil(.seconds(2), "slow request in its handler") { entered.value == 1 }
        let start = ContinuousClock.now
        await h.server.shutdown()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        XCTAssertTrue(try busy.waitForClose(timeout: .seconds(1)))
        XCTAssertTrue(busy.buffered.isEmpty)
        gate.open()
    }

    func testStreamsEndWhenTheServerStops() async throws {
        var r = Router()
        let started = Gate()
        r.add(.GET, "/events", .async { _ in
            Response(status: 200, headers: .init([("Content-Type", "text/event-stream")]), body: .stream { w in
                started.open()
                while true {
                    try await w.write(Array("data: tick\n\n".utf8))
                    try await Task.sleep(for: .milliseconds(10))
                }
            })
        })
        let h = try ServerHarness(router: r, configure: { $0.shutdownGracePeriod = .seconds(5) })
        let c = try h.client()
        try c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        await started.wait()
        let start = ContinuousClock.now
        await h.server.shutdown()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2), "a stream must not hold shutdown for the grace period")
        XCTAssertTrue(try c.waitForClose(timeout: .seconds(1)))
        let text = String(decoding: c.buffered, as: UTF8.self)
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        XCTAssertFalse(body == "0\r\n\r\n" || body.hasSuffix("\r\n0\r\n\r\n"), "a cut stream must not look complete")
    }
}
