import HTTPServer
import HTTPWire
import Synchronization
import TestSupport
import XCTest

/// The buffer budget (`bufferBudgetBytes`): request bytes held across all connections
/// are bounded; over it a new body gets 503 with `Retry-After` and `Connection: close`
/// while probes keep answering; what is held is given back when connections finish,
/// go idle or close. Routes that take no body refuse one; routes with a cap keep it.
final class BufferBudgetTests: XCTestCase {
    /// A POST head declaring `length` bytes, then `sent` of them.
    private func post(_ path: String, length: Int, sent: Int) -> [UInt8] {
        Array("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n".utf8) + [UInt8](repeating: 0x61, count: sent)
    }

    private func probe(_ h: ServerHarness, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200, "probe", file: file, line: line)
    }

    func testOverTheBudgetANewBodyGets503WithRetryAfterWhileProbesAnswer() async throws {
        let observer = RecordingObserver()
        // Two 64 KiB bodies fill it exactly: a body up to 64 KiB is reserved whole when its head arrives.
        let h = try ServerHarness(router: .testing(), configure: { $0.bufferBudgetBytes = 128 * 1024 }, observer: observer)
        var held: [RawClient] = []
        for i in 1...2 {
            let c = try h.client()
            try c.send(post("/echo", length: 65536, sent: 1))
            held.append(c)
            await waitUntil(.seconds(10), "body \(i) reserved") { h.server.bufferedBytes == i * 65536 }
        }

        let refused = try h.client()
        try refused.send(post("/echo", length: 65536, sent: 65536))
        let r = try refused.readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("Retry-After"), "1")
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try refused.waitForClose())
        XCTAssertTrue(observer.rejected.contains("budget"), "\(observer.rejected)")
        XCTAssertEqual(h.server.bufferedBytes, 2 * 65536, "the refused body holds nothing")

        // Probes have no body: answered while the budget is spent, whole or split over
        // sends (a partial head within the per-connection allowance is not charged).
        try probe(h)
        let split = try h.client()
        try split.send("GET /healthz HTTP/1.1\r\nHo")
        try split.send("st: x\r\n\r\n")
        XCTAssertEqual(try split.readResponse().status, 200)

        // The held bodies still complete.
        try held[0].send([UInt8](repeating: 0x61, count: 65535))
        let done = try held[0].readResponse()
        XCTAssertEqual(done.status, 200)
        XCTAssertEqual(done.body.count, 65536)
        await waitUntil(.seconds(10), "its budget released") { h.server.bufferedBytes == 65536 }

        // Room again: a new body is taken.
        let next = try h.client()
        try next.send(post("/echo", length: 65536, sent: 65536))
        XCTAssertEqual(try next.readResponse().status, 200)

        for c in held { c.close() }
        await waitUntil(.seconds(10), "everything released") { h.server.bufferedBytes == 0 }
        await h.stop()
    }

    func testExpectContinueOverTheBudgetGets503InsteadOf100() async throws {
        let h = try ServerHarness(router: .testing(), configure: { $0.bufferBudgetBytes = 64 * 1024 })
        let holder = try h.client()
        try holder.send(post("/echo", length: 65536, sent: 10))
        await waitUntil(.seconds(10), "the budget spent") { h.server.bufferedBytes == 65536 }
        let c = try h.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("Retry-After"), "1")
        holder.close()
        await waitUntil(.seconds(10), "released on close") { h.server.bufferedBytes == 0 }
        await h.stop()
    }

    /// Bytes pipelined behind a request whose `.async` handler is running cannot be
    /// answered 503 ahead of it: over the budget they are dropped, and that handler's
    /// answer closes the connection (the client retries what was not answered).
    func testPipelinedBytesOverTheBudgetDuringAHandlerEndTheConnectionAfterItsAnswer() async throws {
        let gate = Gate()
        let entered = Counter()
        let hits = Counter()
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(slow: gate, hits: hits, slowEntered: entered),
                                  configure: { $0.bufferBudgetBytes = 64 * 1024 }, observer: observer)
        let holder = try h.client()
        try holder.send(post("/echo", length: 65536, sent: 1))
        await waitUntil(.seconds(10), "the budget spent") { h.server.bufferedBytes == 65536 }

        let c = try h.client()
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /fast HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: 4096))
        await waitUntil(.seconds(10), "the handler running") { entered.value == 1 }
        await waitUntil(.seconds(10), "the pipelined bytes refused") { observer.rejected.contains("budget") }
        gate.open()
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyText, "slow")
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try c.waitForClose())
        XCTAssertEqual(hits.value, 0, "the dropped request never ran")
        XCTAssertEqual(h.server.bufferedBytes, 65536, "only the holder's body is held")
        holder.close()
        await waitUntil(.seconds(10), "released") { h.server.bufferedBytes == 0 }
        await h.stop()
    }

    /// Large bodies are charged as they arrive (never more than declared), so many
    /// clients each sending part of a large body are cut off at the budget.
    func testBodiesGrowingPastTheBudgetAreRefusedAndTheTotalStaysWithinIt() async throws {
        let observer = RecordingObserver()
        let budget = 512 * 1024
        let h = try ServerHarness(router: .testing(), configure: { $0.bufferBudgetBytes = budget }, observer: observer)
        // Each holds at least its 150,000 bytes (at most twice that): by the fourth at the
        // latest, a body is refused.
        var clients: [RawClient] = []
        var refused: RawClient?
        for i in 0..<4 {
            let c = try h.client()
            clients.append(c)
            let rejectedBefore = observer.rejected.count
            let heldBefore = h.server.bufferedBytes
            try c.send(post("/echo", length: 1 << 20, sent: 150_000))
            await waitUntil(.seconds(10), "body \(i) read or refused") {
                observer.rejected.count > rejectedBefore || h.server.bufferedBytes >= heldBefore + 150_000
            }
            if observer.rejected.count > rejectedBefore { refused = c; break }
        }
        let r = try XCTUnwrap(refused, "no body refused").readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertEqual(observer.rejected, ["budget"])
        XCTAssertLessThanOrEqual(h.server.bufferedBytes, budget)
        try probe(h)
        for c in clients { c.close() }
        await waitUntil(.seconds(10), "released on close") { h.server.bufferedBytes == 0 }
        await h.stop()
    }

    /// Unfinished heads are charged beyond the per-connection allowance: many clients
    /// holding 15 KiB heads hit the budget, get 503, and probes still answer.
    func testHeldHeadsCountAgainstTheBudget() async throws {
        let observer = RecordingObserver()
        let budget = 64 * 1024
        let h = try ServerHarness(router: .testing(), configure: { $0.bufferBudgetBytes = budget }, observer: observer)
        let head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: 15 * 1024)
        var clients: [RawClient] = []
        var refused: RawResponse?
        for i in 0..<10 {
            let c = try h.client()
            clients.append(c)
            try c.send(head)
            await waitUntil(.seconds(10), "head \(i) read") { h.server.bufferedBytes > 0 && (observer.rejected.contains("budget") || h.server.bufferedBytes >= (i + 1) * 14 * 1024) }
            if observer.rejected.contains("budget") {
                refused = try c.readResponse()
                break
            }
        }
        XCTAssertEqual(refused?.status, 503)
        XCTAssertEqual(refused?.header("Retry-After"), "1")
        XCTAssertLessThanOrEqual(h.server.bufferedBytes, budget)
        try probe(h)
        // A held head that completes is answered, and its buffer is released.
        try clients[0].send("\r\n\r\n")
        XCTAssertEqual(try clients[0].readResponse().status, 200)
        for c in clients { c.close() }
        await waitUntil(.seconds(10), "released on close") { h.server.bufferedBytes == 0 }
        await h.stop()
    }

    /// A keep-alive connection between requests holds nothing of the budget, and a
    /// small head split over reads stays within the allowance.
    func testNothingIsHeldBetweenRequestsOnAKeepAliveConnection() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send(post("/echo", length: 300_000, sent: 100_000))
        await waitUntil(.seconds(10), "the body partly buffered") { h.server.bufferedBytes >= 100_000 }
        XCTAssertLessThanOrEqual(h.server.bufferedBytes, 300_000, "never more than declared")
        try c.send([UInt8](repeating: 0x61, count: 200_000))
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, 300_000)
        XCTAssertNil(r.header("Connection"))
        await waitUntil(.seconds(10), "released once answered") { h.server.bufferedBytes == 0 }

        try c.send("GET /healthz HTTP/1.1\r\n")
        try c.send("Host: x\r\n")
        XCTAssertEqual(h.server.bufferedBytes, 0, "a small partial head is within the allowance")
        try c.send("\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertEqual(h.server.bufferedBytes, 0)
        await h.stop()
    }

    func testRoutesWithoutABodyRefuseOneAndCappedRoutesKeepTheirCap() async throws {
        var router = Router.testing()
        router.add(.POST, "/large", maxBodyBytes: 3 << 20, .sync { req in .text("\(req.body.count)") })
        router.add(.GET, "/search", maxBodyBytes: 64, .sync { req in .text("\(req.body.count)") })
        // The parser's own limit is the ceiling of every route's cap.
        let h = try ServerHarness(router: router, configure: { $0.limits.maxBodyBytes = 4 << 20 })
        let cases: [(String, String)] = [
            ("Content-Length", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
            ("chunked", "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            ("HEAD", "HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"),
            ("another GET route", "GET /tiny HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"),
        ]
        for (name, raw) in cases {
            let c = try h.client()
            try c.send(raw)
            let r = try c.readResponse(forHEAD: raw.hasPrefix("HEAD"))
            XCTAssertEqual(r.status, 413, name)
            XCTAssertEqual(r.header("Connection"), "close", name)
            XCTAssertTrue(try c.waitForClose(), name)
        }
        // An empty body is no body.
        let empty = try h.client()
        try empty.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(try empty.readResponse().status, 200)
        // A GET route given a cap takes a body up to it.
        try empty.send("GET /search HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
        XCTAssertEqual(try empty.readResponse().bodyText, "10")
        // A route's cap holds: up to it, taken; past it, 413.
        let big = try h.client()
        try big.send(post("/large", length: 2 << 20, sent: 2 << 20))
        XCTAssertEqual(try big.readResponse().bodyText, "\(2 << 20)")
        let over = try h.client()
        try over.send(post("/large", length: (3 << 20) + 1, sent: 0))
        XCTAssertEqual(try over.readResponse().status, 413)
        await h.stop()
    }

    /// No route takes it: the body is read and dropped, never buffered, and the
    /// connection stays usable.
    func testAnUnroutedBodyIsDroppedUnread() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send(post("/nowhere", length: 200_000, sent: 100_000))
        XCTAssertEqual(h.server.bufferedBytes, 0)
        try c.send([UInt8](repeating: 0x61, count: 100_000))
        XCTAssertEqual(try c.readResponse().status, 404)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        await h.stop()
    }

    /// The observer hears the buffered bytes from the deadline timers, not per request.
    func testTheObserverHearsTheBufferedBytes() async throws {
        final class Gauge: HTTPServerObserver {
            let last = Atomic<Int>(-1)
            func connectionOpened() {}
            func connectionClosed() {}
            func requestRejected(reason: String) {}
            func requestCompleted(method: HTTPMethod, routePattern: String, status: Int, bytesSent: Int, duration: Duration) {}
            func bufferedBytesChanged(_ bytes: Int) { last.store(bytes, ordering: .relaxed) }
        }
        let gauge = Gauge()
        let h = try ServerHarness(router: .testing(), observer: gauge)
        let c = try h.client()
        try c.send(post("/echo", length: 4000, sent: 10))
        await waitUntil(.seconds(10), "the gauge shows the body") { gauge.last.load(ordering: .relaxed) == 4000 }
        c.close()
        await waitUntil(.seconds(10), "the gauge back at 0") { gauge.last.load(ordering: .relaxed) == 0 }
        await h.stop()
    }

    func testTheBudgetIsValidated() throws {
        XCTAssertThrowsError(try ServerHarness(router: Router(), configure: { $0.bufferBudgetBytes = 1000 })) { error in
            XCTAssertTrue("\(error)".contains("bufferBudgetBytes"), "\(error)")
        }
    }
}
