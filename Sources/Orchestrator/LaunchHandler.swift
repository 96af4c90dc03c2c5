import Foundation
import Logging
import SandboxLifecycle
import WorkQueue

/// The drain's `WorkHandler`: turns an acked session item into a `LaunchRequest`
/// for the shared sandbox lifecycle, and records the outcome in metrics and the
/// activity log. Both modes (webhook drains and the poll loop) use it (rule 2).
///
/// It is also where the work queue and the sandbox lifecycle meet: its `Context`
/// is the launch's `LaunchContext`, answering the session read through the work
/// client and ending a late failure through the drainer's force-stop.
public struct LaunchHandler: WorkHandler {
    let launcher: SandboxLauncher
    let client: WorkClient
    let metrics: OrchestratorMetrics
    /// This environment's families (`environment` label when the process serves several).
    let scoped: EnvironmentMetrics
    let activity: ActivityLog
    /// The status page's session rows and per-minute plots.
    let board: SessionBoard
    let series: StatusSeries
    let logger: Logger

    /// `environmentID`: whose metric families it counts in (default: the only one).
    public init(launcher: SandboxLauncher, client: WorkClient, metrics: OrchestratorMetrics, activity: ActivityLog,
                board: SessionBoard = SessionBoard(), series: StatusSeries = StatusSeries(), logger: Logger,
                environmentID: String? = nil) {
        self.launcher = launcher
        self.client = client
        self.metrics = metrics
        self.scoped = environmentID.map(metrics.scope) ?? metrics.defaultScope
        self.activity = activity
        self.board = board
        self.series = series
        self.logger = logger
    }

    public func handle(_ item: WorkItem, from drainer: Drainer) async -> WorkOutcome {
        guard let sessionID = item.sessionID, !sessionID.isEmpty else {
            // The drainer only hands over session items (rule 8); a session item without
            // an id cannot be launched.
            return .failed(reason: "session work item without a session id")
        }
        let request = LaunchRequest(
            workID: item.id, sessionID: sessionID, environmentID: item.environmentID,
            workMetadata: item.metadata, dataMetadata: item.dataMetadata,
            workSecret: item.secret, sessionsTokenPresent: item.sessionsToken != nil)
        let context = Context(handler: self, drainer: drainer)
        board.launching(sessionID: sessionID, environmentID: item.environmentID, workID: item.id)

        let inFlight = scoped.launchesInFlight
        inFlight.increment()
        defer { inFlight.decrement() }
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = await launcher.launch(request, context: context)
        let elapsed = clock.now - start
        switch outcome {
        case .launched(let sandboxID, let pid, let alreadyRunning):
            scoped.launch("launched", duration: elapsed)
            series.launch("launched", duration: elapsed)
            board.launched(sessionID: sessionID, sandboxID: sandboxID, duration: elapsed)
            activity.record("launched", sessionID: sessionID, workID: item.id, sandboxID: sandboxID,
                            detail: alreadyRunning ? "runner already running (pid \(pid))"
                                : "runner pid \(pid) in \(Int(elapsed.secondsDouble * 1000)) ms",
                            environmentID: item.environmentID)
            return .handedOff
        case .failed(let failure):
            scoped.launch("failed", duration: elapsed)
            series.launch("failed", duration: elapsed)
            board.failed(sessionID: sessionID, sandboxID: failure.sandboxID, reason: failure.reason, duration: elapsed)
            activity.record("failed", sessionID: sessionID, workID: item.id, sandboxID: failure.sandboxID,
                            detail: failure.reason, environmentID: item.environmentID)
            return .failed(reason: failure.description)
        }
    }

    /// The work-queue side of one launch (`LaunchContext`): this handler's client,
    /// metrics and logs, and the drainer that claimed the item.
    struct Context: LaunchContext {
        let handler: LaunchHandler
        let drainer: Drainer

        /// Rule 11's third place. Failures are classified by the Anthropic classifier's
        /// session row (rule 33), `x-should-retry` included, and handed to the planner
        /// in its terms.
        func sessionMetadata(sessionID: String) async throws(SessionMetadataError) -> [String: String] {
            do {
                return try await handler.client.session(id: sessionID).metadata
            } catch {
                throw Self.sessionMetadataError(error)
            }
        }

        static func sessionMetadataError(_ error: WorkQueueError) -> SessionMetadataError {
            switch ErrorClassifier.disposition(of: error, for: .session) {
            case .notFound: .notFound
            case .transient: .transient("\(error)", retryAfter: error.retryAfter)
            case .fatal, .alreadyStopped: .fatal("\(error)")
            }
        }

        /// Rules 30 and 37: the runner died after the hand-off; end the item visibly,
        /// through the drainer's one force-stop (409 = already stopped = done).
        func lateFailure(workID: String, sessionID: String, _ failure: LaunchFailure) async {
            handler.scoped.lateFailure()
            let reason = "runner not alive after launch: \(failure.reason)"
            handler.activity.record("failed", sessionID: sessionID, workID: workID, sandboxID: failure.sandboxID,
                                    detail: reason, environmentID: handler.scoped.environmentID.isEmpty ? nil : handler.scoped.environmentID)
            handler.board.failed(sessionID: sessionID, sandboxID: failure.sandboxID, reason: reason)
            handler.logger.error("launch.late_failure", metadata: [
                "work.id": "\(workID)", "session.id": "\(sessionID)", "sandbox.id": "\(failure.sandboxID ?? "-")",
                "error.message": "\(failure.reason)",
            ])
            await drainer.forceStop(workID: workID, sessionID: sessionID, .runnerDied, reason: reason)
        }
    }

    /// The reconciler's question (is a runner holding this session's item?) answered by
    /// the janitor's probe of the session's sandbox, where the work queue and the
    /// sandbox lifecycle meet (as `Context` does for launches).
    struct JanitorRunnerCheck: RunnerCheck {
        let janitor: Janitor

        func presence(sessionID: String) async -> RunnerPresence {
            switch await janitor.sessionRunner(sessionID: sessionID) {
            case .running(let workID): .running(workID: workID)
            case .notRunning(let why): .notRunning(why: why)
            case .busy: .busy
            case .unknown(let problem): .unknown(problem)
            }
        }
    }
}
