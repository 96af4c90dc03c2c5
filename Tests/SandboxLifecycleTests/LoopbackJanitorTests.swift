import APIClient
import Foundation
import XCTest
@testable import SandboxLifecycle

final class LoopbackJanitorTests: XCTestCase {
    typealias H = LoopbackHarness

    /// Rule 44: an idle sandbox whose runner exited is paused (with `cma.paused_at`),
    /// one whose runner still runs is left active; nothing is deleted (rule 45).
    func testJanitorPausesAnIdleSandboxWhoseRunnerExitedAndLeavesARunningOne() async throws {
        let h = try H()
        let exiting = h.launcher(mode: "exit0"), running = h.launcher(mode: "run")
        let context = RecordingLaunchContext()
        guard case .launched(let done, _, _) = await exiting.launch(H.request(work: "w_a", session: "sesn_a"), context: context),
              case .launched(let busy, _, _) = await running.launch(H.request(work: "w_b", session: "sesn_b"), context: context) else {
            return XCTFail("launches failed")
        }
        // The launches' liveness probes (rule 30) run after the hand-off; one landing
        // after the pause would refresh its token through activate and wake the sandbox.
        await exiting.waitForBackgroundWork()
        await running.waitForBackgroundWork()
        var config = Janitor.Configuration(environmentID: "env_1")
        config.idleTimeout = .seconds(300)
        // An hour from now, both look idle by cma.launched_at.
        let janitor = Janitor(client: h.client, configuration: config, locks: h.locks, activity: SandboxActivity(),
                              logger: h.logs.logger(), now: { Date().addingTimeInterval(3600) })
        let exited = await h.runnerExited(sandboxID: done)
        XCTAssertTrue(exited)
        let report = await janitor.sweep()
        XCTAssertEqual(report.paused, [done])
        XCTAssertEqual(report.stillRunning, [busy])
        XCTAssertEqual(report.errors, [])
        let paused = await h.eventually { (try? await h.client.getSandbox(id: done))?.status == .paused }
        XCTAssertTrue(paused)
        let doneSandbox = try await h.client.getSandbox(id: done)
        XCTAssertNotNil(doneSandbox.metadata["cma.paused_at"].flatMap(Timestamp.parse))
        let busyStatus = try await h.client.getSandbox(id: busy).status
        XCTAssertEqual(busyStatus, .active)
        // A second sweep finds only the running one; the in-memory probe time now counts.
        let again = await janitor.sweep()
        XCTAssertEqual(again.paused, [])
        await h.close()
    }

    /// Rule 44: recent activity (cma.launched_at) keeps a sandbox out of the probe.
    func testJanitorLeavesRecentlyLaunchedSandboxesAlone() async throws {
        let h = try H()
        let launched = await h.launcher(mode: "exit0").launch(H.request(), context: RecordingLaunchContext())
        guard case .launched = launched else { return XCTFail("launch failed") }
        let janitor = Janitor(client: h.client, configuration: Janitor.Configuration(environmentID: "env_1"), locks: h.locks,
                              activity: h.activity, logger: h.logs.logger())
        try await h.resetCalls()
        let report = await janitor.sweep()
        XCTAssertEqual(report, Janitor.SweepReport())
        let calls = try await h.calls()
        XCTAssertEqual(calls, ["sandboxes.list": 1])
        let other = Janitor(client: h.client, configuration: Janitor.Configuration(environmentID: "env_other"), locks: h.locks,
                            activity: h.activity, logger: h.logs.logger(), now: { Date().addingTimeInterval(3600) })
        let otherReport = await other.sweep()
        XCTAssertEqual(otherReport, Janitor.SweepReport(), "janitors of other environments keep apart")
        await h.close()
    }

    /// Rule 47: the configured template must exist and be ready.
    func testTemplateCheckReportsReadyAndMissingTemplates() async throws {
        let h = try H()
        let ready = TemplateCheck(client: h.client, templateName: "cma-runner", logger: h.logs.logger())
        XCTAssertEqual(ready.status, .checking)
        let readyStatus = await ready.check()
        XCTAssertEqual(readyStatus, .ready)
        let missing = TemplateCheck(client: h.client, templateName: "cma-nope", logger: h.logs.logger())
        let missingStatus = await missing.check()
        XCTAssertEqual(missingStatus, .notReady(reason: "template cma-nope does not exist"))
        XCTAssertFalse(missing.status.isReady)
        await h.close()
    }

    /// Rule 47: the setup command's build flow against the emulator.
    func testTemplateBuildWaitsUntilReady() async throws {
        let h = try H()
        let body = Data(#"{"name":"cma-built","build_spec":{"from":"python:3.12-slim","steps":[{"run":"true"}]}}"#.utf8)
        let template = try await h.client.buildTemplate(body: body)
        XCTAssertEqual(template.name, "cma-built")
        XCTAssertEqual(template.status, "ready")
        let builtStatus = await TemplateCheck(client: h.client, templateName: "cma-built", logger: h.logs.logger()).check()
        XCTAssertEqual(builtStatus, .ready)
        await h.close()
    }

    /// Rule 43: after max_idle plus the margin, the session's sandbox is paused when
    /// its runner no longer runs.
    func testPauseWhenIdleProbesAndPausesTheSessionsSandbox() async throws {
        let h = try H()
        let launcher = h.launcher(mode: "exit0")
        let launched = await launcher.launch(H.request(), context: RecordingLaunchContext())
        guard case .launched(let id, _, _) = launched else { return XCTFail("launch failed") }
        await launcher.waitForBackgroundWork()
        // The janitor pauses only a sandbox whose runner has ended (rule 44): wait for the
        // fake runner to have exited, however slowly Python starts on a loaded machine.
        let exited = await h.runnerExited(sandboxID: id)
        XCTAssertTrue(exited)
        let sleeper = RecordingSleeper()
        var config = Janitor.Configuration(environmentID: "env_1")
        config.maxIdle = .seconds(60)
        config.idlePauseMargin = .seconds(30)
        let janitor = Janitor(client: h.client, configuration: config, locks: h.locks, activity: h.activity,
                              logger: h.logs.logger(), sleeper: sleeper)
        await janitor.pauseWhenIdle(sessionID: "sesn_1")
        XCTAssertEqual(sleeper.durations, [.seconds(90)])
        let paused = await h.eventually { (try? await h.client.getSandbox(id: id))?.status == .paused }
        XCTAssertTrue(paused)
        await h.close()
    }
}
