import CoreMetrics
import HTTPServer
import HTTPWire
import Prometheus
import SandboxLifecycle
import Synchronization
import WorkQueue

/// The process's metrics through swift-metrics, exported by swift-prometheus from a
/// registry of this instance's own (tests run several instances in one process, so
/// nothing is bootstrapped globally). Labels are bounded: route patterns, methods,
/// status classes, reasons and outcomes, never ids or raw paths (style habit 10).
public final class OrchestratorMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: DocumentedFactory

    let openConnections: CoreMetrics.Meter
    let bufferedBytes: CoreMetrics.Meter
    let ready: CoreMetrics.Meter
    let launchDuration: CoreMetrics.Timer
    let bucketWaitSeconds: CoreMetrics.FloatingPointCounter
    let bucketWaiters: CoreMetrics.Meter
    /// The team budget's gauges, read at each exposition (`trackSuperserve`).
    let superserveRate: CoreMetrics.Meter
    let superserveReportedLimit: CoreMetrics.Meter
    let quotaWaiting: CoreMetrics.Meter
    let superserveSource = Mutex<(@Sendable () -> (rate: Double, limit: Double?, waiting: Int))?>(nil)
    /// Each upstream's answers for `/status`, the log and `cma_upstream_up` (never `/readyz`).
    let upstreamHealth: UpstreamHealth
    /// What `cma_ready` is computed from, once the pipeline exists (`trackReadiness`).
    let readiness = Mutex<(@Sendable () -> Bool)?>(nil)
    /// The environments this process serves; with several, the per-environment
    /// families (`EnvironmentMetrics`) carry an `environment` label.
    public let environmentIDs: [String]
    let labelsEnvironments: Bool
    /// What each environment's `cma_work_queue_configuration_error` and
    /// `cma_environment_ready` follow, by environment id (`EnvironmentMetrics.track…`).
    struct EnvironmentSources {
        var health: (@Sendable () -> DrainHealth)?
        var template: (@Sendable () -> TemplateStatus)?
    }
    let environmentSources = Mutex<[String: EnvironmentSources]>([:])
    /// A counter and the same count as a plain number, for `/status`.
    final class Tallied: Sendable {
        let counter: CoreMetrics.Counter
        let total = Atomic<Int>(0)

        init(_ counter: CoreMetrics.Counter) { self.counter = counter }

        func add(_ amount: Int) {
            counter.increment(by: amount)
            total.add(amount, ordering: .relaxed)
        }
    }
    private let counters = Mutex<[String: Tallied]>([:])
    /// `cma_webhooks_total` by outcome, made up front: the webhook route counts every
    /// delivery, and a lookup by a built key string costs more than the rest of it.
    /// Indexed by `WebhookOutcome.index`: no hashing of the label per delivery.
    private let webhookCounters: [Tallied]
    /// Per-request metrics, keyed without building strings (the hot path of every request).
    private struct RequestKey: Hashable {
        var route: String
        var method: HTTPMethod
        var statusClass: Int
    }
    private struct RequestMetrics {
        var counter: CoreMetrics.Counter
        var timer: CoreMetrics.Timer
    }
    private let requests = Mutex<[RequestKey: RequestMetrics]>([:])
    private let upstreamTimers = Mutex<[UpstreamRoute: CoreMetrics.Timer]>([:])
    /// `cma_warm_pool_ready` per environment (`OrchestratorMetrics+WarmPool.swift`).
    let warmPoolGauges = Mutex<[String: CoreMetrics.Meter]>([:])

    /// `environmentIDs`: the environments served (their per-environment families are
    /// made at 0 now); more than one adds the `environment` label to those families.
    public init(environmentIDs: [String] = []) {
        self.environmentIDs = environmentIDs
        labelsEnvironments = environmentIDs.count > 1
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10),
            .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
        ]
        let factory = DocumentedFactory(prometheus: prometheus)
        self.factory = factory
        openConnections = CoreMetrics.Meter(label: "cma_http_open_connections", factory: factory)
        bufferedBytes = CoreMetrics.Meter(label: "cma_http_buffered_bytes", factory: factory)
        ready = CoreMetrics.Meter(label: "cma_ready", factory: factory)
        launchDuration = CoreMetrics.Timer(label: "cma_launch_duration_seconds", factory: factory)
        bucketWaitSeconds = CoreMetrics.FloatingPointCounter(label: "cma_superserve_bucket_wait_seconds_total", factory: factory)
        bucketWaiters = CoreMetrics.Meter(label: "cma_superserve_bucket_waiters", factory: factory)
        superserveRate = CoreMetrics.Meter(label: "cma_superserve_rate_per_second", factory: factory)
        superserveReportedLimit = CoreMetrics.Meter(label: "cma_superserve_reported_limit_per_second", factory: factory)
        quotaWaiting = CoreMetrics.Meter(label: "cma_superserve_quota_waiting", factory: factory)
        upstreamHealth = UpstreamHealth { upstream, up in
            CoreMetrics.Meter(label: "cma_upstream_up", dimensions: [("upstream", upstream.rawValue)], factory: factory)
                .set(up ? 1 : 0)
        }
        webhookCounters = WebhookOutcome.allCases.map { outcome in
            Tallied(CoreMetrics.Counter(label: "cma_webhooks_total", dimensions: [("outcome", outcome.rawValue)], factory: factory))
        }
        createPipelineSeries()
        // Over the buffer budget: a steady 0 until the first 503, so an alert sees the first.
        count("cma_http_rejected_requests_total", [("reason", "budget")], by: 0)
        for id in labelsEnvironments ? environmentIDs : [environmentIDs.first ?? ""] {
            EnvironmentMetrics(metrics: self, environmentID: id).createSeries()
        }
    }

    /// The families of one environment (labelled when the process serves several).
    public func scope(_ environmentID: String) -> EnvironmentMetrics {
        EnvironmentMetrics(metrics: self, environmentID: environmentID)
    }

    /// The only environment's families (or the first one's): what the observer
    /// conformances of `OrchestratorMetrics` itself report to.
    var defaultScope: EnvironmentMetrics { scope(environmentIDs.first ?? "") }

    /// The duration histogram of one upstream route, made once.
    func upstreamTimer(_ route: UpstreamRoute) -> CoreMetrics.Timer {
        upstreamTimers.withLock { cache in
            if let timer = cache[route] { return timer }
            let timer = CoreMetrics.Timer(label: "cma_upstream_request_duration_seconds",
                                          dimensions: [("upstream", route.upstream.rawValue), ("method", route.method),
                                                       ("endpoint", route.endpoint)],
                                          factory: factory)
            cache[route] = timer
            return timer
        }
    }

    /// A counter per label set, made once and cached (the factory lookup is not free).
    func count(_ name: String, _ labels: [(String, String)], by amount: Int = 1) {
        let key = Self.key(name, labels)
        let tallied = counters.withLock { cache in
            if let c = cache[key] { return c }
            let c = Tallied(CoreMetrics.Counter(label: name, dimensions: labels, factory: factory))
            cache[key] = c
            return c
        }
        tallied.add(amount)
    }

    /// What `count(name, labels)` has added up to in this process.
    func tally(_ name: String, _ labels: [(String, String)]) -> Int {
        let key = Self.key(name, labels)
        return counters.withLock { $0[key] }?.total.load(ordering: .relaxed) ?? 0
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
    }

    func webhook(_ outcome: WebhookOutcome) { webhookCounters[outcome.index].add(1) }

    func webhooks(_ outcome: WebhookOutcome) -> Int { webhookCounters[outcome.index].total.load(ordering: .relaxed) }

    func launch(_ outcome: String, duration: Duration) { defaultScope.launch(outcome, duration: duration) }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        if let source = superserveSource.withLock({ $0 }) {
            let now = source()
            superserveRate.set(now.rate)
            superserveReportedLimit.set(now.limit ?? 0)
            quotaWaiting.set(Double(now.waiting))
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8192)
        registry.emit(into: &buffer)
        return buffer
    }
}

