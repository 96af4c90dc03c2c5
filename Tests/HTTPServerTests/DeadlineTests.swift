import HTTPServer
import TestSupport
import XCTest

/// The named deadlines against real sockets and the real clock. Every deadline's rule
/// (from when it counts, what its expiry does) is also tabled on a manual clock in
/// `ConnectionStateTests`, without waiting.
final class DeadlineTests: XCTestCase {
    private func harness(_ observer: RecordingObserver) throws -> ServerHarness {
        try ServerHarness(router: .testing(), configure: {
            $0.headerReadTimeout = .milliseconds(300)
            $0.bodyReadTimeout = .milliseconds(300)
            $0.idleTimeout = .milliseconds(300)
        }, observer: observer)
    }

    func testSlowHeaderGets408AndClose() async throws {
        let observer = RecordingObserver()
        let h = try harness(observer)
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        let start = RawClient.nowNanos()
        let r = try c.readResponse(timeout: .seconds(3))
        XCTAssertEqual(r.status, 408)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertGreaterThanOrEqual(RawClient.nowNanos() - start, 250_000_000)
        XCTAssertTrue(try c.waitForClose())
        XCTAssertEqual(observer.rejected, ["header_timeout"])
        await h.stop()
    }

    func testHeaderDeadlineCountsFromTheFirstByteNotFromEachByte() async throws {
        let observer = RecordingObserver()
        let h = try harness(observer)
        let c = try h.client()
        // Trickle bytes faster than the deadline: the total still runs out.
        let start = RawClient.nowNanos()
        var answered: RawResponse? = nil
        for byte in "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
            do { try c.send([byte]) } catch { break }
            if try c.fill(until: RawClient.deadline(after: .milliseconds(20))), !c.buffered.isEmpty {
                answered = try c.readResponse()
                break
            }
        }
        if answered == nil { answered = try c.readResponse(timeout: .seconds(2)) }
        XCTAssertEqual(answered?.status, 408)
        XCTAssertLessThan(RawClient.nowNanos() - start, 1_500_000_000)
        await h.stop()
    }

    func testSlowBodyGets408AndClose() async throws {
        let observer = RecordingObserver()
        let h = try harness(observer)
        let c = try h.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let r = try c.readResponse(timeout: .seconds(3))
        XCTAssertEqual(r.status, 408)
        XCTAssertTrue(try c.waitForClose())
        XCTAssertEqual(observer.rejected, ["body_timeout"])
        await h.stop()
    }

    func testIdleKeepAliveConnectionIsClosedWithoutAnAnswer() async throws {
        let observer = RecordingObserver()
        let h = try harness(observer)
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(try c.waitForClose(timeout: .seconds(3)))
        XCTAssertTrue(c.buffered.isEmpty, "idle close sends nothing")
        XCTAssertEqual(observer.rejected, [])
        await h.stop()
    }

    func testSilentFreshConnectionIsClosedAtTheHeaderDeadline() async throws {
        let observer = RecordingObserver()
        let h = try harness(observer)
        let c = try h.client()
        XCTAssertTrue(try c.waitForClose(timeout: .seconds(3)))
        XCTAssertTrue(c.buffered.isEmpty)
        await h.stop()
    }

    func testUnreadAnswersHitTheWriteDeadline() async throws {
        var r = Router()
        let big = [UInt8](repeating: 65, count: 8 * 1024 * 1024)
        r.add(.GET, "/huge", .sync { _ in .bytes(big, contentType: "application/octet-stream") })
        let observer = RecordingObserver()
        let h = try ServerHarness(router: r, configure: { $0.writeTimeout = .milliseconds(300) }, observer: observer)
        let c = try h.client()
        var small: Int32 = 4096
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try c.send("GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
        await waitUntil(.seconds(3), "write timeout") { observer.rejected.contains("write_timeout") }
        await waitUntil(.seconds(3), "close") { h.server.openConnections == 0 }
        await h.stop()
    }

    /// 500 slowloris connections (one header byte per second) are closed at the header
    /// deadline while /healthz on fresh connections keeps answering promptly.
    func testSlowClientsAreCutAtTheHeaderDeadlineWhileHealthzKeepsAnswering() async throws {
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(), configure: { $0.headerReadTimeout = .seconds(2) }, observer: observer)
        var slow: [RawClient] = []
        for _ in 0..<500 { slow.append(try h.client()) }
        let request = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n".utf8)
        let start = RawClient.nowNanos()
        var worst: UInt64 = 0
        var second = 0
        while RawClient.nowNanos() - start < 3_000_000_000 {
            let tick = RawClient.nowNanos()
            for c in slow where !c.peerClosed { try? c.send([request[min(second, request.count - 1)]]) }
            second += 1
            // Probe /healthz on a fresh connection several times during this second.
            while RawClient.nowNanos() - tick < 1_000_000_000 {
                let t0 = RawClient.nowNanos()
                let probe = try h.client()
                try probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                XCTAssertEqual(try probe.readResponse(timeout: .seconds(1)).status, 200)
                worst = max(worst, RawClient.nowNanos() - t0)
                _ = try probe.fill(until: RawClient.deadline(after: .milliseconds(100)))
            }
        }
        for c in slow { XCTAssertTrue(try c.waitForClose(timeout: .seconds(2))) }
        let timeouts = observer.rejected.filter { $0 == "header_timeout" }.count
        XCTAssertEqual(timeouts, 500)
        XCTAssertLessThan(worst, 500_000_000, "healthz took \(worst / 1_000_000) ms under slowloris")
        await h.stop()
    }
}
