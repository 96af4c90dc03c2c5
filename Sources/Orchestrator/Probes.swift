import Foundation
import HTTPServer
import JSON

/// `/healthz`, `/readyz`, `/metrics` and `/status` (its body: `Probes+Status.swift`). All run inline (`.sync`): they
/// read in-memory state only and never call upstream, so they keep answering while
/// Anthropic or Superserve is unreachable. They hold the parts they read, never the
/// app that owns the server (which would make a cycle through the router).
struct Probes: Sendable {
    let configuration: Configuration
    let pipelines: WorkPipelines
    /// The first environment's pipeline: the single-environment fields of `/status`.
    var pipeline: WorkPipeline { pipelines.primary }
    let stop: StopFlag
    let metrics: OrchestratorMetrics
    let activity: ActivityLog
    let board: SessionBoard
    let series: StatusSeries
    let startedAt = ContinuousClock.now

    /// The probes' routes: left out of the access log unless `CMA_ACCESS_LOG_PROBES`.
    static let routePatterns = ["/healthz", "/readyz", "/metrics"]

    func add(to router: inout Router) {
        let probes = self
        let metrics = self.metrics
        // Process alive; no dependencies.
        let healthz = Handler.sync { _ in Response.text("ok\n") }
        router.add(.GET, "/healthz", healthz)
        router.add(.HEAD, "/healthz", healthz)

        // Takes webhooks and work: not shutting down, and the template of at least one
        // environment ready (rule 47). Upstream trouble never flips it (every replica would
        // leave the Service at once), nor does one environment's refused key or missing
        // template while another is ready; those are on /status, in metrics and the log.
        let readyz = Handler.sync { _ in
            let reasons = probes.pipelines.notReadyReasons(stop: probes.stop)
            metrics.ready.set(reasons.isEmpty ? 1 : 0)
            if reasons.isEmpty { return Response.json(#"{"ready":true}"#) }
            let list = reasons.map(JSONEscape.quoted).joined(separator: ",")
            return Response.json(#"{"ready":false,"reasons":["# + list + "]}", status: 503)
        }
        router.add(.GET, "/readyz", readyz)
        router.add(.HEAD, "/readyz", readyz)

        router.add(.GET, "/metrics", .sync { _ in
            var response = Response.bytes(metrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
            return response
        })

        router.add(.GET, "/status", .sync { _ in
            var response = Response.json(probes.statusJSON())
            response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
            return response
        })
    }
}
