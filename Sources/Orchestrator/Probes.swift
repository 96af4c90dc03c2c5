import Foundation
import HTTPServer
import JSON

/// `/healthz`, `/readyz`, `/metrics` and `/status`. All run inline (`.sync`): they
/// read in-memory state only and never call upstream, so they keep answering while
/// Anthropic or Superserve is unreachable. They hold the parts they read, never the
/// app that owns the server (which would make a cycle through the router).
struct Probes: Sendable {
    let configuration: Configuration
    let pipeline: WorkPipeline
    let stop: StopFlag
    let metrics: OrchestratorMetrics
    let activity: ActivityLog
    let startedAt = ContinuousClock.now

    func add(to router: inout Router) {
        let probes = self
        let metrics = self.metrics
        // Process alive; no dependencies.
        let healthz = Handler.sync { _ in Response.text("ok\n") }
        router.add(.GET, "/healthz", healthz)
        router.add(.HEAD, "/healthz", healthz)

        // Accepting work: configuration valid, template ready (rule 47), queue
        // reachable, not shutting down (503 while draining on shutdown).
        let readyz = Handler.sync { _ in
            let reasons = probes.pipeline.notReadyReasons(stop: probes.stop)
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

extension Probes {
    /// The status page's data. Ids, counts and fixed reasons only: no key, token or
    /// secret is reachable from here (style habit 6).
    func statusJSON() -> String {
        let reasons = pipeline.notReadyReasons(stop: stop)
        let health = pipeline.drainer.health
        func string(_ s: String?) -> String { s.map(JSONEscape.quoted) ?? "null" }
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        let uptime = (ContinuousClock.now - startedAt).secondsDouble
        let template = pipeline.templateCheck.status
        let launched = metrics.tally("cma_sandbox_launches_total", [("outcome", "launched")])
        let failed = metrics.tally("cma_sandbox_launches_total", [("outcome", "failed")])

        var out = "{"
        out += #""service":"cma-orchestrator","version":"# + JSONEscape.quoted(OrchestratorApp.version)
        out += #","mode":"# + JSONEscape.quoted(configuration.mode.rawValue)
        out += #","emulated":"# + (configuration.emulated ? "true" : "false")
        out += #","uptime_seconds":"# + String((uptime * 10).rounded() / 10)
        out += #","ready":"# + (reasons.isEmpty ? "true" : "false")
        out += #","not_ready_reasons":["# + reasons.map(JSONEscape.quoted).joined(separator: ",") + "]"
        out += #","environment_id":"# + JSONEscape.quoted(configuration.environmentID)
        out += #","template":{"name":"# + JSONEscape.quoted(configuration.launcher.template)
        out += #","status":"# + JSONEscape.quoted(template.isReady ? "ready" : (template.reason ?? "checking")) + "}"
        out += #","drain":{"draining":"# + ((pipeline.scheduler?.isDraining ?? false) ? "true" : "false")
        out += #","drains_started":"# + String(pipeline.scheduler?.drainsStarted ?? 0)
        out += #","triggers":"# + String(pipeline.scheduler?.triggersReceived ?? 0)
        out += #","polling":"# + (health.polling ? "true" : "false")
        out += #","last_success":"# + date(health.lastSuccess)
        out += #","last_error":"# + string(health.lastError) + "}"
        out += #","launches":{"launched":"# + String(launched) + #","failed":"# + String(failed)
        out += #","in_flight":"# + String(health.launchesInFlight) + "}"
        out += #","webhooks":{"queued":"# + String(metrics.webhooks(.queued)) + #","ignored":"# + String(metrics.webhooks(.ignored))
        out += #","duplicate":"# + String(metrics.webhooks(.duplicate)) + #","rejected":"# + String(metrics.webhooks(.rejected)) + "}"
        out += #","recent":["#
        out += activity.recent.map { entry in
            #"{"at":"# + date(entry.at) + #","event":"# + JSONEscape.quoted(entry.event)
                + #","session_id":"# + string(entry.sessionID) + #","work_id":"# + string(entry.workID)
                + #","sandbox_id":"# + string(entry.sandboxID) + #","detail":"# + string(entry.detail) + "}"
        }.joined(separator: ",")
        out += "]}"
        return out
    }
}
