import XCTest
@testable import HTTPWire

/// Body framing: every row is decoded whole, split at every byte, and one byte at a time.
final class BodyDecoderTests: XCTestCase {
    static func bad(_ r: BadRequestReason) -> BodyDecodeResult { .invalid(.badRequest(reason: r)) }

    struct Row {
        let name: String
        let raw: String
        var framing: BodyFraming = .chunked
        var maxBodyBytes = 1024
        var limits = HTTPLimits.default
        let expected: BodyDecodeResult
        var body = ""
    }

    static var small: HTTPLimits { HTTPLimitsTests.small }

    static let rows: [Row] = [
        // Content-Length.
        Row(name: "content-length body", raw: "hello", framing: .contentLength(5), expected: .done(consumed: 5), body: "hello"),
        Row(name: "content-length body followed by the next request", raw: "abcGET / HTTP/1.1\r\n",
            framing: .contentLength(3), expected: .done(consumed: 3), body: "abc"),
        Row(name: "content-length body still arriving", raw: "abc", framing: .contentLength(5), expected: .needMore(consumed: 3), body: "abc"),
        Row(name: "zero content-length", raw: "GET", framing: .contentLength(0), expected: .done(consumed: 0)),
        Row(name: "no body", raw: "GET", framing: .none, expected: .done(consumed: 0)),
        Row(name: "content-length over the route limit", raw: "abc", framing: .contentLength(11), maxBodyBytes: 10,
            expected: .invalid(.contentTooLarge)),
        Row(name: "content-length exactly at the route limit", raw: "0123456789", framing: .contentLength(10), maxBodyBytes: 10,
            expected: .done(consumed: 10), body: "0123456789"),
        // Chunked (RFC 9112 §7.1).
        Row(name: "chunked lowercase size", raw: "a\r\n0123456789\r\n0\r\n\r\n", expected: .done(consumed: 20), body: "0123456789"),
        Row(name: "chunked uppercase size", raw: "A\r\n0123456789\r\n0\r\n\r\n", expected: .done(consumed: 20), body: "0123456789"),
        Row(name: "two chunks and a zero-prefixed last chunk", raw: "5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n",
            expected: .done(consumed: 28), body: "hello world"),
        Row(name: "chunk extensions with tokens and quoted strings",
            raw: "5;ilovew3=\"I \\\"love\\\"; \\\\extensions\\\\\";somuchlove=\"x\";blah;foo=bar\r\nhello\r\n6 ; a = b ;c\r\n world\r\n0;last\r\n\r\n",
            expected: .done(consumed: 107), body: "hello world"),
        Row(name: "trailers are validated and discarded", raw: "5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\nNEXT",
            expected: .done(consumed: 50), body: "hello"),
        Row(name: "chunked body still arriving", raw: "5\r\nhel", expected: .needMore(consumed: 6), body: "hel"),
        Row(name: "chunked body waiting for trailers", raw: "5\r\nhello\r\n0\r\nVary: *\r\n", expected: .needMore(consumed: 22), body: "hello"),
        Row(name: "chunked total exactly at the limit", raw: "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", maxBodyBytes: 10,
            expected: .done(consumed: 25), body: "helloworld"),
        Row(name: "chunked total one over the limit", raw: "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", maxBodyBytes: 10,
            expected: .invalid(.contentTooLarge), body: "hello"),
        Row(name: "chunk line exactly at its limit", raw: "1;abcdefghijkl\r\nx\r\n0\r\n\r\n", limits: small,
            expected: .done(consumed: 24), body: "x"),
        Row(name: "chunk line one over its limit", raw: "1;abcdefghijklm\r\nx\r\n0\r\n\r\n", limits: small, expected: bad(.chunkSize)),
        Row(name: "trailer section exactly at its limit", raw: "0\r\nA: 12345678901234567\r\n\r\n", limits: small,
            expected: .done(consumed: 27)),
        Row(name: "trailer section one over its limit", raw: "0\r\nA: 123456789012345678\r\n\r\n", limits: small,
            expected: .invalid(.headerFieldsTooLarge)),
        Row(name: "size with a sign", raw: "+5\r\nhello\r\n0\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "size with leading whitespace", raw: " 5\r\nhello\r\n0\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "size with trailing whitespace and no extension", raw: "3 \r\nfoo\r\n0\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "size followed by garbage without semicolon", raw: "2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "size 0x prefix", raw: "0x5\r\nhello\r\n0\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "empty size line where the last chunk belongs", raw: "3\r\nfoo\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "overflowing size", raw: "ffffffffffffffffffff\r\n", maxBodyBytes: Int.max, expected: bad(.chunkSize)),
        Row(name: "huge size is refused by the body limit", raw: "fffffffff\r\n", expected: .invalid(.contentTooLarge)),
        Row(name: "bare LF after size", raw: "3\nfoo\r\n0\r\n\r\n", expected: bad(.bareLF)),
        Row(name: "bare CR after size", raw: "5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", expected: bad(.bareCR)),
        Row(name: "whitespace then LF after size", raw: "3 \n  \r\nfoo\r\n\r\n", expected: bad(.chunkSize)),
        Row(name: "extension without name", raw: "3;=x\r\nfoo\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "extension with a bad name byte", raw: "3;a@b\r\nfoo\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "extension value missing", raw: "3;a=\r\nfoo\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "unbalanced quoted extension", raw: "5;a=\"abc\";b=\"def; ghi\r\nhello\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "control byte in a quoted extension", raw: "5;a=\"\u{01}\"\r\nhello\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "whitespace after the last extension", raw: "5;a=b \r\nhello\r\n0\r\n\r\n", expected: bad(.chunkExtension)),
        Row(name: "chunk data not followed by CRLF", raw: "5\r\nABCDE0\r\n", expected: bad(.chunkData), body: "ABCDE"),
        Row(name: "chunk data followed by LF only", raw: "5\r\nhello\n0\r\n\r\n", expected: bad(.chunkData), body: "hello"),
        Row(name: "trailer with obs-fold", raw: "0\r\nA: b\r\n c\r\n\r\n", expected: bad(.trailer)),
        Row(name: "trailer with NUL", raw: "0\r\nA: b\u{00}\r\n\r\n", expected: bad(.trailer)),
        Row(name: "trailer with space before colon", raw: "0\r\nA : b\r\n\r\n", expected: bad(.trailer)),
        Row(name: "trailer with bare LF", raw: "0\r\nA: b\n\r\n", expected: bad(.bareLF)),
        Row(name: "trailer ending with bare LF", raw: "0\r\n\n", expected: bad(.bareLF)),
    ]

    func testBodiesDecodeWholeSplitAtEveryByteAndOneByteAtATime() {
        for row in Self.rows {
            let got = Wire.decodeWholeAndSplit(Wire.bytes(row.raw), framing: row.framing, maxBodyBytes: row.maxBodyBytes,
                                               limits: row.limits, row: row.name)
            XCTAssertEqual(got.result, row.expected, row.name)
            if !Wire.isInvalid(row.expected) { XCTAssertEqual(String(decoding: got.body, as: UTF8.self), row.body, row.name) }
        }
    }

    func testTooManyTrailerFieldsAreRefused() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 2
        let ok = Wire.decode(Wire.bytes("0\r\nA: 1\r\nB: 2\r\n\r\n"), framing: .chunked, maxBodyBytes: 10, limits: limits, splitAt: [])
        XCTAssertEqual(ok.result, .done(consumed: 17))
        let over = Wire.decode(Wire.bytes("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), framing: .chunked, maxBodyBytes: 10, limits: limits, splitAt: [])
        XCTAssertEqual(over.result, .invalid(.headerFieldsTooLarge))
    }

    func testDecoderStaysFailedAndStaysDone() {
        var failed = BodyDecoder(framing: .chunked, maxBodyBytes: 10, limits: .default)
        var body: [UInt8] = []
        XCTAssertEqual(Wire.bytes("x\r\n").withUnsafeBytes { failed.decode($0, into: &body) }, Self.bad(.chunkSize))
        XCTAssertEqual(Wire.bytes("0\r\n\r\n").withUnsafeBytes { failed.decode($0, into: &body) }, Self.bad(.chunkSize))

        var done = BodyDecoder(framing: .contentLength(2), maxBodyBytes: 10, limits: .default)
        XCTAssertEqual(Wire.bytes("ab").withUnsafeBytes { done.decode($0, into: &body) }, .done(consumed: 2))
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(Wire.bytes("cd").withUnsafeBytes { done.decode($0, into: &body) }, .done(consumed: 0))
        XCTAssertEqual(body, Wire.bytes("ab"))
    }

    func testHeadAndChunkedBodyTogetherYieldTheNextPipelinedRequest() {
        let raw = Wire.bytes("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        guard case .complete(let head, let headBytes) = Wire.parse(raw) else { return XCTFail("head") }
        var decoder = BodyDecoder(framing: head.framing, maxBodyBytes: 100, limits: .default)
        var body: [UInt8] = []
        let rest = Array(raw[headBytes...])
        guard case .done(let bodyBytes) = rest.withUnsafeBytes({ decoder.decode($0, into: &body) }) else { return XCTFail("body") }
        XCTAssertEqual(body, Wire.bytes("abc"))
        guard case .complete(let next, _) = Wire.parse(Array(rest[bodyBytes...])) else { return XCTFail("next") }
        XCTAssertEqual(next.target, "/b")
    }
}
