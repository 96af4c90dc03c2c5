import APIClient
import Foundation
import SandboxLifecycle
import TestSupport
import WorkQueue
import XCTest
@testable import Orchestrator

/// The launch context `LaunchHandler` gives the launcher: the work-queue side of
/// one launch, where the two modules meet.
final class LaunchHandlerTests: XCTestCase {
    static let stopPath = "/v1/environments/env_TEST/work/w1/stop"

    static func http(_ status: Int, shouldRetry: Bool? = nil, retryAfter: Duration? = nil) -> WorkQueueError {
        .http(status: status, errorType: nil, requestID: nil, retryAfter: retryAfter, shouldRetry: shouldRetry)
    }

    static func context(_ transport: ScriptedTransport, logs: LogRecorder, metrics: OrchestratorMetrics = OrchestratorMetrics(),
                        activity: ActivityLog = ActivityLog()) throws -> LaunchHandler.Context {
        let client = WorkClient(configuration: AnthropicAPIConfiguration(
            baseURL: URL(string: "http://127.0.0.1:9/")!, environmentID: "env_TEST", environmentKey: "sk-ant-oat01-TEST",
            workerID: "testhost-0123456789ab"), transport: transport, sleeper: ManualSleeper(), random: { 0 })
        // The launcher is never asked to launch here; it only completes the handler.
        let superserve = SuperserveClient(configuration: SuperserveConfiguration(apiKey: "ss-key-TEST"),
                                          transport: transport, logger: logs.logger())
        let launcher = SandboxLauncher(client: superserve, bundle: try RunnerBundle(entries: []),
                                       configuration: LauncherConfiguration(), locks: SessionLocks(),
                                       activity: SandboxActivity(), logger: logs.logger())
        let handler = LaunchHandler(launcher: launcher, client: client, metrics: metrics, activity: activity,
                                    logger: logs.logger())
        let drainer = Drainer(client: client, handler: handler, logger: logs.logger())
        return LaunchHandler.Context(handler: handler, drainer: drainer)
    }

    /// Rule 33, session GET row, through the one Anthropic classifier: 404 is "no
    /// such session" whatever the header says; `x-should-retry` decides otherwise.
    func testSessionReadFailuresReachThePlannerAsTheAnthropicClassifierRanksThem() {
        let s = Self.self
        let hint = Duration.seconds(2)
        let cases: [(WorkQueueError, SessionMetadataError)] = [
            (s.http(404), .notFound),
            (s.http(404, shouldRetry: true), .notFound),
            (s.http(503, retryAfter: hint), .transient("anthropic HTTP 503", retryAfter: hint)),
            (s.http(429), .transient("anthropic HTTP 429", retryAfter: nil)),
            (s.http(408), .transient("anthropic HTTP 408", retryAfter: nil)),
            (s.http(401), .fatal("anthropic HTTP 401")),
            (s.http(403), .fatal("anthropic HTTP 403")),
            (s.http(401, shouldRetry: true), .transient("anthropic HTTP 401", retryAfter: nil)),
            (s.http(500, shouldRetry: false), .fatal("anthropic HTTP 500")),
            (.transport(.timedOut), .transient("\(WorkQueueError.transport(.timedOut))", retryAfter: nil)),
        ]
        for (error, expected) in cases {
            XCTAssertEqual(LaunchHandler.Context.sessionMetadataError(error), expected, "\(error)")
        }
    }

    /// Rules 30, 37 and 7: a runner found dead after the hand-off ends the item through
    /// the drainer's force-stop, where a 409 means already stopped, which is done.
    func testALateFailureIsForceStoppedThroughTheDrainerAndA409IsDone() async throws {
        let transport = ScriptedTransport()
        transport.script("POST", Self.stopPath, [.json(409, #"{"type":"error","error":{"type":"invalid_request_error","message":"x"}}"#)])
        let logs = LogRecorder()
        let metrics = OrchestratorMetrics()
        let activity = ActivityLog()
        let context = try Self.context(transport, logs: logs, metrics: metrics, activity: activity)

        await context.lateFailure(workID: "w1", sessionID: "sesn_1",
                                  LaunchFailure(reason: "runner dead", sandboxID: "sb-1", logTail: "boom"))

        XCTAssertEqual(transport.requests("POST", Self.stopPath).map { $0.body.map { String(decoding: $0, as: UTF8.self) } },
                       [#"{"force":true}"#])
        XCTAssertEqual(transport.requests.count, 1, "one stop, not retried")
        let lines = logs.all
        XCTAssertTrue(lines.contains { $0.contains("launch.late_failure") && $0.contains("sandbox.id=sb-1") }, logs.text)
        XCTAssertTrue(lines.contains { $0.contains("queue.item.force_stop") && $0.contains("session.id=sesn_1")
            && $0.contains("stop.reason=runner not alive after launch: runner dead") }, logs.text)
        XCTAssertTrue(lines.contains { $0.contains("queue.item.stopped") && $0.contains("stop.outcome=already_stopped") }, logs.text)
        XCTAssertFalse(logs.text.contains("stop_failed"), logs.text)
        XCTAssertFalse(logs.text.contains("sk-ant-oat01-TEST"))
        XCTAssertEqual(metrics.tally("cma_sandbox_late_failures_total", []), 1)
        XCTAssertEqual(activity.recent.first?.event, "failed")
        XCTAssertEqual(activity.recent.first?.sandboxID, "sb-1")
    }
}
