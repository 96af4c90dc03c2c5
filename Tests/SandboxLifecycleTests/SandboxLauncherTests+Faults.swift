import APIClient
import Foundation
import Synchronization
import XCTest
@testable import SandboxLifecycle

/// The launcher under upstream failures: idempotent steps are repeated, a redirect is
/// not, and a probe without an answer never ends a handed-off item.
extension SandboxLauncherTests {
    /// Rules 31, 33 (as amended): a 500 on the bundle write and on the launch exec is
    /// retried, since both are safe to repeat, instead of failing the launch.
    func testA500OnTheBundleWriteAndOnTheLaunchExecIsRetried() async throws {
        let context = RecordingLaunchContext()
        let writes = Mutex(0)
        let launches = Mutex(0)
        let h = try harness { request in
            switch (request.method, request.url.path) {
            case ("GET", "/sandboxes"): return json(200, [])
            case ("POST", "/sandboxes"): return json(201, sandboxJSON("sb-new", network: Self.policy))
            case ("POST", "/files"):
                let n = writes.withLock { $0 += 1; return $0 }
                return n == 1 ? errorResponse(500, "internal_error") : json(200, ["path": "/srv/cma/.bundle.tar", "size": 1])
            case ("POST", "/exec"):
                let isLaunch = (request.jsonBody["command"] as? String ?? "").contains("launch.sh")
                if isLaunch, launches.withLock({ $0 += 1; return $0 }) == 1 { return errorResponse(500, "internal_error") }
                return Self.execAnswer(request)
            default: return errorResponse(418, "unexpected")
            }
        }
        let outcome = await h.launcher.launch(request(), context: context)
        XCTAssertEqual(outcome, .launched(sandboxID: "sb-new", pid: 41, alreadyRunning: false))
        XCTAssertEqual(Array(h.transport.calls.prefix(6)),
                       ["GET /sandboxes", "POST /sandboxes", "POST /files", "POST /files", "POST /exec", "POST /exec"])
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
