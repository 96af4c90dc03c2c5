import CoreMetrics
import SandboxLifecycle

/// The warm pool's metrics. The `environment` label takes only configured
/// environment ids (bounded); outcomes and reasons are closed sets.
extension OrchestratorMetrics: WarmPoolObserver {
    /// Every warm-pool family at 0 for `environment`, so a first claim is an increase.
    func createWarmPoolSeries(environment: String) {
        warmPoolReady(environment: environment, count: 0)
        for outcome in WarmPoolClaimOutcome.allCases {
            count("cma_warm_pool_claims_total", [("environment", environment), ("outcome", outcome.rawValue)], by: 0)
        }
        for outcome in ["created", "failed"] {
            count("cma_warm_pool_refills_total", [("environment", environment), ("outcome", outcome)], by: 0)
        }
        for reason in WarmPoolPlan.RecycleReason.allCases {
            count("cma_warm_pool_recycles_total", [("environment", environment), ("reason", reason.rawValue)], by: 0)
        }
    }

    public func warmPoolReady(environment: String, count: Int) {
        let meter = warmPoolGauges.withLock { gauges in
            if let meter = gauges[environment] { return meter }
            let meter = CoreMetrics.Meter(label: "cma_warm_pool_ready", dimensions: [("environment", environment)], factory: factory)
            gauges[environment] = meter
            return meter
        }
        meter.set(count)
    }

    public func warmPoolClaim(environment: String, outcome: WarmPoolClaimOutcome) {
        count("cma_warm_pool_claims_total", [("environment", environment), ("outcome", outcome.rawValue)])
    }

    public func warmPoolRefill(environment: String, created: Bool) {
        count("cma_warm_pool_refills_total", [("environment", environment), ("outcome", created ? "created" : "failed")])
    }

    public func warmPoolRecycle(environment: String, reason: WarmPoolPlan.RecycleReason) {
        count("cma_warm_pool_recycles_total", [("environment", environment), ("reason", reason.rawValue)])
    }
}
