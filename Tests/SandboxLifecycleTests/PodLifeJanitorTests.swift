import APIClient
import Foundation
import XCTest
@testable import SandboxLifecycle

/// Sandboxes a dead process created and never launched into: no runner bundle.
final class PodLifeJanitorTests: XCTestCase {
    typealias H = LoopbackHarness

    /// Rule 44: "no runner bundle" counts as "runner not running", so such a sandbox is
    /// paused when idle instead of failing the probe on every sweep; and the
    /// reconciler's question about its session says "not running" with that reason.
    func testASandboxWithoutTheRunnerBundleIsPausedWhenIdleAndHoldsNoRunner() async throws {
        let h = try H()
        let bare = try await h.client.createSandbox(CreateSandboxRequest(
            name: "cma-sesn_bare", fromTemplate: "cma-runner",
            metadata: ["cma.session_id": "sesn_bare", "cma.environment_id": "env_1", "cma.launched_at": Timestamp.format(Date())],
            network: nil))
        let ready = await h.eventually { (try? await h.client.getSandbox(id: bare.id))?.status == .active }
        XCTAssertTrue(ready)
        var config = Janitor.Configuration(environmentID: "env_1")
        config.idleTimeout = .seconds(300)
        let janitor = Janitor(client: h.client, configuration: config, locks: h.locks, activity: SandboxActivity(),
                              logger: h.logs.logger(), now: { Date().addingTimeInterval(3600) })
        let presence = await janitor.sessionRunner(sessionID: "sesn_bare")
        XCTAssertEqual(presence, .notRunning("sandbox \(bare.id) has no runner bundle"))
        let report = await janitor.sweep()
        XCTAssertEqual(report.paused, [bare.id])
        XCTAssertEqual(report.errors, [])
        let paused = await h.eventually { (try? await h.client.getSandbox(id: bare.id))?.status == .paused }
        XCTAssertTrue(paused)
        let after = await janitor.sessionRunner(sessionID: "sesn_bare")
        XCTAssertEqual(after, .notRunning("sandbox \(bare.id) is paused"))
        let none = await janitor.sessionRunner(sessionID: "sesn_none")
        XCTAssertEqual(none, .notRunning("no sandbox"))
        await h.close()
    }

    /// A live runner is found and named by the work id it serves (`.runner.work`).
    func testALiveRunnerIsReportedWithItsWorkID() async throws {
        let h = try H()
        let launched = await h.launcher(mode: "run").launch(H.request(work: "w_live", session: "sesn_live"),
                                                            context: RecordingLaunchContext())
        guard case .launched = launched else { return XCTFail("launch failed") }
        let janitor = Janitor(client: h.client, configuration: Janitor.Configuration(environmentID: "env_1"), locks: h.locks,
                              activity: h.activity, logger: h.logs.logger())
        let presence = await janitor.sessionRunner(sessionID: "sesn_live")
        XCTAssertEqual(presence, .running(workID: "w_live"))
        await h.close()
    }
}
