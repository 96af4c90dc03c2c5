import Foundation
import SandboxLifecycle

/// The work pipelines of every environment the process serves, in configuration order
/// (one without a configuration file). Each has its own drain, poll loop, template
/// check, janitor scope, reconciler and launch slots; they share the Superserve client
/// (rule 35), the HTTP server, the metrics registry, the status board and the stop flag.
///
/// One environment's trouble stays its own: a refused key (401/403/404) or a missing
/// template shows on `/status`, in `cma_environment_ready` and in the log under its
/// `environment.id`, and is retried slowly by its own loops, while the others go on.
struct WorkPipelines: Sendable {
    let all: [WorkPipeline]

    init(_ all: [WorkPipeline]) {
        precondition(!all.isEmpty, "a process serves at least one environment")
        self.all = all
    }

    /// The first configured environment: the one the single-environment fields of
    /// `/status` (`environment_id`, `template`, `drain`, …) describe.
    var primary: WorkPipeline { all[0] }

    var count: Int { all.count }

    /// Why the process is not ready to take webhooks and work (`/readyz`); empty when it is.
    ///
    /// Ready while not stopping and at least one environment's template check passed
    /// (rule 47 per environment): the process then takes webhooks and drains that
    /// environment, and an environment whose template is missing must not take the
    /// others out of the Service. With one environment this is exactly its own check.
    /// Reasons name their environment when there are several.
    func notReadyReasons(stop: StopFlag) -> [String] {
        if all.count == 1 { return primary.notReadyReasons(stop: stop) }
        var reasons: [String] = []
        if stop.isSet { reasons.append("shutting down") }
        if all.contains(where: { $0.templateCheck.status.isReady }) { return reasons }
        for pipeline in all {
            if let reason = pipeline.templateCheck.status.reason { reasons.append("\(pipeline.environmentID): \(reason)") }
        }
        return reasons
    }

    /// Runs `body` for every pipeline at once and returns when all have returned.
    func concurrently(_ body: @escaping @Sendable (WorkPipeline) async -> Void) async {
        if all.count == 1 { return await body(primary) }
        await withDiscardingTaskGroup { group in
            for pipeline in all { group.addTask { await body(pipeline) } }
        }
    }

    /// Per environment: `ready` (template ready, polls accepted), `checking` (template
    /// check not done), `failing` (template missing or not ready, or polls refused with
    /// 401/403/404: a revoked key, a deleted environment).
    static func state(of pipeline: WorkPipeline) -> (state: String, problem: String?) {
        if let refused = pipeline.drainer.health.configurationError { return ("failing", refused) }
        switch pipeline.templateCheck.status {
        case .ready: return ("ready", nil)
        case .checking: return ("checking", nil)
        case .notReady(let reason): return ("failing", reason)
        }
    }
}
