import APIClient
import Foundation
import Logging
import Synchronization
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The launcher shell against an in-process scripted Superserve: which calls it
/// makes, in which order, and what they carry.
final class SandboxLauncherTests: XCTestCase {
    static let secret = "work-secret-TEST"
    static let envKey = "env-key-TEST"
    static let policy: [String: [String]] = ["allow_out": ["api.anthropic.com"], "deny_out": ["0.0.0.0/0"]]

    struct Harness {
        let transport: HandlerTransport
        let launcher: SandboxLauncher
        let logs: LogRecorder
    }

    func harness(sleeper: any Sleeper = RecordingSleeper(), configure: (inout LauncherConfiguration) -> Void = { _ in },
                 _ handler: @escaping HandlerTransport.Handler) throws -> Harness {
        let transport = HandlerTransport(handler)
        let logs = LogRecorder()
        let client = SuperserveClient(configuration: SuperserveConfiguration(
            controlPlaneURL: URL(string: "http://control.test")!, dataPlaneURL: URL(string: "http://data.test")!,
            apiKey: "ss-key-TEST"), transport: transport, logger: logs.logger(), sleeper: sleeper)
        var config = LauncherConfiguration()
        config.environmentKey = Self.envKey
        config.probeDelay = .milliseconds(1)
        configure(&config)
        let bundle = try RunnerBundle.load(from: RunnerBundleTests.runnerDirectory)
        let launcher = SandboxLauncher(client: client, bundle: bundle, configuration: config, locks: SessionLocks(),
                                       activity: SandboxActivity(), logger: logs.logger(), sleeper: sleeper)
        return Harness(transport: transport, launcher: launcher, logs: logs)
    }

    func request(workMetadata: [String: String] = [:]) -> LaunchRequest {
        LaunchRequest(workID: "work_1", sessionID: "sesn_1", environmentID: "env_1", workMetadata: workMetadata,
                      workSecret: Self.secret, sessionsTokenPresent: true)
    }

    /// Answers exec by command: launch → pid, probe → `probeState`, tail → a log line.
    static func execAnswer(_ request: OutboundRequest, probeState: String = "running") -> InboundResponse {
        let command = request.jsonBody["command"] as? String ?? ""
        if command.contains("probe.sh") {
            return json(200, ["stdout": "{\"state\":\"\(probeState)\",\"pid\":41,\"exit_code\":null}\n", "stderr": "", "exit_code": 0])
        }
        if command.contains("tail -c") {
            return json(200, ["stdout": "Traceback: runner boom\n", "stderr": "", "exit_code": 0])
        }
        return json(200, ["stdout": "{\"pid\":41}\n", "stderr": "", "exit_code": 0])
    }

