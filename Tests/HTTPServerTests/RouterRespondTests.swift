import HTTPServer
import HTTPWire
import TestSupport
import XCTest

/// `Router.respond(to:)` answers in process as a live server answers on the wire: each
/// case runs both ways (hummingbird's in-process and live testing of one router).
final class RouterRespondTests: XCTestCase {
    private static func router(gate: Gate) -> Router {
        var r = Router.testing(slow: gate)
        r.add(.GET, "/pattern", match: .prefix, .sync { req in .text("\(req.routePattern) \(req.path)") })
        return r
    }

    func testRespondRoutesAndAnswersAsTheConnectionDoes() async throws {
        let cases: [(name: String, method: HTTPMethod, target: String, status: Int, body: String?, allow: String?)] = [
            ("a sync handler", .GET, "/healthz", 200, "ok", nil),
            ("an async handler", .GET, "/slow", 200, "slow", nil),
            ("HEAD is routed to GET", .HEAD, "/healthz", 200, nil, nil),
            ("an unknown path", .GET, "/nope", 404, "not found\n", nil),
            ("a known path for other methods", .POST, "/healthz", 405, "method not allowed\n", "GET, HEAD"),
            ("a prefix route sees its pattern", .GET, "/pattern/a%20b", 200, "/pattern /pattern/a b", nil),
            ("an absolute-form target is routed by its path", .GET, "http://example.com/pattern/x?q=1", 200,
             "/pattern /pattern/x", nil),
        ]
        let gate = Gate()
        gate.open()
        let router = Self.router(gate: gate)
        let h = try ServerHarness(router: router)
        let c = try h.client()
        for t in cases {
            let head = HTTPRequestHead(method: t.method, target: t.target, version: .http1_1,
                                       headers: HTTPHeaders([("Host", "example.com")]), framing: .none)
            let local = await router.respond(to: Request(head: head, body: [], remoteAddress: "127.0.0.1",
                                                         scheme: "http", requestID: "t"))
            try c.send("\(t.method) \(t.target) HTTP/1.1\r\nHost: example.com\r\n\r\n")
            let wire = try c.readResponse(forHEAD: t.method == .HEAD)

            XCTAssertEqual(local.status, t.status, t.name)
            XCTAssertEqual(wire.status, t.status, t.name)
            XCTAssertEqual(local.headers[first: "Allow"], t.allow, t.name)
            XCTAssertEqual(wire.header("Allow"), t.allow, t.name)
            guard case .bytes(let bytes) = local.body else { XCTFail("\(t.name): streamed"); continue }
            if let body = t.body {
                XCTAssertEqual(String(decoding: bytes, as: UTF8.self), body, t.name)
                XCTAssertEqual(wire.bodyText, body, t.name)
            }
        }
        await h.stop()
    }

    func testRespondGivesTheHandlerTheBodyAndTheCallersRequestFields() async throws {
        var r = Router()
        r.add(.POST, "/echo", .async { req in .text("\(req.body.count) \(req.remoteAddress) \(req.requestID) \(req.routePattern)") })
        let head = HTTPRequestHead(method: .POST, target: "/echo", version: .http1_1,
                                   headers: HTTPHeaders([("Content-Length", "5")]), framing: .contentLength(5))
        let response = await r.respond(to: Request(head: head, body: Array("hello".utf8), remoteAddress: "203.0.113.7",
                                                   scheme: "https", requestID: "req-1"))
        guard case .bytes(let bytes) = response.body else { return XCTFail("streamed") }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "5 203.0.113.7 req-1 /echo")
    }
}
