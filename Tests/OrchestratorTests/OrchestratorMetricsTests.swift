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
}