    func testCommonCaseIsSessionReadLookupCreateExec() async throws {
        let context = RecordingLaunchContext()
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): return json(200, [])
            case ("POST", "/sandboxes"): return json(201, sandboxJSON("sb-new", network: Self.policy))
            case ("POST", "/exec"): return Self.execAnswer(request)
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-new", pid: 41, alreadyRunning: false))
        // Rule 24 as amended: the session GET + three Superserve calls before the hand-off.
        XCTAssertEqual(context.reads.withLock { $0 }, 1)
        XCTAssertEqual(Array(h.transport.calls.prefix(3)), ["GET /sandboxes", "POST /sandboxes", "POST /exec"])
        let lookup = h.transport.requests[0]
        XCTAssertEqual(lookup.queryItems, ["metadata.cma.session_id": "sesn_1"], "rule 13: no status filter")
        let create = h.transport.requests[1].jsonBody
        XCTAssertEqual(create["name"] as? String, "cma-sesn_1")
        XCTAssertEqual(create["from_template"] as? String, "cma-runner")
        XCTAssertEqual(create["network"] as? [String: [String]], Self.policy)
        let metadata = try XCTUnwrap(create["metadata"] as? [String: String])
        XCTAssertEqual(Set(metadata.keys), ["cma.session_id", "cma.work_id", "cma.environment_id", "cma.launched_at"])
        XCTAssertNil(create["env_vars"], "rule 28")
        let exec = h.transport.requests[2].jsonBody
        XCTAssertEqual(exec["command"] as? String, RunnerEnvironment.launchCommand(runnerDirectory: "/srv/cma"))
        XCTAssertNil(exec["working_dir"], "the command makes the runner directory and changes into it")
        XCTAssertEqual(exec["timeout_s"] as? Int, 45)
        let env = try XCTUnwrap(exec["env"] as? [String: String])
        XCTAssertEqual(env["CMA_RUNNER_VERSION"], h.launcher.bundle.version)
        XCTAssertEqual(env["CMA_RUNNER_BUNDLE"], h.launcher.bundle.base64, "the template is not known to hold it")
        XCTAssertEqual(env["ANTHROPIC_WORK_SECRET"], Self.secret)
        XCTAssertNil(env["ANTHROPIC_ENVIRONMENT_KEY"])
        // After the hand-off: only the probe (a created sandbox already has its metadata).
        await h.launcher.waitForBackgroundWork()
        XCTAssertEqual(Array(h.transport.calls.dropFirst(3)), ["POST /exec"])
        XCTAssertTrue(context.failures.withLock { $0.isEmpty })
        XCTAssertFalse(h.logs.text.contains(Self.secret))
        XCTAssertFalse(h.logs.text.contains("tok-1-TEST"))
        XCTAssertFalse(h.logs.text.contains("ss-key-TEST"))
    }

    func testCreateFailureIsFollowedByALookupNotASecondCreate() async throws {
        let lookups = Mutex(0)
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"):
                let n = lookups.withLock { $0 += 1; return $0 }
                return json(200, n == 1 ? [] : [sandboxJSON("sb-twin", token: nil, network: Self.policy)])
            case ("POST", "/sandboxes"): throw TransportError.timedOut
            case ("POST", "/sandboxes/sb-twin/activate"): return json(200, sandboxJSON("sb-twin", network: Self.policy))
            case ("POST", "/exec"): return Self.execAnswer(request)
            case ("GET", "/sandboxes/sb-twin"): return json(200, sandboxJSON("sb-twin", token: nil))
            case ("PATCH", "/sandboxes/sb-twin"): return InboundResponse(status: 204, headers: [:], body: Data())
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: RecordingLaunchContext())
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-twin", pid: 41, alreadyRunning: false))
        XCTAssertEqual(Array(h.transport.calls.prefix(5)), [
            "GET /sandboxes", "POST /sandboxes", "GET /sandboxes", "POST /sandboxes/sb-twin/activate", "POST /exec",
        ])
        XCTAssertEqual(h.transport.calls.filter { $0 == "POST /sandboxes" }.count, 1, "rule 16")
    }

    func testMissingPreparedSandboxFailsWithAReasonAndNeverCreates() async throws {
        let context = RecordingLaunchContext()
        let h = try harness { request in
            request.url.path == "/sandboxes/sb-gone" ? errorResponse(404, "not_found") : errorResponse(418, "unexpected")
        }
        let outcome = await h.launcher.launch(request(workMetadata: ["superserve.sandbox_id": "sb-gone"]), context: context)
        guard case .failed(let failure) = outcome else { return XCTFail("expected failure, got \(outcome)") }
        XCTAssertEqual(failure.sandboxID, "sb-gone")
        XCTAssertTrue(failure.reason.contains("prepared sandbox sb-gone"), failure.reason)
        XCTAssertEqual(h.transport.calls, ["GET /sandboxes/sb-gone"], "rule 12: the tag check's read finds nothing")
        XCTAssertEqual(context.reads.withLock { $0 }, 0, "rule 11: the work metadata had the id")
    }

    /// Rule 18/23/30: a found sandbox with an old policy is PATCHed before the
    /// runner starts; after the hand-off its metadata is merged and the probe runs;
    /// a dead runner is reported with the log tail.
    func testFoundSandboxGetsNetworkPatchBeforeLaunchAndMetadataAndProbeAfter() async throws {
        let context = RecordingLaunchContext()
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"):
                return json(200, [sandboxJSON("sb-old", status: "paused", token: nil)])
            case ("POST", "/sandboxes/sb-old/activate"):
                return json(200, sandboxJSON("sb-old", network: ["allow_out": ["api.anthropic.com"], "deny_out": []]))
            case ("PATCH", "/sandboxes/sb-old"): return InboundResponse(status: 204, headers: [:], body: Data())
            case ("GET", "/sandboxes/sb-old"):
                return json(200, sandboxJSON("sb-old", token: nil, metadata: ["owner": "team-a", "cma.paused_at": "2026-01-01T00:00:00Z"]))
            case ("POST", "/exec"): return Self.execAnswer(request, probeState: "dead")
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-old", pid: 41, alreadyRunning: false))
        XCTAssertEqual(Array(h.transport.calls.prefix(4)), [
            "GET /sandboxes", "POST /sandboxes/sb-old/activate", "PATCH /sandboxes/sb-old", "POST /exec",
        ])
        XCTAssertEqual(h.transport.requests[2].jsonBody["network"] as? [String: [String]], Self.policy)
        XCTAssertNil(h.transport.requests[2].jsonBody["metadata"])
        await h.launcher.waitForBackgroundWork()
        let after = h.transport.requests.dropFirst(4)
        let metadataPatch = try XCTUnwrap(after.first { $0.method == "PATCH" }?.jsonBody["metadata"] as? [String: String])
        XCTAssertEqual(metadataPatch["owner"], "team-a")
        XCTAssertNil(metadataPatch["cma.paused_at"])
        XCTAssertEqual(metadataPatch["cma.environment_id"], "env_1")
        let failures = context.failures.withLock { $0 }
        XCTAssertEqual(failures.count, 1)
        XCTAssertEqual(failures.first?.sandboxID, "sb-old")
        XCTAssertEqual(failures.first?.logTail, "Traceback: runner boom\n")
        XCTAssertTrue(failures.first?.reason.contains("dead") == true)
        XCTAssertEqual(context.lateFailureIDs.withLock { $0 }, [["work_1", "sesn_1"]], "rule 37: the item's owner ends it")
    }

    /// Rules 11 and 33: the session read's failures come classified from the context;
    /// a gone session fails the launch before any Superserve call, a fatal one too.
    func testASessionReadFailureFailsTheLaunchBeforeAnySuperserveCall() async throws {
        let cases: [(SessionMetadataError, String)] = [
            (.notFound, "session not found (404)"),
            (.fatal("anthropic HTTP 401"), "session read failed: anthropic HTTP 401"),
        ]
        for (error, reason) in cases {
            let h = try harness { _ in errorResponse(418, "unexpected") }
            let context = RecordingLaunchContext(sessionError: error)
            let outcome = await h.launcher.launch(request(), context: context)
            XCTAssertEqual(outcome, .failed(LaunchFailure(reason: reason)), "\(error)")
            XCTAssertEqual(context.reads.withLock { $0 }, 1)
            XCTAssertEqual(h.transport.calls, [], "\(error)")
        }
    }

    /// Rule 37 on a manual clock: activate keeps answering 503, the backoff
    /// waits add up, and the launch fails once the budget cannot cover the next wait.
    func testBudgetExhaustionFailsTheLaunchWithTheSandboxID() async throws {
        let sleeper = ManualSleeper()
        let h = try harness(sleeper: sleeper) { request in
            errorResponse(503, "service_unavailable")
        }
        let req = request(workMetadata: ["superserve.sandbox_id": "sb-slow"])
        let launcher = h.launcher
        let task = Task { await launcher.launch(req, context: RecordingLaunchContext()) }
        var finished = false
        for _ in 0..<200 where !finished {
            if await sleeper.waitForSleepers(1, timeout: .milliseconds(200)) {
                sleeper.advanceToNextDeadline()
            } else {
                finished = true
            }
        }
        let outcome = await task.value
        guard case .failed(let failure) = outcome else { return XCTFail("expected failure, got \(outcome)") }
        XCTAssertEqual(failure.sandboxID, "sb-slow")
        XCTAssertTrue(failure.reason.hasPrefix("launch budget of 150 s exhausted"), failure.reason)
        XCTAssertLessThan(sleeper.now, .seconds(150))
        XCTAssertGreaterThan(h.transport.calls.count, 3)
        XCTAssertTrue(h.transport.calls.allSatisfy { $0 == "GET /sandboxes/sb-slow" }, "the tag check's read, retried")
    }

    func testSecretLessItemGetsTheEnvironmentKeyOrIsRefused() async throws {
        for refuse in [false, true] {
            let h = try harness(configure: { $0.requireWorkSecret = refuse }) { request in
                switch (request.method, request.url.path) {
                case ("POST", "/sandboxes/sb-p/activate"): return json(200, sandboxJSON("sb-p", network: Self.policy))
                case ("POST", "/files"): return json(200, ["path": "/x", "size": 1])
                case ("POST", "/exec"): return Self.execAnswer(request)
                case ("GET", "/sandboxes/sb-p"): return json(200, sandboxJSON("sb-p", token: nil, metadata: ["cma.prepared_for": "env_1"]))
                case ("PATCH", "/sandboxes/sb-p"): return InboundResponse(status: 204, headers: [:], body: Data())
                default: return errorResponse(418, "unexpected")
                }
            }
            var req = request(workMetadata: ["superserve.sandbox_id": "sb-p"])
            req.sessionsTokenPresent = false
            let outcome = await h.launcher.launch(req, context: RecordingLaunchContext())
            if refuse {
                guard case .failed = outcome else { return XCTFail("expected refusal") }
                XCTAssertTrue(h.transport.calls.isEmpty)
            } else {
                XCTAssertEqual(outcome, .launched(sandboxID: "sb-p", pid: 41, alreadyRunning: false))
                let env = try XCTUnwrap(h.transport.requests.first { $0.url.path == "/exec" }?.jsonBody["env"] as? [String: String])
                XCTAssertEqual(env["ANTHROPIC_ENVIRONMENT_KEY"], Self.envKey)
                XCTAssertNil(env["ANTHROPIC_WORK_SECRET"])
                await h.launcher.waitForBackgroundWork()
                XCTAssertFalse(h.logs.text.contains(Self.envKey))
            }
        }
    }
}
