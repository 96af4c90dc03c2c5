import XCTest
@testable import Orchestrator

final class OrchestratorMetricsTests: XCTestCase {
    /// Webhook counters are kept in an array indexed by outcome: every outcome must have
    /// its own slot and label.
    func testEachWebhookOutcomeCountsUnderItsOwnLabel() {
        XCTAssertEqual(WebhookOutcome.allCases.map(\.index), Array(WebhookOutcome.allCases.indices))
        let metrics = OrchestratorMetrics()
        for (k, outcome) in WebhookOutcome.allCases.enumerated() {
            for _ in 0...k { metrics.webhook(outcome) }
        }
        for (k, outcome) in WebhookOutcome.allCases.enumerated() {
            XCTAssertEqual(metrics.webhooks(outcome), k + 1, outcome.rawValue)
        }
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        for (k, outcome) in WebhookOutcome.allCases.enumerated() {
            XCTAssertTrue(text.contains(#"cma_webhooks_total{outcome="\#(outcome.rawValue)"} \#(k + 1)"#), outcome.rawValue)
        }
    }

    /// Every family carries a `# HELP` line (promtool's lint asks for one), those that
    /// appear only once something happened included.
    func testEveryMetricFamilyHasHelpText() {
        let metrics = OrchestratorMetrics()
        metrics.webhook(.queued)
        metrics.launch("failed", duration: .milliseconds(5))
        metrics.count("cma_sandbox_late_failures_total", [])
        metrics.createWarmPoolSeries(environment: "env_1")   // the warm-pool families exist only with a pool
        metrics.requestRejected(reason: "header_timeout")
        metrics.requestCompleted(method: .GET, routePattern: "/healthz", status: 200, bytesSent: 3, duration: .microseconds(40))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(families.count, OrchestratorMetrics.help.count, text)
        for family in families {
            XCTAssertTrue(text.contains("# HELP \(family) \(OrchestratorMetrics.help[String(family)] ?? "?")\n"), String(family))
        }
    }
}
