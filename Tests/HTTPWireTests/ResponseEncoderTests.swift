import XCTest
@testable import HTTPWire

final class ResponseEncoderTests: XCTestCase {
    func testHeadIsStatusLineHeadersAndEmptyLine() {
        var out: [UInt8] = []
        ResponseEncoder.encodeHead(status: 200, headers: HTTPHeaders([("Content-Length", "2"), ("X-A", "b")]), version: .http1_1, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n")
        out.removeAll()
        ResponseEncoder.encodeHead(status: 404, headers: HTTPHeaders(), version: .http1_0, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.0 404 Not Found\r\n\r\n")
    }

    func testHeaderValuesCannotSplitTheResponse() {
        var out: [UInt8] = []
        ResponseEncoder.encodeHead(status: 302, headers: HTTPHeaders([("Location", "/a\r\nSet-Cookie: x=1"), ("X\nY", "t\tz\u{0}")]),
                                   version: .http1_1, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 302 Found\r\nLocation: /aSet-Cookie: x=1\r\nXY: t\tz\r\n\r\n")
    }

    func testReasonPhrasesCoverCommonStatusesAndFallBackByClass() {
        let table: [(Int, String)] = [
            (200, "OK"), (204, "No Content"), (400, "Bad Request"), (404, "Not Found"), (408, "Request Timeout"),
            (413, "Content Too Large"), (414, "URI Too Long"), (431, "Request Header Fields Too Large"),
            (501, "Not Implemented"), (503, "Service Unavailable"), (505, "HTTP Version Not Supported"),
            (299, "Success"), (499, "Client Error"), (599, "Server Error"),
        ]
        for (status, phrase) in table { XCTAssertEqual(ResponseEncoder.reasonPhrase(status), phrase, "\(status)") }
    }

    func testChunksAreHexSizedAndEmptyInputWritesNothing() {
        let table: [(String, String)] = [("", ""), ("a", "1\r\na\r\n"), (String(repeating: "x", count: 26), "1a\r\n" + String(repeating: "x", count: 26) + "\r\n")]
        for (input, expected) in table {
            var out: [UInt8] = []
            Wire.bytes(input).withUnsafeBytes { ResponseEncoder.encodeChunk($0, into: &out) }
            XCTAssertEqual(String(decoding: out, as: UTF8.self), expected)
        }
        XCTAssertEqual(ResponseEncoder.lastChunk, Wire.bytes("0\r\n\r\n"))
    }

    func testEncodedChunksDecodeBackToTheSameBody() {
        var wire: [UInt8] = []
        let parts = ["hello", String(repeating: "z", count: 300), "!"]
        for p in parts { Wire.bytes(p).withUnsafeBytes { ResponseEncoder.encodeChunk($0, into: &wire) } }
        wire += ResponseEncoder.lastChunk
        let got = Wire.decode(wire, framing: .chunked, maxBodyBytes: 1000, splitAt: [])
        XCTAssertEqual(got.result, .done(consumed: wire.count))
        XCTAssertEqual(String(decoding: got.body, as: UTF8.self), parts.joined())
    }

    func testFixedResponsesAreCompleteCloseTheConnectionAndCarryAFixedBody() {
        for status in [400, 408, 413, 414, 431, 501, 503, 505, 418, 200, 42] {
            let text = String(decoding: ResponseEncoder.fixedResponse(status: status), as: UTF8.self)
            let expectedStatus = (400...599).contains(status) ? status : 500
            let parts = text.split(separator: "\r\n\r\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(parts.count, 2, "\(status)")
            let head = parts[0], body = parts[1]
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 \(expectedStatus) \(ResponseEncoder.reasonPhrase(expectedStatus))\r\n"), head)
            XCTAssertTrue(head.contains("\r\nContent-Type: text/plain\r\n"), head)
            XCTAssertTrue(head.contains("\r\nContent-Length: \(body.utf8.count)\r\n"), head)
            XCTAssertTrue(head.hasSuffix("\r\nConnection: close"), head)
            XCTAssertEqual(body, "\(expectedStatus) \(ResponseEncoder.reasonPhrase(expectedStatus))\n")
        }
    }
}
