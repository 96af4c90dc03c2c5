import Foundation
import Logging
import SandboxLifecycle
import WorkQueue

/// The drain's `WorkHandler`: turns an acked session item into a `LaunchRequest`
/// for the shared sandbox lifecycle, and records the outcome in metrics and the
/// activity log. Both modes (webhook drains and the poll loop) use it (rule 2).
public struct LaunchHandler: WorkHandler {
    let launcher: SandboxLauncher
    let client: WorkClient
    let metrics: OrchestratorMetrics
    let activity: ActivityLog
    let logger: Logger

    public init(launcher: SandboxLauncher, client: WorkClient, metrics: OrchestratorMetrics, activity: ActivityLog,
                logger: Logger) {
        self.launcher = launcher
        self.client = client
        self.metrics = metrics
        self.activity = activity
        self.logger = logger
    }

    public func handle(_ item: WorkItem) async -> WorkOutcome {
        guard let sessionID = item.sessionID, !sessionID.isEmpty else {
            // The drainer only hands over session items (rule 8); a session item without
            // an id cannot be launched.
            return .failed(reason: "session work item without a session id")
        }
        let client = self.client
        let metrics = self.metrics
        let activity = self.activity
        let logger = self.logger
        let request = LaunchRequest(
            workID: item.id, sessionID: sessionID, environmentID: item.environmentID,
            workMetadata: item.metadata, dataMetadata: item.dataMetadata,
            workSecret: item.secret, sessionsTokenPresent: item.sessionsToken != nil,
            sessionMetadata: { try await Self.sessionMetadata(client: client, sessionID: sessionID) },
            reportLateFailure: { failure in
                // Rules 30 and 37: the runner died after the hand-off; end the item visibly.
                metrics.count("cma_sandbox_late_failures_total", [])
                activity.record("failed", sessionID: sessionID, workID: item.id, sandboxID: failure.sandboxID,
                                detail: "runner not alive after launch: \(failure.reason)")
                logger.error("launch.late_failure", metadata: [
                    "work.id": "\(item.id)", "session.id": "\(sessionID)", "reason": "\(failure.reason)",
                ])
                do {
                    _ = try await client.stop(workID: item.id, force: true)
                } catch {
                    logger.error("work.stop_failed", metadata: ["work.id": "\(item.id)", "error": "\(error)"])
                }
            })

        metrics.launchesInFlight.increment()
        defer { metrics.launchesInFlight.decrement() }
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = await launcher.launch(request)
        let elapsed = clock.now - start
        switch outcome {
        case .launched(let sandboxID, let pid, let alreadyRunning):
            metrics.launch("launched", duration: elapsed)
            activity.record("launched", sessionID: sessionID, workID: item.id, sandboxID: sandboxID,
                            detail: alreadyRunning ? "runner already running (pid \(pid))"
                                : "runner pid \(pid) in \(Int(elapsed.secondsDouble * 1000)) ms")
            return .handedOff
        case .failed(let failure):
            metrics.launch("failed", duration: elapsed)
            activity.record("failed", sessionID: sessionID, workID: item.id, sandboxID: failure.sandboxID,
                            detail: failure.reason)
            return .failed(reason: failure.description)
        }
    }

    /// Rule 11's third place, with the failure classes `LaunchPlanner` expects
    /// (rule 33, session GET row).
    static func sessionMetadata(client: WorkClient, sessionID: String) async throws -> [String: String] {
        do {
            return try await client.session(id: sessionID).metadata
        } catch {
            switch error {
            case .http(let status, _, _, let retryAfter, _):
                if status == 404 { throw SessionMetadataError.notFound }
                if status == 408 || status == 409 || status == 429 || status >= 500 {
                    throw SessionMetadataError.transient("\(error)", retryAfter: retryAfter)
                }
                throw SessionMetadataError.fatal("\(error)")
            case .transport:
                throw SessionMetadataError.transient("\(error)", retryAfter: nil)
            case .invalidResponse:
                throw SessionMetadataError.fatal("\(error)")
            }
        }
    }
}
