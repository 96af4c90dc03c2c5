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
    /// The per-environment families are made by `EnvironmentMetrics.createSeries`.
    func createPipelineSeries() {
        for upstream in UpstreamRoute.Upstream.allCases {
            gauge("cma_upstream_up", [("upstream", upstream.rawValue)], 1)
            for route in UpstreamRoute.known(upstream) {
                _ = upstreamTimer(route)
                for status in Self.statusClasses { count("cma_upstream_requests_total", Self.upstreamLabels(route, status), by: 0) }
            }
        }
        for rate in ["halved", "kept"] { count("cma_superserve_rate_limited_total", [("rate", rate)], by: 0) }
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
    /// The Superserve budget's gauges follow `source` (bucket rate, reported limit,
    /// launches waiting for room), read at each exposition.
    func trackSuperserve(_ source: @escaping @Sendable () -> (rate: Double, limit: Double?, waiting: Int)) {
        superserveSource.withLock { $0 = source }
    }

    func trackReadiness(_ isReady: @escaping @Sendable () -> Bool) {
        readiness.withLock { $0 = isReady }
        refreshReadiness()
    }

    func refreshReadiness() {
        guard let isReady = readiness.withLock({ $0 }) else { return }
        ready.set(isReady() ? 1 : 0)
    }
}

/// The only (or first) environment's families, for callers that report without a
/// scope (tests of one drainer, janitor or template check).
extension OrchestratorMetrics: DrainerObserver {
    public func workQueueCallFailed(_ call: AnthropicCall, _ disposition: ErrorDisposition) {
        defaultScope.workQueueCallFailed(call, disposition)
    }

    public func itemForceStopped(_ reason: ForceStopReason, outcome: StopOutcome?) {
        defaultScope.itemForceStopped(reason, outcome: outcome)
    }

    public func drainHealthChanged() { defaultScope.drainHealthChanged() }

    public func pendingStopsChanged(_ count: Int) { defaultScope.pendingStopsChanged(count) }

    func trackQueueHealth(_ health: @escaping @Sendable () -> DrainHealth) { defaultScope.trackQueueHealth(health) }

    func reconcilerPassed(_ report: Reconciler.Report) { defaultScope.reconcilerPassed(report) }

    /// A gauge per label set; the registry hands back the same series for the same labels.
    func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) {
        CoreMetrics.Meter(label: name, dimensions: labels, factory: factory).set(value)
    }
}

extension OrchestratorMetrics: LifecycleObserver {
    public func janitorSwept(listed: Bool) { defaultScope.janitorSwept(listed: listed) }

    public func janitorPause(_ trigger: PauseTrigger, paused: Bool) { defaultScope.janitorPause(trigger, paused: paused) }

    public func templateStatusChanged(_ status: TemplateStatus) { defaultScope.templateStatusChanged(status) }
}

extension OrchestratorMetrics: TokenBucketObserver {
    public func bucketWaitStarted() { bucketWaiters.increment() }

    public func bucketWaitEnded(waited: Duration) {
        bucketWaiters.decrement()
        bucketWaitSeconds.increment(by: waited.secondsDouble)
    }

    public func bucketRateLimited(halved: Bool) {
        count("cma_superserve_rate_limited_total", [("rate", halved ? "halved" : "kept")])
    }
}
