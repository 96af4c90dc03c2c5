import APIClient
import XCTest
@testable import SandboxLifecycle

/// Rule 33's Superserve rows as a decision table: (error, call) → disposition.
final class SuperserveErrorClassifierTests: XCTestCase {
    private static func http(_ status: Int, _ code: String? = nil, hint: Duration? = nil) -> SandboxLifecycleError {
        .http(status: status, code: code, message: "test", retryAfter: hint)
    }

    func testEverySuperserveFailureHasTheDispositionOfRule33() {
        let s = Self.self
        let hint = Duration.seconds(3)
        let cases: [(SandboxLifecycleError, SuperserveCall, SuperserveDisposition)] = [
            // Every call: no answer is worth another try; an unusable answer is not.
            (.transport(.timedOut), .read, .retry(hint: nil)),
            (.transport(.connectionFailed("reset")), .create, .retry(hint: nil)),
            (.transport(.timedOut), .activate, .retry(hint: nil)),
            (.transport(.timedOut), .dataPlane, .retry(hint: nil)),
            (.invalidResponse("x"), .read, .fatal),
            (.invalidResponse("x"), .create, .fatal),
            (.invalidConfiguration("x"), .update, .fatal),
            (.invalidBundle("x"), .dataPlane, .fatal),
            (.buildFailed("x"), .read, .fatal),
            // GET / DELETE: transport, 429, 502, 503, 504; 404 = gone; 400, 401, 403 fatal.
            (s.http(429, "rate_limited", hint: hint), .read, .retry(hint: hint)),
            (s.http(502), .read, .retry(hint: nil)),
            (s.http(503, hint: hint), .read, .retry(hint: hint)),
            (s.http(504), .read, .retry(hint: nil)),
            (s.http(500), .read, .fatal),
            (s.http(404, "not_found"), .read, .notFound),
            (s.http(400), .read, .fatal),
            (s.http(401), .read, .fatal),
            (s.http(403), .read, .fatal),
            (s.http(409, "conflict"), .read, .fatal),
            // create: transport, 429, 5xx (the planner looks up first, rule 16); 409 template not ready.
            (s.http(429, "rate_limited", hint: hint), .create, .retry(hint: hint)),
            (s.http(429, "too_many_sandboxes", hint: hint), .create, .quota(hint: hint)),
            (s.http(500, "internal_error"), .create, .retry(hint: nil)),
            (s.http(503, "service_unavailable", hint: hint), .create, .retry(hint: hint)),
            (s.http(409, "conflict", hint: hint), .create, .conflict(code: "conflict", hint: hint)),
            (s.http(404, "not_found"), .create, .fatal),
            (s.http(400), .create, .fatal),
            // activate: rule 20's 409s, 404 gone, 429 too_many_sandboxes a quota.
            (s.http(409, "sandbox_pausing"), .activate, .conflict(code: "sandbox_pausing", hint: nil)),
            (s.http(409, "sandbox_starting"), .activate, .conflict(code: "sandbox_starting", hint: nil)),
            (s.http(409), .activate, .conflict(code: nil, hint: nil)),
            (s.http(404, "not_found"), .activate, .notFound),
            (s.http(429, "too_many_sandboxes", hint: hint), .activate, .quota(hint: hint)),
            (s.http(429, "rate_limited"), .activate, .retry(hint: nil)),
            (s.http(500), .activate, .retry(hint: nil)),
            (s.http(502), .activate, .retry(hint: nil)),
            (s.http(400), .activate, .fatal),
            (s.http(401), .activate, .fatal),
            (s.http(403), .activate, .fatal),
            // pause: 409 = not active (ignored by the client), 404 gone.
            (s.http(409, "conflict"), .pause, .conflict(code: "conflict", hint: nil)),
            (s.http(404), .pause, .notFound),
            (s.http(503), .pause, .retry(hint: nil)),
            (s.http(401), .pause, .fatal),
            // PATCH: 409 = no longer active (rule 23), 404 gone.
            (s.http(409, "conflict"), .update, .conflict(code: "conflict", hint: nil)),
            (s.http(404), .update, .notFound),
            (s.http(500), .update, .retry(hint: nil)),
            (s.http(400), .update, .fatal),
            // data plane, after the client's refresh (rule 32): transport, 429, 502, 503, 504; the rest fatal.
            (s.http(502, hint: hint), .dataPlane, .retry(hint: hint)),
            (s.http(503), .dataPlane, .retry(hint: nil)),
            (s.http(504), .dataPlane, .retry(hint: nil)),
            (s.http(429), .dataPlane, .retry(hint: nil)),
            (s.http(500), .dataPlane, .fatal),
            (s.http(400), .dataPlane, .fatal),
            (s.http(404, "not_found"), .dataPlane, .fatal),
            (s.http(409), .dataPlane, .fatal),
            // idempotent data plane (bundle write, launch exec, probe): every 5xx retried too.
            (s.http(500, "internal_error"), .idempotentDataPlane, .retry(hint: nil)),
            (s.http(503, hint: hint), .idempotentDataPlane, .retry(hint: hint)),
            (s.http(429, "rate_limited", hint: hint), .idempotentDataPlane, .retry(hint: hint)),
            (.transport(.timedOut), .idempotentDataPlane, .retry(hint: nil)),
            (s.http(400), .idempotentDataPlane, .fatal),
            (s.http(404, "not_found"), .idempotentDataPlane, .fatal),
            // A redirect is never followed nor retried, whatever the call.
            (.transport(.redirectRefused("301 from x")), .read, .fatal),
            (.transport(.redirectRefused("307 from x")), .create, .fatal),
            (.transport(.redirectRefused("308 from x")), .idempotentDataPlane, .fatal),
        ]
        for (error, call, expected) in cases {
            XCTAssertEqual(SuperserveErrorClassifier.disposition(of: error, for: call), expected, "\(error) on \(call)")
        }
    }

    func testEveryCallRetriesATransportFailureAndNeverAnUnreadableAnswer() {
        for call in SuperserveCall.allCases {
            XCTAssertEqual(SuperserveErrorClassifier.disposition(of: .transport(.cancelled), for: call), .retry(hint: nil), "\(call)")
            XCTAssertEqual(SuperserveErrorClassifier.disposition(of: .invalidResponse("x"), for: call), .fatal, "\(call)")
        }
    }

    /// Rule 32: which data-plane answers call for one refresh (activate) and one retry.
    func testDataPlaneRefreshIsCalledForByExpiredTokensStaleRoutesAndUnavailableSandboxes() {
        let s = Self.self
        let cases: [(SandboxLifecycleError, String?, Bool)] = [
            (s.http(401), "hint", true),
            (s.http(403), nil, true),
            (s.http(404, "sandbox_route_stale"), "hint", true),
            (s.http(404, "not_found"), "hint", false),
            (s.http(503), nil, true),
            (s.http(503), "", true),
            (s.http(503, "service_unavailable"), "hint", false),
            (s.http(503, "sandbox_unavailable"), "hint", true),
            (s.http(502), nil, false),
            (s.http(400), nil, false),
            (.transport(.timedOut), nil, false),
        ]
        for (error, routingHint, expected) in cases {
            XCTAssertEqual(SuperserveErrorClassifier.refreshesAccess(error, routingHint: routingHint), expected,
                           "\(error) with routing hint \(routingHint ?? "nil")")
        }
    }
}
