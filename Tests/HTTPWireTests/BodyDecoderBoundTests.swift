import XCTest
@testable import HTTPWire

/// `payloadBound(forInput:)` lets the server reserve budget before a body grows: it
/// must never be below what `decode` then appends, split anywhere.
final class BodyDecoderBoundTests: XCTestCase {
    private func checkBound(_ raw: String, framing: BodyFraming, maxBodyBytes: Int, file: StaticString = #filePath, line: UInt = #line) {
        let input = Array(raw.utf8)
        for split in 0...input.count {
            var decoder = BodyDecoder(framing: framing, maxBodyBytes: maxBodyBytes, limits: .default)
            var body: [UInt8] = []
            var pending: [UInt8] = []
            for part in [input[..<split], input[split...]] {
                pending += part
                let bound = decoder.payloadBound(forInput: pending.count)
                let before = body.count
                let result = pending.withUnsafeBytes { decoder.decode($0, into: &body) }
                XCTAssertLessThanOrEqual(body.count - before, bound, "split at \(split)", file: file, line: line)
                switch result {
                case .needMore(let consumed), .done(let consumed): pending.removeFirst(consumed)
                case .invalid: return
                }
            }
        }
    }

    func testTheBoundCoversWhatDecodingAppends() {
        checkBound("hello world", framing: .contentLength(11), maxBodyBytes: 100)
        checkBound("hello worldGET / HTTP/1.1\r\n", framing: .contentLength(11), maxBodyBytes: 100)
        checkBound("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", framing: .chunked, maxBodyBytes: 100)
        checkBound("5;x=y\r\nhello\r\n0\r\nA: b\r\n\r\n", framing: .chunked, maxBodyBytes: 5)
    }

    func testContentLengthBoundsAndRemaining() {
        var decoder = BodyDecoder(framing: .contentLength(10), maxBodyBytes: 100, limits: .default)
        XCTAssertEqual(decoder.remainingContentLength, 10)
        XCTAssertEqual(decoder.payloadBound(forInput: 4), 4)
        XCTAssertEqual(decoder.payloadBound(forInput: 64), 10)
        var body: [UInt8] = []
        _ = Array("abcd".utf8).withUnsafeBytes { decoder.decode($0, into: &body) }
        XCTAssertEqual(decoder.remainingContentLength, 6)
        _ = Array("efghij".utf8).withUnsafeBytes { decoder.decode($0, into: &body) }
        XCTAssertNil(decoder.remainingContentLength)
        XCTAssertEqual(decoder.payloadBound(forInput: 10), 0)
    }

    func testChunkedBoundStopsAtTheCap() {
        let decoder = BodyDecoder(framing: .chunked, maxBodyBytes: 8, limits: .default)
        XCTAssertNil(decoder.remainingContentLength)
        XCTAssertEqual(decoder.payloadBound(forInput: 100), 8)
        XCTAssertEqual(BodyDecoder(framing: .chunked, maxBodyBytes: 0, limits: .default).payloadBound(forInput: 100), 0)
    }

    func testTheBudgetAnswerCarriesRetryAfterAndClose() {
        let text = String(decoding: ResponseEncoder.fixedUnavailable(retryAfterSeconds: 1), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 503 "), text)
        XCTAssertTrue(text.contains("\r\nRetry-After: 1\r\n"), text)
        XCTAssertTrue(text.contains("\r\nConnection: close\r\n"), text)
        XCTAssertTrue(String(decoding: ResponseEncoder.fixedUnavailable(retryAfterSeconds: 7), as: UTF8.self)
            .contains("\r\nRetry-After: 7\r\n"))
    }
}
