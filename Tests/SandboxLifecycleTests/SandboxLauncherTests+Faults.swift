import APIClient
import Foundation
import Synchronization
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The launcher under upstream failures: idempotent steps are repeated, a redirect is
/// not, and a probe without an answer never ends a handed-off item.
extension SandboxLauncherTests {
    /// Rules 31, 33 (as amended): a 500 on the launch exec, which carries the runner
    /// bundle (rule 24 as amended), is retried, since it is safe to repeat, instead of
    /// failing the launch.
    func testA500OnTheLaunchExecIsRetried() async throws {
        let context = RecordingLaunchContext()
        let launches = Mutex(0)
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): return json(200, [])
            case ("POST", "/sandboxes"): return json(201, sandboxJSON("sb-new", network: Self.policy))
            case ("POST", "/exec"):
                let isLaunch = (request.jsonBody["command"] as? String ?? "").contains("launch.sh")
                if isLaunch, launches.withLock({ $0 += 1; return $0 }) == 1 { return errorResponse(500, "internal_error") }
                return Self.execAnswer(request)
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-new", pid: 41, alreadyRunning: false))
        XCTAssertEqual(Array(h.transport.calls.prefix(4)), ["GET /sandboxes", "POST /sandboxes", "POST /exec", "POST /exec"])
        XCTAssertEqual(launches.withLock { $0 }, 2)
        await h.launcher.waitForBackgroundWork()
        XCTAssertTrue(context.failures.withLock { $0.isEmpty })
    }

    /// A redirect is never followed and never retried: the configured URL is wrong.
    func testARedirectFailsTheLaunchWithoutARetry() async throws {
        let context = RecordingLaunchContext()
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): throw TransportError.redirectRefused("301 from control.test")
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        guard case .failed(let failure) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(failure.reason.contains("redirect refused"), failure.reason)
        XCTAssertEqual(h.transport.calls, ["GET /sandboxes"])
    }

    /// Rule 9: a handed-off item is the runner's. A probe that never gets an answer
    /// (here every probe call fails) is tried a few times, logged, and the item is
    /// left alone: no late failure, so no force-stop.
    func testAProbeThatGetsNoAnswerNeverEndsTheItem() async throws {
        let context = RecordingLaunchContext()
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): return json(200, [])
            case ("POST", "/sandboxes"): return json(201, sandboxJSON("sb-new", network: Self.policy))
            case ("POST", "/files"): return json(200, ["path": "/srv/cma/.bundle.tar", "size": 1])
            case ("POST", "/exec"):
                if (request.jsonBody["command"] as? String ?? "").contains("probe.sh") { return errorResponse(400, "bad_request") }
                return Self.execAnswer(request)
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-new", pid: 41, alreadyRunning: false))
        await h.launcher.waitForBackgroundWork()
        let probes = h.transport.requests.filter { ($0.jsonBody["command"] as? String ?? "").contains("probe.sh") }
        XCTAssertEqual(probes.count, SandboxLauncher.probeAttempts)
        XCTAssertTrue(context.failures.withLock { $0.isEmpty }, "no late failure, so no force-stop")
        XCTAssertTrue(context.lateFailureIDs.withLock { $0.isEmpty })
        XCTAssertTrue(h.logs.text.contains("runner.probe.unknown"), h.logs.text)
    }
}

/// A clock that jumps forward by every sleep: token waits take no real time.
final class FastForwardSleeper: Sleeper {
    private let clock = Mutex<Duration>(.seconds(1000))
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        clock.withLock { $0 += max(duration, .zero) }
        await Task.yield()
    }
    func uptime() -> Duration { clock.withLock { $0 } }
}

extension SandboxLauncherTests {
    private func slowBucketLauncher(rate: Double, budget: Duration) throws -> (HandlerTransport, SandboxLauncher) {
        let sleeper = FastForwardSleeper()
        let transport = HandlerTransport { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): return json(200, [])
            case ("POST", "/sandboxes"): return json(201, sandboxJSON("sb-new", network: Self.policy))
            case ("POST", "/files"): return json(200, ["path": "/srv/cma/.bundle.tar", "size": 1])
            case ("POST", "/exec"): return Self.execAnswer(request)
            default: return errorResponse(418, "unexpected")
            }
        }
        var superserve = SuperserveConfiguration(controlPlaneURL: URL(string: "http://control.test")!,
                                                 dataPlaneURL: URL(string: "http://data.test")!, apiKey: "ss-key-TEST")
        superserve.ratePerSecond = rate
        superserve.burst = 1
        let logs = LogRecorder()
        let client = SuperserveClient(configuration: superserve, transport: transport, logger: logs.logger(), sleeper: sleeper)
        var config = LauncherConfiguration()
        config.environmentKey = Self.envKey
        config.probeDelay = .milliseconds(1)
        config.launchBudget = budget
        let launcher = SandboxLauncher(client: client, bundle: try RunnerBundle.load(from: RunnerBundleTests.runnerDirectory),
                                       configuration: config, locks: SessionLocks(), activity: SandboxActivity(),
                                       logger: logs.logger(), sleeper: sleeper)
        return (transport, launcher)
    }

    /// Rule 37 against rule 35: three calls at one token per 2 s take 4 s of waiting in
    /// the bucket, more than the 3 s budget; the launch is not charged for its turn.
    func testWaitingForBucketTokensIsNotChargedToTheLaunchBudget() async throws {
        let (transport, launcher) = try slowBucketLauncher(rate: 0.5, budget: .seconds(3))
        let outcome = await launcher.launch(request(), context: RecordingLaunchContext())
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-new", pid: 41, alreadyRunning: false))
        XCTAssertEqual(Array(transport.calls.prefix(3)), ["GET /sandboxes", "POST /sandboxes", "POST /exec"])
        await launcher.waitForBackgroundWork()
    }

    /// … but at most one more budget of waiting is forgiven: a bucket that hands out a
    /// token every 10 s fails a 3 s launch instead of holding its item for ever.
    func testBucketWaitsBeyondOneMoreBudgetStillEndTheLaunch() async throws {
        let (_, launcher) = try slowBucketLauncher(rate: 0.1, budget: .seconds(3))
        let outcome = await launcher.launch(request(), context: RecordingLaunchContext())
        guard case .failed(let failure) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(failure.reason.contains("launch budget of 3 s exhausted"), failure.reason)
    }
}
