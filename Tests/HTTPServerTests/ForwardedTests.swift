import HTTPServer
import TestSupport
import XCTest

final class ForwardedTests: XCTestCase {
    func testForwardedHeadersAreBelievedOnlyFromTrustedProxies() async throws {
        let cases: [(trusted: [String], xff: String?, proto: String?, expect: String)] = [
            ([], "203.0.113.9", "https", "127.0.0.1 http"),
            (["10.0.0.0/8"], "203.0.113.9", "https", "127.0.0.1 http"),
            (["127.0.0.1"], "203.0.113.9", "https", "203.0.113.9 https"),
            (["127.0.0.0/8"], "198.51.100.1, 203.0.113.9", nil, "203.0.113.9 http"),
            (["127.0.0.0/8", "203.0.113.0/24"], "198.51.100.1, 203.0.113.9", "http", "198.51.100.1 http"),
            (["127.0.0.1", "::1"], "2001:db8::1", "HTTPS", "2001:db8::1 https"),
            (["127.0.0.1"], "garbage, 203.0.113.9", nil, "203.0.113.9 http"),
            (["127.0.0.1", "203.0.113.9"], "garbage, 203.0.113.9", nil, "203.0.113.9 http"),
            (["127.0.0.1"], nil, "https", "127.0.0.1 https"),
            (["127.0.0.1"], "<script>", "javascript", "127.0.0.1 http"),
        ]
        for (i, t) in cases.enumerated() {
            let h = try ServerHarness(router: .testing(), configure: { $0.trustedProxies = t.trusted })
            let c = try h.client()
            var raw = "GET /client HTTP/1.1\r\nHost: x\r\n"
            if let x = t.xff { raw += "X-Forwarded-For: \(x)\r\n" }
            if let p = t.proto { raw += "X-Forwarded-Proto: \(p)\r\n" }
            try c.send(raw + "\r\n")
            XCTAssertEqual(try c.readResponse().bodyText, t.expect, "case \(i)")
            await h.stop()
        }
    }

    func testInvalidTrustedProxyFailsStart() throws {
        var config = HTTPServerConfiguration()
        config.port = 0
        config.trustedProxies = ["10.0.0.0/33"]
        let s = HTTPServer(configuration: config, router: Router(), logger: .init(label: "t"))
        XCTAssertThrowsError(try s.start()) { XCTAssertEqual($0 as? HTTPServerError, .badTrustedProxy("10.0.0.0/33")) }
    }
}
