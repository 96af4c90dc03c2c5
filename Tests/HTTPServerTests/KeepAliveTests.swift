import HTTPServer
import HTTPWire
import TestSupport
import XCTest

final class KeepAliveTests: XCTestCase {
    func testKeepAliveConnectionServesSeveralRequests() async throws {
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(), observer: observer)
        let c = try h.client()
        for _ in 0..<3 {
            try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.bodyText, "ok")
            XCTAssertEqual(r.header("Content-Length"), "2")
            XCTAssertNil(r.header("Connection"))
            XCTAssertNotNil(r.header("Date"))
            XCTAssertNotNil(r.header("X-Request-Id"))
        }
        XCTAssertEqual(observer.opened, 1)
        XCTAssertEqual(observer.completed.count, 3)
        XCTAssertEqual(observer.completed.first?.route, "/healthz")
        await h.stop()
    }

    func testRequestIDsAreUniqueAndASaneIncomingOneIsKept() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /id HTTP/1.1\r\nHost: x\r\n\r\nGET /id HTTP/1.1\r\nHost: x\r\n\r\n")
        let a = try c.readResponse(), b = try c.readResponse()
        XCTAssertNotEqual(a.bodyText, b.bodyText)
        XCTAssertEqual(a.header("X-Request-Id"), a.bodyText)
        try c.send("GET /id HTTP/1.1\r\nHost: x\r\nX-Request-Id: proxy-abc.123\r\n\r\n")
        XCTAssertEqual(try c.readResponse().header("X-Request-Id"), "proxy-abc.123")
        try c.send("GET /id HTTP/1.1\r\nHost: x\r\nX-Request-Id: has spaces{}\r\n\r\n")
        let d = try c.readResponse()
        XCTAssertNotEqual(d.header("X-Request-Id"), "has spaces{}")
        XCTAssertEqual(d.header("X-Request-Id")?.count, 15)
        await h.stop()
    }

    func testPipelinedRequestsAreAnsweredInOrderEvenWhenTheFirstIsSlow() async throws {
        let gate = Gate()
        let hits = Counter()
        let h = try ServerHarness(router: .testing(slow: gate, hits: hits))
        let c = try h.client()
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        // Nothing may be answered while the first request is still running.
        XCTAssertThrowsError(try c.readResponse(timeout: .milliseconds(200)))
        XCTAssertEqual(hits.value, 0, "the second request must not run before the first is answered")
        gate.open()
        let r1 = try c.readResponse(), r2 = try c.readResponse(), r3 = try c.readResponse()
        XCTAssertEqual([r1.bodyText, r2.bodyText, r3.bodyText], ["slow", "fast", "ok"])
        await h.stop()
    }

    func testConnectionCloseIsAnsweredWithCloseThenACleanClose() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try c.waitForClose())
        XCTAssertTrue(c.buffered.isEmpty, "nothing after the close answer")
        await h.stop()
    }

    func testHeadGetsTheSameHeadersAndNoBody() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readResponse(forHEAD: true)
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let get = try c.readResponse()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), get.header("Content-Length"))
        XCTAssertEqual(head.header("Content-Type"), get.header("Content-Type"))
        XCTAssertEqual(get.body.count, Int(get.header("Content-Length")!))
        await h.stop()
    }

    func testHTTP10ClosesUnlessKeepAliveIsAsked() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try c.waitForClose())

        let k = try h.client()
        try k.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let r1 = try k.readResponse()
        XCTAssertEqual(r1.header("Connection"), "keep-alive")
        try k.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try k.readResponse().status, 200)
        await h.stop()
    }

    func testExpectContinueGetsA100BeforeTheBodyIsSent() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try c.readResponse()
        XCTAssertEqual(interim.status, 100)
        try c.send("hello")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyText, "hello")
        await h.stop()
    }

    func testExpectContinueOnARefusedRouteGetsTheFinalAnswerAndClose() async throws {
        let h = try ServerHarness(router: .testing())
        for (target, status) in [("/small", 413), ("/nowhere", 404)] {
            let c = try h.client()
            try c.send("POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, status, target)
            XCTAssertEqual(r.header("Connection"), "close", target)
            XCTAssertTrue(try c.waitForClose(), target)
        }
        await h.stop()
    }

    func testRouteBodyLimitAppliesToChunkedBodies() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n5\r\nmore!\r\n0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r.header("Connection"), "close")
        let ok = try h.client()
        try ok.send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
        XCTAssertEqual(try ok.readResponse().bodyText, "4")
        await h.stop()
    }

    func testUnknownPathIs404AndWrongMethodIs405WithAllow() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 404)
        try c.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.header("Allow"), "GET, HEAD")
        try c.send("DELETE /items HTTP/1.1\r\nHost: x\r\n\r\n")
        let d = try c.readResponse()
        XCTAssertEqual(d.status, 204)
        XCTAssertNil(d.header("Content-Length"))
        await h.stop()
    }

    func testStreamingBodyIsChunkedOnHTTP11AndCloseDelimitedOnHTTP10() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertTrue(r.chunked)
        XCTAssertEqual(r.bodyText, "part0;part1;part2;")
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().bodyText, "ok", "keep-alive after a stream")

        let old = try h.client()
        try old.send("GET /stream HTTP/1.0\r\n\r\n")
        let o = try old.readResponse()
        XCTAssertFalse(o.chunked)
        XCTAssertNil(o.header("Transfer-Encoding"))
        XCTAssertEqual(o.bodyText, "part0;part1;part2;")
        XCTAssertTrue(old.peerClosed)
        await h.stop()
    }

    func testAHalfClosedClientStillGetsEveryAnswerThenTheServerCloses() async throws {
        let gate = Gate()
        gate.open()
        let h = try ServerHarness(router: .testing(slow: gate))
        let c = try h.client()
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /id HTTP/1.1\r\nHost: x\r\n\r\n")
        c.shutdownWrite()
        XCTAssertEqual(try c.readResponse().bodyText, "ok")
        XCTAssertEqual(try c.readResponse().bodyText, "slow")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(try c.waitForClose())
        await h.stop()
    }

    func testAbsoluteFormTargetsAreRoutedByTheirPath() async throws {
        var r = Router()
        r.add(.GET, "/where", .sync { req in .text("\(req.path) \(req.query("q") ?? "-")") })
        let h = try ServerHarness(router: r)
        let c = try h.client()
        for (target, body) in [("http://example.com/where?q=1", "/where 1"), ("HTTPS://example.com:8443/where", "/where -")] {
            try c.send("GET \(target) HTTP/1.1\r\nHost: example.com\r\n\r\n")
            let resp = try c.readResponse()
            XCTAssertEqual(resp.status, 200, target)
            XCTAssertEqual(resp.bodyText, body, target)
        }
        await h.stop()
    }
}
