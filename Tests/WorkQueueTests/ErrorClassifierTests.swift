import XCTest
import APIClient
@testable import WorkQueue

final class ErrorClassifierTests: XCTestCase {
    private func http(_ status: Int, shouldRetry: Bool? = nil) -> WorkQueueError {
        .http(status: status, errorType: nil, requestID: nil, retryAfter: nil, shouldRetry: shouldRetry)
    }

    // rule 33 as a decision table
    func testEveryAnthropicCallFailureHasTheDispositionOfRule33() {
        let cases: [(WorkQueueError, AnthropicCall, ErrorDisposition)] = [
            (.transport(.timedOut), .poll, .transient),
            (.transport(.connectionFailed("x")), .ack, .transient),
            // A redirect (never followed) is fatal: the configured base URL is wrong.
            (.transport(.redirectRefused("301 from x")), .poll, .fatal),
            (.transport(.redirectRefused("307 from x")), .ack, .fatal),
            (.transport(.redirectRefused("302 from x")), .session, .fatal),
            (.invalidResponse("x"), .poll, .transient),
            (http(408), .poll, .transient),
            (http(409), .poll, .transient),
            (http(429), .poll, .transient),
            (http(500), .poll, .transient),
            (http(529), .poll, .transient),
            (http(400), .poll, .fatal),
            (http(401), .poll, .fatal),
            (http(403), .poll, .fatal),
            (http(404), .poll, .fatal),
            (http(412), .heartbeat, .fatal),
            (http(409), .ack, .transient),                        // rule 7
            (http(409, shouldRetry: false), .ack, .transient),    // rule 7 wins over the header
            (http(404), .ack, .fatal),
            (http(409), .stop, .alreadyStopped),
            (http(409, shouldRetry: false), .stop, .alreadyStopped),
            (http(500), .stop, .transient),
            (http(500, shouldRetry: false), .stop, .fatal),       // core-client header rule
            (http(500, shouldRetry: false), .poll, .transient),   // poll: status alone
            (http(400, shouldRetry: true), .poll, .transient),
            (http(404), .session, .notFound),
            (http(401), .session, .fatal),
            (http(403), .session, .fatal),
            (http(503), .session, .transient),
            // rule 33's session GET row is "as poll" for the transient classes …
            (.transport(.timedOut), .session, .transient),
            (.invalidResponse("x"), .session, .transient),
            (http(408), .session, .transient),
            (http(409), .session, .transient),
            (http(429), .session, .transient),
            (http(400), .session, .fatal),
            // … and follows the core client's `x-should-retry` (anthropic.md §4), except for 404
            (http(401, shouldRetry: true), .session, .transient),
            (http(503, shouldRetry: false), .session, .fatal),
            (http(429, shouldRetry: false), .session, .fatal),
            (http(404, shouldRetry: true), .session, .notFound),
        ]
        for (error, call, expected) in cases {
            XCTAssertEqual(ErrorClassifier.disposition(of: error, for: call), expected, "\(error) on \(call)")
        }
    }
}
