import XCTest
@testable import HTTPWire

/// Invalid request heads: one row per rule, each mapped to the exact error, parsed whole
/// and split at every byte (a prefix may only be incomplete or fail the same way).
final class HTTPRequestParserInvalidTests: XCTestCase {
    static func bad(_ r: BadRequestReason) -> HTTPParseError { .badRequest(reason: r) }

    static let rows: [(name: String, raw: String, error: HTTPParseError)] = [
        // Request line (RFC 9112 §3).
        ("empty method", " / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.method)),
        ("non-token method", "GE(T / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.method)),
        ("tab instead of SP after method", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", bad(.method)),
        ("two spaces after method", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.requestLine)),
        ("two spaces after target", "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", bad(.requestLine)),
        ("space inside target", "GET /foo bar/ HTTP/1.1\r\nHost: x\r\n\r\n", bad(.version)),
        ("trailing space after version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", bad(.requestLine)),
        ("missing version", "GET /\r\nHost: x\r\n\r\n", bad(.requestLine)),
        ("control byte in target", "GET /a\u{01}b HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("DEL in target", "GET /a\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("UTF-8 in target", "GET /\u{03B4} HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("asterisk-form for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("asterisk with a path", "OPTIONS *a HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("relative target", "GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("absolute-form with another scheme", "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("absolute-form without host", "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("authority-form for GET", "GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("CONNECT with origin-form", "CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("CONNECT without port", "CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n", bad(.target)),
        ("lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", bad(.version)),
        ("other protocol", "GET / ICE/1.0\r\nHost: x\r\n\r\n", bad(.version)),
        ("version prefix garbage", "GET / IHTTP/1.0\r\nHost: x\r\n\r\n", bad(.version)),
        ("two-digit minor version", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", bad(.requestLine)),
        ("non-digit version", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", bad(.version)),
        ("HTTP/2.0 is well-formed but unsupported", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", .versionNotSupported),
        ("HTTP/0.9 is well-formed but unsupported", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", .versionNotSupported),
        ("HTTP/5.6 is refused before the line ends", "GET / HTTP/5.6", .versionNotSupported),
        // Line endings (RFC 9112 §2.2).
        ("bare LF after request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", bad(.bareLF)),
        ("bare LF between headers", "GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n", bad(.bareLF)),
        ("bare LF after empty value", "GET / HTTP/1.1\r\nHost: x\r\nx:\nTransfer-Encoding: chunked\r\n\r\n", bad(.bareLF)),
        ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", bad(.bareLF)),
        ("bare LF as leading empty line", "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.bareLF)),
        ("bare CR after request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", bad(.bareCR)),
        ("bare CR inside a value", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep\ralive\r\n\r\n", bad(.bareCR)),
        ("bare CR separating headers", "GET / HTTP/1.1\r\nHost: x\r\nFoo: 1\rBar: 2\r\n\r\n", bad(.bareCR)),
        ("bare CR inside a name", "GET / HTTP/1.1\r\nHost: x\r\nContent\rLength: 3\r\n\r\n", bad(.bareCR)),
        ("bare CR before the body", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\rabc", bad(.bareCR)),
        ("bare CR as leading empty line", "\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", bad(.bareCR)),
        // Field lines (RFC 9112 §5, RFC 9110 §5.5).
        ("whitespace before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\n", bad(.whitespaceBeforeColon)),
        ("tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", bad(.whitespaceBeforeColon)),
        ("empty field name", "GET / HTTP/1.1\r\nHost: x\r\n: Bar\r\n\r\n", bad(.headerName)),
        ("non-token field name", "GET / HTTP/1.1\r\nHost: x\r\nFo@: y\r\n\r\n", bad(.headerName)),
        ("control byte in field name", "GET / HTTP/1.1\r\nHost: x\r\nFoo\u{01}test: Bar\r\n\r\n", bad(.headerName)),
        ("field line without colon", "GET / HTTP/1.1\r\nHost: x\r\nname\r\n\r\n", bad(.headerName)),
        ("NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nA: b\u{00}c\r\n\r\n", bad(.headerValue)),
        ("form feed in a value", "GET / HTTP/1.1\r\nHost: x\r\nA: hello\u{0C}world\r\n\r\n", bad(.headerValue)),
        ("DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nA: b\u{7F}\r\n\r\n", bad(.headerValue)),
        ("ESC in a value", "GET / HTTP/1.1\r\nHost: x\r\nA: \u{1B}\r\n\r\n", bad(.headerValue)),
        ("obs-fold continuation line", "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", bad(.obsFold)),
        ("obs-fold with tab", "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\tc\r\n\r\n", bad(.obsFold)),
        ("whitespace before the first field", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", bad(.obsFold)),
        // Host (RFC 9112 §3.2).
        ("missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", bad(.missingHost)),
        ("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", bad(.duplicateHost)),
        // Content-Length (RFC 9112 §6.3).
        ("non-digit Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4a\r\n\r\n", bad(.contentLength)),
        ("signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n", bad(.contentLength)),
        ("negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", bad(.contentLength)),
        ("empty Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", bad(.contentLength)),
        ("space inside Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4 2\r\n\r\n", bad(.contentLength)),
        ("overflowing Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000000\r\n\r\n", bad(.contentLength)),
        ("Content-Length list of equal values", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n", bad(.contentLength)),
        ("two equal Content-Length fields", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", bad(.contentLength)),
        ("two differing Content-Length fields", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", bad(.contentLength)),
        ("Content-Length over the body limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", .contentTooLarge),
        // Transfer-Encoding (RFC 9112 §6.1).
        ("Content-Length then Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         bad(.contentLengthWithTransferEncoding)),
        ("Transfer-Encoding then Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
         bad(.contentLengthWithTransferEncoding)),
        ("identity coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", .notImplemented),
        ("gzip before chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .notImplemented),
        ("chunked not final", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, deflate\r\n\r\n", .notImplemented),
        ("chunked not final across fields", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", .notImplemented),
        ("unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: pigeons\r\n\r\n", .notImplemented),
        ("chunkedchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedchunked\r\n\r\n", .notImplemented),
        ("chunked twice in one field", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", bad(.transferEncoding)),
        ("chunked twice in two fields", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", bad(.transferEncoding)),
        ("empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", bad(.transferEncoding)),
        ("Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", bad(.transferEncoding)),
    ]

    func testInvalidRequestsAreRejectedWithTheExactErrorWholeAndSplitAtEveryByte() {
        for row in Self.rows {
            let result = Wire.parseWholeAndSplit(Wire.bytes(row.raw), row: row.name)
            XCTAssertEqual(result, .invalid(row.error), row.name)
        }
    }

    func testEveryErrorMapsToItsFixedStatus() {
        let table: [(HTTPParseError, Int)] = [
            (.badRequest(reason: .bareLF), 400), (.uriTooLong, 414), (.headerFieldsTooLarge, 431),
            (.contentTooLarge, 413), (.notImplemented, 501), (.versionNotSupported, 505),
        ]
        for (error, status) in table { XCTAssertEqual(error.status, status, "\(error)") }
    }

    func testMetricLabelsAreDistinctAndBounded() {
        let labels = BadRequestReason.allCases.map { HTTPParseError.badRequest(reason: $0).metricLabel }
        XCTAssertEqual(Set(labels).count, BadRequestReason.allCases.count)
        XCTAssertTrue(labels.allSatisfy { $0.utf8.count < 40 && $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }
}
