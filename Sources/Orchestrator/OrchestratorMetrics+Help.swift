import CoreMetrics
import Prometheus

extension OrchestratorMetrics {
    /// The `# HELP` line of every metric family this process exports: Prometheus tools
    /// (`promtool check metrics`, Grafana's metric browser) show it, and the linter
    /// flags a family without one.
    static let help: [String: String] = [
        "cma_http_open_connections": "Open client connections of the HTTP server.",
        "cma_http_requests_total": "HTTP requests answered, by route pattern, method and status class.",
        "cma_http_request_duration_seconds": "Time from a request's first byte to its answer, by route pattern.",
        "cma_http_rejected_requests_total": "Requests refused before routing (parse errors, limits, deadlines, connection cap, buffer budget), by reason.",
        "cma_http_buffered_bytes": "Request bytes (partial heads and bodies) buffered across all connections, out of CMA_HTTP_BUFFER_BUDGET_BYTES.",
        "cma_webhooks_total": "Webhook deliveries by outcome; rejected means the signature check failed (rule 38).",
        "cma_drains_total": "Drains of the work queue started, by webhook or timer (rules 40 and 42).",
        "cma_sandbox_launches_total": "Runner launches by outcome (launched or failed; a failed launch force-stops its item, rule 37).",
        "cma_sandbox_late_failures_total": "Runners found dead after the hand-off; each one force-stops its item (rules 30 and 37).",
        "cma_launch_duration_seconds": "Time from a claimed work item to its runner's hand-off or failure.",
        "cma_launches_in_flight": "Launches in progress (at most the launch slots, rule 6).",
        "cma_ready": "1 while the process takes webhooks and work (not stopping, and the template of at least one environment is ready), else 0; follows the template checks by itself (rule 47).",
        "cma_environment_ready": "1 while an environment claims work: its template is ready and its last poll was not refused (401, 403, 404); else 0. Labelled by environment when the process serves several.",
        "cma_janitor_sweeps_total": "Janitor sweeps by outcome; failed means the sandbox list failed and nothing was looked at (rule 44).",
        "cma_janitor_pauses_total": "Janitor pauses of sandboxes whose runner was not running, by trigger (idle sweep, max_idle after an idle webhook, or quota: room made for launches that met too_many_sandboxes) and outcome (rules 43 and 44).",
        "cma_upstream_requests_total": "Calls to Anthropic and Superserve by upstream, method, route pattern (ids replaced) and status class or transport_error.",
        "cma_upstream_request_duration_seconds": "Duration of calls to Anthropic and Superserve by upstream, method and route pattern (bucket waits excluded).",
        "cma_work_force_stops_total": "Acked work items force-stopped, by reason class and outcome (rules 7, 8, 26 and 37).",
        "cma_work_queue_errors_total": "Failed work-queue calls (poll, ack, stop) by rule 33's class: transient ones are retried, fatal poll errors stop the loop.",
        "cma_superserve_bucket_wait_seconds_total": "Seconds callers spent waiting for a token of the shared Superserve bucket (rule 35).",
        "cma_upstream_up": "0 while an upstream (anthropic, superserve) has answered no call for 5 s or more, only failures (transport errors, 5xx); else 1. Not part of readiness (rule 47).",
        "cma_work_pending_stops": "Force-stops that failed and are being retried with backoff until they succeed or the item is seen stopped (rule 37).",
        "cma_work_queue_configuration_error": "1 while the last poll got a fatal answer (401, 403, 404: key or environment); poll mode keeps retrying slowly, so a fixed key recovers without a restart.",
        "cma_reconciler_passes_total": "Reconciler passes over this environment's work list, by outcome (failed: the list call failed).",
        "cma_reconciler_items_total": "Acked items without a heartbeat that the reconciler looked at, by verdict (orphan_stopped, runner_running, busy, unknown).",
        "cma_superserve_bucket_waiters": "Callers waiting for a token of the shared Superserve bucket now (rule 35).",
        "cma_superserve_rate_per_second": "Rate of the shared Superserve bucket now: the configured rate until Superserve reports its limit, then CMA_SUPERSERVE_RATE_SHARE of it, halved by a 429 that shows the team's budget ran out, and growing back.",
        "cma_superserve_rate_limited_total": "Superserve 429 rate_limited answers; each paused the shared bucket for Retry-After, rate=halved when it also halved the bucket's rate (rule 35).",
        "cma_superserve_reported_limit_per_second": "The team rate limit Superserve last reported in RateLimit-Limit (0 until it does).",
        "cma_superserve_quota_waiting": "Launches waiting for room under Superserve's active-sandbox quota (429 too_many_sandboxes) now.",
        "cma_warm_pool_ready": "Claimable warm-pool sandboxes of an environment, as this replica last saw them.",
        "cma_warm_pool_claims_total": "Warm-pool claims by environment and outcome (won, lost to another holder, empty pool).",
        "cma_warm_pool_refills_total": "Warm-pool sandboxes created and staged (created) or attempts that failed, by environment.",
        "cma_warm_pool_recycles_total": "Warm-pool sandboxes deleted to be replaced, by environment and reason (age, failed, staging).",
    ]

    /// swift-prometheus' `MetricsFactory` registers every metric without help text, so
    /// this one makes counters, meters and timers on the registry with the text above
    /// and leaves the rest to it. One name always gets the same text, which the
    /// registry requires.
    struct DocumentedFactory: MetricsFactory {
        let prometheus: PrometheusMetricsFactory

        private func descriptor(_ label: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: label, unitName: "", helpText: OrchestratorMetrics.help[label] ?? "")
        }

        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
            prometheus.registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
            prometheus.registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
            prometheus.registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
        }

        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }

        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
            prometheus.registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions,
                                                      buckets: prometheus.defaultDurationHistogramBuckets)
        }

        func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
        func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
            prometheus.destroyFloatingPointCounter(handler)
        }
        func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
        func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
        func destroyTimer(_ handler: any TimerHandler) { prometheus.destroyTimer(handler) }
    }
}
