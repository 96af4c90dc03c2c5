import XCTest
import Foundation
@testable import APIClient

final class RetryHintTests: XCTestCase {
    func testHintParsingTable() {
        let now = Date(timeIntervalSince1970: 1_793_534_400)   // 2026-11-01T12:00:00Z
        let cases: [(headers: [String: String], expected: Duration?)] = [
            ([:], nil),
            (["Retry-After": "3"], .seconds(3)),
            (["retry-after": "1.5"], .milliseconds(1500)),
            (["retry-after-ms": "250"], .milliseconds(250)),
            (["retry-after-ms": "250", "retry-after": "9"], .milliseconds(250)),  // ms wins
            (["retry-after-ms": "garbage", "retry-after": "9"], .seconds(9)),
            (["retry-after-ms": "-5", "retry-after": "2"], .seconds(2)),
            (["Retry-After": "Sun, 01 Nov 2026 12:00:10 GMT"], .seconds(10)),
            (["Retry-After": "Sunday, 01-Nov-26 12:00:20 GMT"], .seconds(20)),
            (["Retry-After": "Sun Nov  1 12:00:30 2026"], .seconds(30)),
            (["Retry-After": "Sun, 01 Nov 2026 11:59:00 GMT"], nil),               // in the past
            (["Retry-After": "Sun, 01 Nov 2026 13:00:00 GMT"], .seconds(60)),      // capped
            (["Retry-After": "600"], .seconds(60)),                                // capped
            (["retry-after-ms": "120000"], .seconds(60)),                          // capped
            (["Retry-After": "0"], nil),
            (["Retry-After": "-1"], nil),
            (["Retry-After": "soon"], nil),
            (["Retry-After": ""], nil),
            (["Retry-After": "nan"], nil),
            (["Retry-After": "inf"], nil),
        ]
        for c in cases {
            let response = InboundResponse(status: 429, headers: c.headers, body: Data())
            XCTAssertEqual(RetryHint.delay(from: response, now: now), c.expected, "\(c.headers)")
        }
    }
}
