import HTTPServer
import TestSupport
import XCTest

final class RejectionTests: XCTestCase {
    /// Malformed requests get a fixed answer with `Connection: close`, never echoing
    /// input, and the server keeps serving afterwards.
    func testFixedErrorAnswersNeverEchoInputAndTheServerKeepsServing() async throws {
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(), observer: observer)
        let marker = "ZQXJMARKER"
        let cases: [(String, String, Int)] = [
            ("bad request line", "GET /\(marker) HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
            ("header without colon", "GET / HTTP/1.1\r\nHost: x\r\n\(marker)\r\n\r\n", 400),
            ("CL and TE", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\(marker)", 400),
            ("unknown coding", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(marker)\r\n\r\n", 501),
            ("version", "GET / HTTP/2.7\r\nHost: \(marker)\r\n\r\n", 505),
            ("long target", "GET /\(String(repeating: marker, count: 1000)) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
            ("body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n\(marker)", 413),
        ]
        for (name, raw, status) in cases {
            let c = try h.client()
            try c.send(raw)
            let r = try c.readResponse()
            XCTAssertEqual(r.status, status, name)
            XCTAssertEqual(r.header("Connection"), "close", name)
            XCTAssertFalse(r.bodyText.contains(marker), name)
            XCTAssertFalse(r.headers.contains { $0.1.contains(marker) }, name)
            XCTAssertTrue(try c.waitForClose(), name)
            let ok = try h.client()
            try ok.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try ok.readResponse().status, 200, "after \(name)")
        }
        XCTAssertEqual(observer.rejected.count, cases.count)
        await h.stop()
    }

    func testNothingAfterAParseErrorIsProcessed() async throws {
        let hits = Counter()
        let h = try ServerHarness(router: .testing(hits: hits))
        let c = try h.client()
        try c.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertEqual(try c.readResponse().status, 400)
        XCTAssertTrue(try c.waitForClose())
        XCTAssertTrue(c.buffered.isEmpty)
        XCTAssertEqual(hits.value, 1)
        await h.stop()
    }

    func testHandlerHeadersThatCouldSplitTheResponseAreDropped() async throws {
        var r = Router()
        r.add(.GET, "/evil", .sync { _ in
            Response(status: 200, headers: .init([("X-Ok", "fine"), ("X-Bad", "a\r\nInjected: yes"), ("Content-Length", "999")]),
                     body: .bytes(Array("body".utf8)))
        })
        let h = try ServerHarness(router: r)
        let c = try h.client()
        try c.send("GET /evil HTTP/1.1\r\nHost: x\r\n\r\n")
        let resp = try c.readResponse()
        XCTAssertEqual(resp.header("X-Ok"), "fine")
        XCTAssertNil(resp.header("Injected"))
        XCTAssertNil(resp.header("X-Bad"))
        XCTAssertEqual(resp.headers("Content-Length"), ["4"])
        XCTAssertEqual(resp.bodyText, "body")
        await h.stop()
    }

    /// At the cap with every connection handling a request, nothing is evictable: the
    /// newcomer gets a 503 and close, and no busy connection is closed.
    func testConnectionsOverTheCapAreRefusedWhenEveryConnectionIsBusy() async throws {
        let observer = RecordingObserver()
        let gate = Gate(), entered = Counter()
        let h = try ServerHarness(router: .testing(slow: gate, slowEntered: entered),
                                  configure: { $0.maxConnections = 50 }, observer: observer)
        var busy: [RawClient] = []
        for _ in 0..<50 {
            let c = try h.client()
            try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            busy.append(c)
        }
        await waitUntil(.seconds(5), "every handler is running") { entered.value == 50 }
        let over = try h.client()
        let got = try over.readToEnd(timeout: .seconds(3))
        XCTAssertTrue(over.peerClosed)
        if !got.isEmpty { XCTAssertTrue(String(decoding: got, as: UTF8.self).hasPrefix("HTTP/1.1 503")) }
        // The acceptor closes the socket, then tells the observer: the close can arrive first.
        await waitUntil(.seconds(5), "the rejection reaches the observer") { !observer.rejected.isEmpty }
        XCTAssertEqual(observer.rejected, ["connection_cap"])
        gate.open()
        for (i, c) in busy.enumerated() {
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200, "busy connection \(i)")
            XCTAssertEqual(r.bodyText, "slow")
        }
        // The held connections still work.
        try busy[0].send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try busy[0].readResponse().status, 200)
        await h.stop()
    }
}
