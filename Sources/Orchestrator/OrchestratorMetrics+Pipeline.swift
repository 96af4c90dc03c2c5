import APIClient
import CoreMetrics
import SandboxLifecycle
import WorkQueue

/// The work pipeline's metrics, reported through the observers the lower modules own
/// (`DrainerObserver`, `LifecycleObserver`, `TokenBucketObserver`) and the metered
/// transports. None of it is on the webhook or probe path.
extension OrchestratorMetrics {
    static let statusClasses = ["2xx", "4xx", "5xx", "transport_error"]
    static let failedCalls: [AnthropicCall] = [.poll, .ack, .stop]
    static let failureClasses: [ErrorDisposition] = [.transient, .fatal]
    static let stopOutcomes = ["stopped", "already_stopped", "failed"]

    /// Every family at 0 for its known label values, so that the first increase is an
    /// increase to Prometheus (`increase()` of a series that appears at 1 is 0).
    func createPipelineSeries() {
        for outcome in ["ok", "failed"] { count("cma_janitor_sweeps_total", [("outcome", outcome)], by: 0) }
        for trigger in PauseTrigger.allCases {
            for outcome in ["paused", "failed"] { count("cma_janitor_pauses_total", Self.pauseLabels(trigger, outcome), by: 0) }
        }
        for reason in ForceStopReason.allCases {
            for outcome in Self.stopOutcomes { count("cma_work_force_stops_total", [("reason", reason.rawValue), ("outcome", outcome)], by: 0) }
        }
        gauge("cma_work_pending_stops", [], 0)
        gauge("cma_work_queue_configuration_error", [], 0)
        for outcome in Reconciler.Verdict.metricLabels { count("cma_reconciler_items_total", [("outcome", outcome)], by: 0) }
        for outcome in ["ok", "failed"] { count("cma_reconciler_passes_total", [("outcome", outcome)], by: 0) }
        for call in Self.failedCalls {
            for disposition in Self.failureClasses { count("cma_work_queue_errors_total", Self.errorLabels(call, disposition), by: 0) }
        }
        for upstream in UpstreamRoute.Upstream.allCases {
            gauge("cma_upstream_up", [("upstream", upstream.rawValue)], 1)
            for route in UpstreamRoute.known(upstream) {
                _ = upstreamTimer(route)
                for status in Self.statusClasses { count("cma_upstream_requests_total", Self.upstreamLabels(route, status), by: 0) }
            }
        }
    }

    static func pauseLabels(_ trigger: PauseTrigger, _ outcome: String) -> [(String, String)] {
        [("trigger", trigger.rawValue), ("outcome", outcome)]
    }

    static func errorLabels(_ call: AnthropicCall, _ disposition: ErrorDisposition) -> [(String, String)] {
        let label = switch disposition {
        case .transient: "transient"
        case .fatal: "fatal"
        case .alreadyStopped: "already_stopped"
        case .notFound: "not_found"
        }
        return [("call", call.rawValue), ("class", label)]
    }

    static func upstreamLabels(_ route: UpstreamRoute, _ status: String) -> [(String, String)] {
        [("upstream", route.upstream.rawValue), ("method", route.method), ("endpoint", route.endpoint), ("status", status)]
    }

    func upstreamCall(_ route: UpstreamRoute, status: String, duration: Duration) {
        count("cma_upstream_requests_total", Self.upstreamLabels(route, status))
        upstreamHealth.record(route.upstream, statusClass: status)
        upstreamTimer(route).recordNanoseconds(duration.wholeNanoseconds)
    }

    /// `cma_ready` follows readiness by itself: `isReady` is asked again whenever the
    /// template check or the drainer's health changes, not only on `/readyz`.
    func trackReadiness(_ isReady: @escaping @Sendable () -> Bool) {
        readiness.withLock { $0 = isReady }
        refreshReadiness()
    }

    func refreshReadiness() {
        guard let isReady = readiness.withLock({ $0 }) else { return }
        ready.set(isReady() ? 1 : 0)
    }
}

extension OrchestratorMetrics: DrainerObserver {
    public func workQueueCallFailed(_ call: AnthropicCall, _ disposition: ErrorDisposition) {
        count("cma_work_queue_errors_total", Self.errorLabels(call, disposition))
    }

    public func itemForceStopped(_ reason: ForceStopReason, outcome: StopOutcome?) {
        let label = switch outcome {
        case .stopped?: "stopped"
        case .alreadyStopped?: "already_stopped"
        case nil: "failed"
        }
        count("cma_work_force_stops_total", [("reason", reason.rawValue), ("outcome", label)])
    }

    public func drainHealthChanged() {
        refreshReadiness()
        if let health = queueHealth.withLock({ $0 })?() {
            gauge("cma_work_queue_configuration_error", [], health.configurationError == nil ? 0 : 1)
        }
    }

    public func pendingStopsChanged(_ count: Int) { gauge("cma_work_pending_stops", [], count) }

    func trackQueueHealth(_ health: @escaping @Sendable () -> DrainHealth) {
        queueHealth.withLock { $0 = health }
    }

    func reconcilerPassed(_ report: Reconciler.Report) {
        count("cma_reconciler_passes_total", [("outcome", report.error == nil ? "ok" : "failed")])
        for verdict in report.verdicts.values { count("cma_reconciler_items_total", [("outcome", verdict.rawValue)]) }
    }

    /// A gauge per label set; the registry hands back the same series for the same labels.
    func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) {
        CoreMetrics.Meter(label: name, dimensions: labels, factory: factory).set(value)
    }
}

extension OrchestratorMetrics: LifecycleObserver {
    public func janitorSwept(listed: Bool) {
        count("cma_janitor_sweeps_total", [("outcome", listed ? "ok" : "failed")])
    }

    public func janitorPause(_ trigger: PauseTrigger, paused: Bool) {
        count("cma_janitor_pauses_total", Self.pauseLabels(trigger, paused ? "paused" : "failed"))
    }

    public func templateStatusChanged(_ status: TemplateStatus) { refreshReadiness() }
}

extension OrchestratorMetrics: TokenBucketObserver {
    public func bucketWaitStarted() { bucketWaiters.increment() }

    public func bucketWaitEnded(waited: Duration) {
        bucketWaiters.decrement()
        bucketWaitSeconds.increment(by: waited.secondsDouble)
    }
}
