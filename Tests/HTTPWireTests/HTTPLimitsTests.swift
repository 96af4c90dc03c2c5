import XCTest
@testable import HTTPWire

/// Every limit: exactly at the limit is accepted, one byte (or field) over is rejected,
/// and the over-limit verdict also comes while the input is still incomplete.
final class HTTPLimitsTests: XCTestCase {
    static var small: HTTPLimits {
        var l = HTTPLimits()
        l.maxRequestLineBytes = 32
        l.maxHeaderBytes = 64
        l.maxHeaderCount = 3
        l.maxBodyBytes = 10
        l.maxChunkLineBytes = 16
        l.maxTrailerBytes = 24
        return l
    }

    /// A request line of exactly `n` bytes including CRLF.
    static func requestLine(_ n: Int) -> String {
        let fixed = "GET / HTTP/1.1\r\n".utf8.count
        return "GET /" + String(repeating: "a", count: n - fixed) + " HTTP/1.1\r\n"
    }

    /// A header section of exactly `n` bytes including the final CRLF, Host first.
    static func headerSection(_ n: Int) -> String {
        let fixed = "Host: x\r\nA: \r\n\r\n".utf8.count
        return "Host: x\r\nA: " + String(repeating: "v", count: n - fixed) + "\r\n\r\n"
    }

    /// The first `n` UTF-8 bytes (String.prefix counts "\r\n" as one Character).
    static func bytePrefix(_ s: String, _ n: Int) -> String { String(decoding: Array(s.utf8.prefix(n)), as: UTF8.self) }

    func testLimitsTableAcceptsAtTheLimitAndRejectsOneOver() {
        let host = "Host: x\r\n\r\n"
        let rows: [(name: String, raw: String, expected: HeadParseResult?)] = [
            ("request line exactly at the limit", Self.requestLine(32) + host, nil),
            ("request line one over", Self.requestLine(33) + host, .invalid(.uriTooLong)),
            ("leading empty lines count toward the request line", "\r\n" + Self.requestLine(31) + host, .invalid(.uriTooLong)),
            ("incomplete request line at the limit waits", Self.bytePrefix(Self.requestLine(40), 32), .incomplete),
            ("incomplete request line over the limit is refused", Self.bytePrefix(Self.requestLine(40), 33), .invalid(.uriTooLong)),
            ("header section exactly at the limit", Self.requestLine(20) + Self.headerSection(64), nil),
            ("header section one over", Self.requestLine(20) + Self.headerSection(65), .invalid(.headerFieldsTooLarge)),
            ("incomplete header section at the limit waits", Self.requestLine(20) + Self.bytePrefix(Self.headerSection(90), 64), .incomplete),
            ("incomplete header section over the limit is refused",
             Self.requestLine(20) + Self.bytePrefix(Self.headerSection(90), 65), .invalid(.headerFieldsTooLarge)),
            ("header count exactly at the limit", "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", nil),
            ("header count one over", "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", .invalid(.headerFieldsTooLarge)),
            ("Content-Length exactly at the body limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", nil),
            ("Content-Length one over the body limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", .invalid(.contentTooLarge)),
        ]
        for row in rows {
            let input = Wire.bytes(row.raw)
            let result = Wire.parseWholeAndSplit(input, limits: Self.small, row: row.name)
            if let expected = row.expected {
                XCTAssertEqual(result, expected, row.name)
            } else {
                guard case .complete(_, let consumed) = result else { XCTFail("\(row.name): \(result)"); continue }
                XCTAssertEqual(consumed, input.count, row.name)
            }
        }
    }

    func testHugeInputWithoutLineEndIsRefusedInsteadOfBuffered() {
        let flood = Wire.bytes("GET /" + String(repeating: "a", count: 100_000))
        XCTAssertEqual(Wire.parse(flood), .invalid(.uriTooLong))
        let headerFlood = Wire.bytes("GET / HTTP/1.1\r\nHost: x\r\nA: " + String(repeating: "b", count: 100_000))
        XCTAssertEqual(Wire.parse(headerFlood), .invalid(.headerFieldsTooLarge))
        let manyFields = Wire.bytes("GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 101))
        XCTAssertEqual(Wire.parse(manyFields), .invalid(.headerFieldsTooLarge))
    }

    func testDefaultsAreTheDocumentedValues() {
        let d = HTTPLimits.default
        XCTAssertEqual(d.maxRequestLineBytes, 8192)
        XCTAssertEqual(d.maxHeaderBytes, 16384)
        XCTAssertEqual(d.maxHeaderCount, 100)
        XCTAssertEqual(d.maxBodyBytes, 1_048_576)
        XCTAssertEqual(d.maxChunkLineBytes, 1024)
        XCTAssertEqual(d.maxTrailerBytes, 8192)
    }
}