extension OrchestratorMetrics: HTTPServerObserver {
    public func connectionOpened() { openConnections.increment() }
    public func connectionClosed() { openConnections.decrement() }
    public func bufferedBytesChanged(_ bytes: Int) { bufferedBytes.set(bytes) }

    public func requestRejected(reason: String) {
        count("cma_http_rejected_requests_total", [("reason", reason)])
    }

    public func requestCompleted(method: HTTPMethod, routePattern: String, status: Int, bytesSent: Int, duration: Duration) {
        let key = RequestKey(route: routePattern, method: method, statusClass: status / 100)
        let entry = requests.withLock { cache in
            if let entry = cache[key] { return entry }
            let route = routePattern.isEmpty ? "unmatched" : routePattern
            // `.other` methods share one label value so that labels stay bounded.
            let methodLabel: String = if case .other = method { "OTHER" } else { method.description }
            let entry = RequestMetrics(
                counter: CoreMetrics.Counter(label: "cma_http_requests_total",
                                             dimensions: [("route", route), ("method", methodLabel), ("status", "\(status / 100)xx")],
                                             factory: factory),
                timer: CoreMetrics.Timer(label: "cma_http_request_duration_seconds", dimensions: [("route", route)],
                                         factory: factory))
            // Unknown methods would each get a cache slot; fold them into one.
            if case .other = method { return entry }
            cache[key] = entry
            return entry
        }
        entry.counter.increment()
        entry.timer.recordNanoseconds(duration.wholeNanoseconds)
    }
}

extension Duration {
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}

/// The answers of the webhook route, as `cma_webhooks_total`'s `outcome` label.
enum WebhookOutcome: String, CaseIterable, Sendable {
    case queued, ignored, duplicate, rejected, unavailable, malformed
    case pauseScheduled = "pause_scheduled"

    /// Position in `allCases`.
    var index: Int {
        switch self {
        case .queued: 0
        case .ignored: 1
        case .duplicate: 2
        case .rejected: 3
        case .unavailable: 4
        case .malformed: 5
        case .pauseScheduled: 6
        }
    }
}
