import APIClient
import Foundation
import SuperserveEmulator
import XCTest
@testable import SandboxLifecycle

/// Rule 24 as amended against the emulator at its real limits (superserve.md §7):
/// the Superserve calls before the runner starts, per scenario, counted by the
/// emulator; and a launch that meets the active-sandbox quota waits while an idle
/// sandbox of the environment is paused to make room.
final class LoopbackCallCountTests: XCTestCase {
    typealias H = LoopbackHarness

    func launcher(_ h: H, mode: String = "run", quotaRoom: QuotaRoom? = nil) -> SandboxLauncher {
        var config = LauncherConfiguration()
        config.environmentKey = "env-key-TEST"
        config.probeDelay = .seconds(2)   // the calls read right after the hand-off are the critical path's
        config.runnerExtraEnvironment = ["CMA_RUNNER_ENTRY": "fake_runner.py", "FAKE_MODE": mode, "FAKE_LIFETIME": "60"]
        return SandboxLauncher(client: h.client, bundle: h.bundle, configuration: config, locks: h.locks,
                               activity: h.activity, logger: h.logs.logger(), quotaRoom: quotaRoom)
    }

    func launchedID(_ outcome: LaunchOutcome, file: StaticString = #filePath, line: UInt = #line) -> String? {
        guard case .launched(let id, _, _) = outcome else {
            XCTFail("expected a launch, got \(outcome)", file: file, line: line)
            return nil
        }
        return id
    }

    func testNewActiveAndPausedSessionsCostThreeTwoAndThreeCalls() async throws {
        let h = try H()
        let launcher = launcher(h)
        try await h.resetCalls()
        guard let id = launchedID(await launcher.launch(H.request(work: "work_1"), context: RecordingLaunchContext())) else { return }
        let fresh = try await h.calls()
        XCTAssertEqual(fresh, ["sandboxes.list": 1, "sandboxes.create": 1, "exec": 1], "new session: list, create, exec")
        XCTAssertEqual(launcher.versions.template, .older, "the emulator's template holds no bundle: it was unpacked")
        await launcher.waitForBackgroundWork()

        try await h.resetCalls()
        guard launchedID(await launcher.launch(H.request(work: "work_2"), context: RecordingLaunchContext())) == id else { return }
        // The metadata PATCH of rule 18 follows the hand-off (off the critical path)
        // and may land before the count is read: it is left out here.
        let active = try await h.calls().filter { $0.key != "sandboxes.update" }
        XCTAssertEqual(active, ["sandboxes.list": 1, "exec": 1], "active sandbox: list, exec (no activate, no bundle)")
        await launcher.waitForBackgroundWork()

        _ = try await h.client.pause(id: id)
        let paused = await h.eventually { (try? await h.client.getSandbox(id: id))?.status == .paused }
        XCTAssertTrue(paused)
        try await h.resetCalls()
        guard launchedID(await launcher.launch(H.request(work: "work_3"), context: RecordingLaunchContext())) == id else { return }
        let woken = try await h.calls().filter { $0.key != "sandboxes.update" }
        XCTAssertEqual(woken, ["sandboxes.list": 1, "sandboxes.activate": 1, "exec": 1], "paused: list, activate, exec")
        await launcher.waitForBackgroundWork()
        await h.close()
    }

    /// A sandbox holding another runner version is given the bundle on the spot:
    /// one exec more, never a wrong runner.
    func testASandboxWithAnotherVersionGetsTheBundleInASecondExec() async throws {
        let h = try H()
        let launcher = launcher(h)
        guard let id = launchedID(await launcher.launch(H.request(work: "work_1"), context: RecordingLaunchContext())) else { return }
        await launcher.waitForBackgroundWork()
        // Another replica (older runner/) launched here since: the recorded version differs.
        let access = try SandboxAccess(try await h.client.activate(id: id))
        _ = try await h.client.exec(access, command: "printf 'other\\n' > /srv/cma/.bundle-version", timeoutSeconds: 10)
        try await h.resetCalls()
        guard launchedID(await launcher.launch(H.request(work: "work_2"), context: RecordingLaunchContext())) == id else { return }
        let calls = try await h.calls().filter { $0.key != "sandboxes.update" }   // rule 18, after the hand-off
        XCTAssertEqual(calls, ["sandboxes.list": 1, "exec": 2])
        let version = try await h.client.exec(access, command: "cat /srv/cma/.bundle-version", timeoutSeconds: 10)
        XCTAssertEqual(version.stdout, h.bundle.version + "\n")
        await launcher.waitForBackgroundWork()
        await h.close()
    }

    /// superserve.md §7 with a quota of 2: the third session's create meets
    /// `too_many_sandboxes`; the launch waits while the janitor pauses the sandbox
    /// idle longest whose runner has ended, then creates and launches.
    func testAFullQuotaIsMadeRoomForByPausingTheLongestIdleSandbox() async throws {
        let h = try H { $0.maxActiveSandboxes = 2 }
        var janitorConfiguration = Janitor.Configuration(environmentID: "env_1")
        janitorConfiguration.runnerDirectory = LauncherConfiguration().runnerDirectory
        let janitor = Janitor(client: h.client, configuration: janitorConfiguration, locks: h.locks, activity: h.activity,
                              logger: h.logs.logger())
        let room = QuotaRoom(maker: { await janitor.makeRoom(count: $0) }, retryInterval: .milliseconds(200))
        let launcher = launcher(h, mode: "exit0", quotaRoom: room)
        guard let first = launchedID(await launcher.launch(H.request(work: "w1", session: "sesn_a"), context: RecordingLaunchContext())),
              let second = launchedID(await launcher.launch(H.request(work: "w2", session: "sesn_b"), context: RecordingLaunchContext()))
        else { return }
        await launcher.waitForBackgroundWork()
        for id in [first, second] {
            let exited = await h.runnerExited(sandboxID: id)
            XCTAssertTrue(exited)
        }
        guard let third = launchedID(await launcher.launch(H.request(work: "w3", session: "sesn_c"), context: RecordingLaunchContext()))
        else { return }
        XCTAssertEqual(room.pausedForRoom, 1)
        XCTAssertEqual(room.waiting, 0)
        let statuses = await [first, second, third].asyncMap { (try? await h.client.getSandbox(id: $0))?.status }
        XCTAssertEqual(statuses.filter { $0 == .active }.count, 2, "\(statuses)")
        XCTAssertEqual(statuses[2], .active)
        let pausedOnes = statuses.prefix(2).filter { $0 == .paused || $0 == .pausing }
        XCTAssertEqual(pausedOnes.count, 1, "one of the two idle sandboxes made room: \(statuses)")
        await launcher.waitForBackgroundWork()
        await h.close()
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var out: [T] = []
        for element in self { out.append(await transform(element)) }
        return out
    }
}
