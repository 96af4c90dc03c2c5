import Foundation
import Orchestrator
import TestSupport
import XCTest

/// The team's Superserve budget on `/status` and `/metrics` of an emulated instance,
/// whose embedded Superserve emulator runs at the service's limits (superserve.md §7).
final class SuperserveBudgetStatusTests: XCTestCase {
    func testTheReportedLimitTheBucketRateAndTheQuotaPressureAreShown() async throws {
        let running = try await Harness.start()
        try await running.scoped {
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            let status = try await running.object("GET", "/status")
            let superserve = try XCTUnwrap(status["superserve"] as? [String: Any])
            // The template check's answer carried RateLimit-Limit: 20.
            XCTAssertEqual(superserve["reported_limit_per_second"] as? Double, 20)
            let rate = try XCTUnwrap(superserve["rate_per_second"] as? Double)
            XCTAssertGreaterThanOrEqual(rate, 1)
            XCTAssertLessThanOrEqual(rate, 18, "0.9 of the reported limit at most (CMA_SUPERSERVE_RATE_SHARE)")
            XCTAssertEqual(superserve["rate_limited"] as? Int, 0)
            XCTAssertEqual(superserve["rate_halvings"] as? Int, 0)
            let quota = try XCTUnwrap(superserve["quota"] as? [String: Any])
            XCTAssertEqual(quota["waiting"] as? Int, 0)
            XCTAssertEqual(quota["paused_for_room"] as? Int, 0)
            XCTAssertTrue(quota["last_pressure"] is NSNull)
            let template = try XCTUnwrap(status["template"] as? [String: Any])
            let version = try XCTUnwrap(template["runner_version"] as? String)
            XCTAssertEqual(version.count, 16, "a hash of runner/")
            XCTAssertEqual(template["runner_version_state"] as? String, "unknown", "no launch has reported yet")

            let metrics = try await running.call("GET", "/metrics")
            let lines = Set(metrics.body.split(separator: "\n").map(String.init))
            XCTAssertTrue(lines.contains("cma_superserve_reported_limit_per_second 20.0")
                          || lines.contains("cma_superserve_reported_limit_per_second 20"), metrics.body)
            XCTAssertTrue(lines.contains("cma_superserve_quota_waiting 0.0") || lines.contains("cma_superserve_quota_waiting 0"),
                          metrics.body)
            XCTAssertTrue(metrics.body.contains(#"cma_janitor_pauses_total{trigger="quota",outcome="paused"} 0"#), metrics.body)
            XCTAssertTrue(metrics.body.contains(#"cma_superserve_rate_limited_total{rate="halved"} 0"#), metrics.body)
            XCTAssertTrue(metrics.body.contains(#"cma_superserve_rate_limited_total{rate="kept"} 0"#), metrics.body)
        }
    }
}
