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
        "cma_http_rejected_requests_total": "Requests refused before routing (parse errors, limits, deadlines, connection cap), by reason.",
        "cma_webhooks_total": "Webhook deliveries by outcome; rejected means the signature check failed (rule 38).",
        "cma_drains_total": "Drains of the work queue started, by webhook or timer (rules 40 and 42).",
        "cma_sandbox_launches_total": "Runner launches by outcome (launched or failed; a failed launch force-stops its item, rule 37).",
        "cma_sandbox_late_failures_total": "Runners found dead after the hand-off; each one force-stops its item (rules 30 and 37).",
        "cma_launch_duration_seconds": "Time from a claimed work item to its runner's hand-off or failure.",
        "cma_launches_in_flight": "Launches in progress (at most the launch slots, rule 6).",
        "cma_ready": "1 when the last readiness check passed (template ready, queue reachable, not stopping), else 0 (rule 47).",
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
