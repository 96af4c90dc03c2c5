import CoreMetrics
import SandboxLifecycle
import WorkQueue

/// The per-environment families of `OrchestratorMetrics` (drains, launches, work-queue
/// errors and force-stops, janitor, reconciler, `cma_environment_ready`), reported by
/// one environment's pipeline through the observers the lower modules own.
///
/// When the process serves several environments every family here carries an
/// `environment` label, whose values are the configured `env_…` ids: bounded by the
/// configuration, never by traffic (style habit 10). With one environment the label is
/// left out, so the single-environment series stay what they were. Prometheus refuses
/// a family with and without the label at once, so the choice is made once, when
/// `OrchestratorMetrics` is built.
public struct EnvironmentMetrics: Sendable {
    let metrics: OrchestratorMetrics
    /// `[("environment", id)]`, or empty with one environment.
    let labels: [(String, String)]
    /// The environment id, also when it is not a label.
    let environmentID: String

    /// Cheap: the families were made by `OrchestratorMetrics.init`; this only names them.
    init(metrics: OrchestratorMetrics, environmentID: String) {
        self.metrics = metrics
        self.environmentID = environmentID
        labels = metrics.labelsEnvironments ? [("environment", environmentID)] : []
    }

    /// `name`'s labels: this environment's first, then `extra`.
    func labels(_ extra: [(String, String)]) -> [(String, String)] { labels + extra }

    /// Every family at 0 for its known label values (see `createPipelineSeries`).
    func createSeries() {
        metrics.count("cma_drains_total", labels, by: 0)
        for outcome in ["launched", "failed"] { metrics.count("cma_sandbox_launches_total", labels([("outcome", outcome)]), by: 0) }
        metrics.count("cma_sandbox_late_failures_total", labels, by: 0)
        metrics.gauge("cma_launches_in_flight", labels, 0)
        for outcome in ["ok", "failed"] { metrics.count("cma_janitor_sweeps_total", labels([("outcome", outcome)]), by: 0) }
        for trigger in PauseTrigger.allCases {
            for outcome in ["paused", "failed"] {
                metrics.count("cma_janitor_pauses_total", labels(OrchestratorMetrics.pauseLabels(trigger, outcome)), by: 0)
            }
        }
        for reason in ForceStopReason.allCases {
            for outcome in OrchestratorMetrics.stopOutcomes {
                metrics.count("cma_work_force_stops_total", labels([("reason", reason.rawValue), ("outcome", outcome)]), by: 0)
            }
        }
        metrics.gauge("cma_work_pending_stops", labels, 0)
        metrics.gauge("cma_work_queue_configuration_error", labels, 0)
        metrics.gauge("cma_environment_ready", labels, 0)
        for outcome in Reconciler.Verdict.metricLabels {
            metrics.count("cma_reconciler_items_total", labels([("outcome", outcome)]), by: 0)
        }
        for outcome in ["ok", "failed"] { metrics.count("cma_reconciler_passes_total", labels([("outcome", outcome)]), by: 0) }
        for call in OrchestratorMetrics.failedCalls {
            for disposition in OrchestratorMetrics.failureClasses {
                metrics.count("cma_work_queue_errors_total", labels(OrchestratorMetrics.errorLabels(call, disposition)), by: 0)
            }
        }
    }

    /// `cma_launches_in_flight` (the registry hands back the same gauge for the same labels).
    var launchesInFlight: CoreMetrics.Meter {
        CoreMetrics.Meter(label: "cma_launches_in_flight", dimensions: labels, factory: metrics.factory)
    }

    // MARK: Launches and drains

    func drainStarted() { metrics.count("cma_drains_total", labels) }

    func launch(_ outcome: String, duration: Duration) {
        metrics.count("cma_sandbox_launches_total", labels([("outcome", outcome)]))
        metrics.launchDuration.recordNanoseconds(duration.wholeNanoseconds)
    }

    func lateFailure() { metrics.count("cma_sandbox_late_failures_total", labels) }

    /// What `launch(outcome, …)` has counted in this process.
    func launches(_ outcome: String) -> Int { metrics.tally("cma_sandbox_launches_total", labels([("outcome", outcome)])) }

    func reconcilerPassed(_ report: Reconciler.Report) {
        metrics.count("cma_reconciler_passes_total", labels([("outcome", report.error == nil ? "ok" : "failed")]))
        for verdict in report.verdicts.values { metrics.count("cma_reconciler_items_total", labels([("outcome", verdict.rawValue)])) }
    }

    // MARK: The environment's health

    /// The drainer whose health `cma_work_queue_configuration_error` and
    /// `cma_environment_ready` follow.
    func trackQueueHealth(_ health: @escaping @Sendable () -> DrainHealth) {
        metrics.environmentSources.withLock { $0[environmentID, default: .init()].health = health }
        refreshEnvironment()
    }

    /// The template check `cma_environment_ready` follows.
    func trackTemplate(_ status: @escaping @Sendable () -> TemplateStatus) {
        metrics.environmentSources.withLock { $0[environmentID, default: .init()].template = status }
        refreshEnvironment()
    }

    /// `cma_environment_ready`: the template is ready and the last poll was not refused
    /// (401, 403, 404); `cma_work_queue_configuration_error`: it was.
    func refreshEnvironment() {
        guard let sources = metrics.environmentSources.withLock({ $0[environmentID] }) else { return }
        let refused = sources.health?().configurationError != nil
        if sources.health != nil { metrics.gauge("cma_work_queue_configuration_error", labels, refused ? 1 : 0) }
        if let template = sources.template?() {
            metrics.gauge("cma_environment_ready", labels, template.isReady && !refused ? 1 : 0)
        }
    }
}

extension EnvironmentMetrics: DrainerObserver {
    public func workQueueCallFailed(_ call: AnthropicCall, _ disposition: ErrorDisposition) {
        metrics.count("cma_work_queue_errors_total", labels(OrchestratorMetrics.errorLabels(call, disposition)))
    }

    public func itemForceStopped(_ reason: ForceStopReason, outcome: StopOutcome?) {
        let label = switch outcome {
        case .stopped?: "stopped"
        case .alreadyStopped?: "already_stopped"
        case nil: "failed"
        }
        metrics.count("cma_work_force_stops_total", labels([("reason", reason.rawValue), ("outcome", label)]))
    }

    public func drainHealthChanged() {
        metrics.refreshReadiness()
        refreshEnvironment()
    }

    public func pendingStopsChanged(_ count: Int) { metrics.gauge("cma_work_pending_stops", labels, count) }
}

extension EnvironmentMetrics: LifecycleObserver {
    public func janitorSwept(listed: Bool) {
        metrics.count("cma_janitor_sweeps_total", labels([("outcome", listed ? "ok" : "failed")]))
    }

    public func janitorPause(_ trigger: PauseTrigger, paused: Bool) {
        metrics.count("cma_janitor_pauses_total", labels(OrchestratorMetrics.pauseLabels(trigger, paused ? "paused" : "failed")))
    }

    public func templateStatusChanged(_ status: TemplateStatus) {
        metrics.refreshReadiness()
        refreshEnvironment()
    }
}
