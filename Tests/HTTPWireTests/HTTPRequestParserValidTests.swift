import XCTest
@testable import HTTPWire

/// Valid request heads: each row is parsed whole and split at every byte.
final class HTTPRequestParserValidTests: XCTestCase {
    struct Row {
        let name: String
        let raw: String
        let method: HTTPMethod
        let target: String
        var version: HTTPVersion = .http1_1
        let headers: [(String, String)]
        var framing: BodyFraming = .none
        /// nil: the whole input is the head.
        var consumed: Int? = nil
    }

    static let rows: [Row] = [
        Row(name: "simple GET", raw: "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
            method: .GET, target: "/index.html", headers: [("Host", "example.com")]),
        Row(name: "HEAD with query", raw: "HEAD /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
            method: .HEAD, target: "/a?b=c", headers: [("Host", "x"), ("Accept", "*/*")]),
        Row(name: "POST with Content-Length", raw: "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n",
            method: .POST, target: "/webhooks", headers: [("Host", "x"), ("Content-Length", "42")], framing: .contentLength(42)),
        Row(name: "Content-Length with leading zeroes", raw: "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\n",
            method: .PUT, target: "/u", headers: [("Host", "x"), ("Content-Length", "003")], framing: .contentLength(3)),
        Row(name: "chunked POST", raw: "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            method: .POST, target: "/u", headers: [("Host", "x"), ("Transfer-Encoding", "chunked")], framing: .chunked),
        Row(name: "chunked in mixed case with OWS and empty list elements",
            raw: "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , ChunKed ,\t\r\n\r\n",
            method: .POST, target: "/u", headers: [("Host", "x"), ("Transfer-Encoding", ", ChunKed ,")], framing: .chunked),
        Row(name: "HTTP/1.0 without Host", raw: "GET / HTTP/1.0\r\n\r\n",
            method: .GET, target: "/", version: .http1_0, headers: []),
        Row(name: "absolute-form target", raw: "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
            method: .GET, target: "http://example.com:8080/p?q", headers: [("Host", "example.com")]),
        Row(name: "absolute-form https with userinfo", raw: "GET https://a%12:b!&*$@h.org:1/t HTTP/1.1\r\nHost: h\r\n\r\n",
            method: .GET, target: "https://a%12:b!&*$@h.org:1/t", headers: [("Host", "h")]),
        Row(name: "asterisk-form for OPTIONS", raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .OPTIONS, target: "*", headers: [("Host", "x")]),
        Row(name: "authority-form for CONNECT", raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            method: .CONNECT, target: "example.com:443", headers: [("Host", "example.com:443")]),
        Row(name: "leading empty lines are skipped and counted", raw: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .GET, target: "/", headers: [("Host", "x")]),
        Row(name: "OWS trimmed around values, inner spaces kept", raw: "GET / HTTP/1.1\r\nHost:x\r\nA: \t a  b \t\r\nB:\r\nC: \r\n\r\n",
            method: .GET, target: "/", headers: [("Host", "x"), ("A", "a  b"), ("B", ""), ("C", "")]),
        Row(name: "obs-text in a value is kept", raw: "GET / HTTP/1.1\r\nHost: x\r\nTest: D\u{00FC}sseldorf\r\n\r\n",
            method: .GET, target: "/", headers: [("Host", "x"), ("Test", "D\u{00FC}sseldorf")]),
        Row(name: "unknown token method", raw: "PURGE /f HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .other("PURGE"), target: "/f", headers: [("Host", "x")]),
        Row(name: "method with dash", raw: "M-SEARCH /f HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .other("M-SEARCH"), target: "/f", headers: [("Host", "x")]),
        Row(name: "every common method is recognised", raw: "DELETE /d HTTP/1.1\r\nhOsT: x\r\n\r\n",
            method: .DELETE, target: "/d", headers: [("hOsT", "x")]),
        Row(name: "quotes, bars and fragments in the target", raw: "GET /a\"b\"?q=|#f HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .GET, target: "/a\"b\"?q=|#f", headers: [("Host", "x")]),
        Row(name: "pipelined requests: consumed stops at the first head",
            raw: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
            method: .GET, target: "/1", headers: [("Host", "x")], consumed: 28),
        Row(name: "head followed by its body", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            method: .POST, target: "/", headers: [("Host", "x"), ("Content-Length", "3")], framing: .contentLength(3), consumed: 47),
    ]

    func testValidRequestsParseWholeAndSplitAtEveryByte() {
        for row in Self.rows {
            let input = Wire.bytes(row.raw)
            let result = Wire.parseWholeAndSplit(input, row: row.name)
            guard case .complete(let head, let consumed) = result else {
                XCTFail("\(row.name): expected complete, got \(result)")
                continue
            }
            XCTAssertEqual(head.method, row.method, row.name)
            XCTAssertEqual(head.target, row.target, row.name)
            XCTAssertEqual(head.version, row.version, row.name)
            XCTAssertEqual(head.headers, HTTPHeaders(row.headers), row.name)
            XCTAssertEqual(head.framing, row.framing, row.name)
            XCTAssertEqual(consumed, row.consumed ?? input.count, row.name)
        }
    }

    func testPipelinedRequestsParseBackToBackWithCorrectConsumedCounts() {
        let one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        let two = "\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        let three = "HEAD /c HTTP/1.0\r\n\r\n"
        var input = Wire.bytes(one + two + three)
        var targets: [String] = []
        var sizes: [Int] = []
        while !input.isEmpty {
            guard case .complete(let head, let consumed) = Wire.parse(input) else { return XCTFail("expected a complete head") }
            targets.append(head.target)
            sizes.append(consumed)
            input.removeFirst(consumed)
        }
        XCTAssertEqual(targets, ["/a", "/b", "/c"])
        XCTAssertEqual(sizes, [one.utf8.count, two.utf8.count, three.utf8.count])
    }

    func testEveryCommonMethodIsRecognisedWithoutFallingBackToOther() {
        let table: [(String, HTTPMethod)] = [
            ("GET", .GET), ("HEAD", .HEAD), ("POST", .POST), ("PUT", .PUT), ("DELETE", .DELETE),
            ("PATCH", .PATCH), ("OPTIONS", .OPTIONS), ("TRACE", .TRACE),
            ("GETS", .other("GETS")), ("get", .other("get")), ("POS", .other("POS")), ("PATCHES", .other("PATCHES")),
        ]
        for (token, expected) in table {
            let result = Wire.parse(Wire.bytes("\(token) / HTTP/1.1\r\nHost: x\r\n\r\n"))
            guard case .complete(let head, _) = result else { XCTFail("\(token): \(result)"); continue }
            XCTAssertEqual(head.method, expected, token)
            XCTAssertEqual(head.method, HTTPMethod(token: token), token)
        }
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() {
        let table: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\t\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ]
        for (raw, keepAlive) in table {
            guard case .complete(let head, _) = Wire.parse(Wire.bytes(raw)) else { XCTFail(raw); continue }
            XCTAssertEqual(head.keepAlive, keepAlive, raw)
        }
    }
}

/// Header lookups used on every request by the server.
final class HTTPHeadersTests: XCTestCase {
    func testListTokensAreFoundCaseInsensitivelyBetweenCommasAndWhitespace() {
        let headers = HTTPHeaders([("Connection", "keep-alive, Upgrade"), ("connection", "\tTE ,close "), ("X", "close")])
        let table: [(String, String, Bool)] = [
            ("close", "Connection", true), ("CLOSE", "connection", true), ("upgrade", "Connection", true),
            ("te", "CONNECTION", true), ("keep", "Connection", false), ("alive", "Connection", false),
            ("close", "Upgrade", false), ("", "Connection", false), ("keep-alive, upgrade", "Connection", false),
        ]
        for (token, name, expected) in table {
            XCTAssertEqual(headers.containsToken(token, in: name), expected, "\(token) in \(name)")
        }
        XCTAssertEqual(headers[first: "CONNECTION"], "keep-alive, Upgrade")
        XCTAssertEqual(headers[all: "connection"], ["keep-alive, Upgrade", "\tTE ,close "])
    }

    /// Parsed headers are ranges into the received section; they must behave exactly
    /// like headers built field by field, through every mutation.
    func testParsedHeadersEqualBuiltOnesAndStayCorrectThroughMutation() {
        let raw = "POST /w HTTP/1.1\r\nHost: a\r\nX-Tag:  one \r\nContent-Length: 0\r\nx-tag: two\r\nOpaque: caf\u{E9}\r\n\r\n"
        guard case .complete(let head, _) = Wire.parse(Wire.bytes(raw)) else { return XCTFail("not parsed") }
        var parsed = head.headers
        var built = HTTPHeaders([("Host", "a"), ("X-Tag", "one"), ("Content-Length", "0"), ("x-tag", "two"), ("Opaque", "caf\u{E9}")])
        XCTAssertEqual(parsed, built)
        XCTAssertEqual(parsed.map { "\($0.name)=\($0.value)" }, ["Host=a", "X-Tag=one", "Content-Length=0", "x-tag=two", "Opaque=caf\u{E9}"])
        XCTAssertEqual(parsed[all: "X-TAG"], ["one", "two"])
        XCTAssertEqual(parsed.withFields { $0.first("x-tag").map { Array($0) } }, Array("one".utf8))
        XCTAssertNil(parsed.withFields { $0.first("missing").map { Array($0) } })
        XCTAssertFalse(parsed.contains(name: "X-Ta"))

        parsed.replaceOrAdd(name: "X-Tag", value: "three")
        built.replaceOrAdd(name: "X-Tag", value: "three")
        XCTAssertEqual(parsed, built)
        XCTAssertEqual(parsed.map(\.name), ["Host", "Content-Length", "Opaque", "X-Tag"])
        XCTAssertEqual(parsed[first: "x-tag"], "three")
        parsed.remove(name: "host")
        XCTAssertEqual(parsed.count, 3)
        XCTAssertNil(parsed[first: "Host"])
        XCTAssertNotEqual(parsed, built)
        // Copies are values: the original head is untouched.
        XCTAssertEqual(head.headers[first: "Host"], "a")
        XCTAssertEqual(head.headers.count, 5)

        var written: [String] = []
        built.forEachField { name, value in
            written.append(String(decoding: name, as: UTF8.self) + ":" + String(decoding: value, as: UTF8.self))
            return written.count < 2
        }
        XCTAssertEqual(written, ["Host:a", "Content-Length:0"])
    }
}
