import APIClient
import Foundation
import XCTest
@testable import SandboxLifecycle

/// End to end against the Superserve emulator on a real socket, real processes.
final class LoopbackLaunchTests: XCTestCase {
    typealias H = LoopbackHarness

    func launched(_ outcome: LaunchOutcome, file: StaticString = #filePath, line: UInt = #line) throws -> (id: String, pid: Int, again: Bool) {
        guard case .launched(let id, let pid, let again) = outcome else {
            XCTFail("expected a launch, got \(outcome)", file: file, line: line)
            throw CancellationError()
        }
        return (id, pid, again)
    }

    func testFreshSessionCreatesASandboxAndLaunchesTheRunnerInListCreateExec() async throws {
        let h = try H()
        // The probe waits 2 s, so the calls read right after the hand-off are the critical path's.
        let launcher = h.launcher { $0.probeDelay = .seconds(2) }
        let session = RecordingLaunchContext()
        try await h.resetCalls()
        let outcome = await launcher.launch(H.request(), context: session)
        let calls = try await h.calls()
        let (id, pid, again) = try launched(outcome)
        XCTAssertFalse(again)
        XCTAssertGreaterThan(pid, 0)
        // Rule 24 as amended: session GET + lookup + create + one exec carrying the bundle.
        XCTAssertEqual(session.reads.withLock { $0 }, 1)
        XCTAssertEqual(calls, ["sandboxes.list": 1, "sandboxes.create": 1, "exec": 1])
        XCTAssertLessThanOrEqual(session.reads.withLock { $0 } + calls.values.reduce(0, +), 4)

        await launcher.waitForBackgroundWork()
        XCTAssertEqual(session.failures.withLock { $0 }, [], "the probe saw the runner running")
        XCTAssertNotNil(h.activity.lastSeenRunning(id))
        let sandbox = try await h.client.getSandbox(id: id)
        XCTAssertEqual(sandbox.name, "cma-sesn_1")
        XCTAssertEqual(sandbox.metadata["cma.session_id"], "sesn_1")
        XCTAssertEqual(sandbox.metadata["cma.work_id"], "work_1")
        XCTAssertEqual(sandbox.metadata["cma.environment_id"], "env_1")
        XCTAssertNotNil(sandbox.metadata["cma.launched_at"].flatMap(Timestamp.parse))
        XCTAssertTrue(LauncherConfiguration().networkPolicy.matches(sandbox.network), "rule 22")
        XCTAssertFalse(h.logs.text.contains("work-secret-TEST"))
        XCTAssertFalse(h.logs.text.contains(LoopbackHarness.apiKey))
        await h.close()
    }

    func testRelaunchForTheSameWorkIDReportsTheRunningRunner() async throws {
        let h = try H()
        let launcher = h.launcher()
        let first = try launched(await launcher.launch(H.request(), context: RecordingLaunchContext()))
        let second = try launched(await launcher.launch(H.request(), context: RecordingLaunchContext()))
        XCTAssertEqual(second.id, first.id)
        XCTAssertEqual(second.pid, first.pid)
        XCTAssertTrue(second.again, "rule 31")
        await launcher.waitForBackgroundWork()
        await h.close()
    }

    func testPausedSandboxIsWokenWithActivateAndReused() async throws {
        let h = try H()
        let launcher = h.launcher(mode: "exit0")
        let first = try launched(await launcher.launch(H.request(work: "work_1"), context: RecordingLaunchContext()))
        await launcher.waitForBackgroundWork()
        let pause = try await h.client.pause(id: first.id)
        XCTAssertEqual(pause, .accepted)
        let paused = await h.eventually { (try? await h.client.getSandbox(id: first.id))?.status == .paused }
        XCTAssertTrue(paused)
        try await h.resetCalls()
        let second = try launched(await launcher.launch(H.request(work: "work_2"), context: RecordingLaunchContext()))
        XCTAssertEqual(second.id, first.id, "one sandbox per session")
        let calls = try await h.calls()
        XCTAssertEqual(calls["sandboxes.activate"], 1)
        XCTAssertNil(calls["sandboxes.resume"], "rule 19")
        XCTAssertNil(calls["sandboxes.create"])
        let all = try await h.client.listSandboxes(metadata: ["cma.session_id": "sesn_1"])
        XCTAssertEqual(all.map(\.id), [first.id])
        await launcher.waitForBackgroundWork()
        let sandbox = try await h.client.getSandbox(id: first.id)
        XCTAssertEqual(sandbox.metadata["cma.work_id"], "work_2", "rule 18 after the hand-off")
        await h.close()
    }

    /// Rule 12 (amended): a sandbox named in session metadata but not tagged as
    /// prepared for this environment, or bound to another session, is refused with
    /// the tag named: it is read, never activated, patched or written to.
    func testAPreparedSandboxWithoutTheRightTagsIsRefusedAndNeverTouched() async throws {
        let h = try H()
        let cases: [([String: String], String)] = [
            (["owner": "someone"], "tag cma.prepared_for is missing"),
            (["cma.prepared_for": "env_other"], "tag cma.prepared_for names another environment"),
            (["cma.prepared_for": "env_1", "cma.session_id": "sesn_other"], "tag cma.session_id names another session"),
        ]
        let launcher = h.launcher()
        for (metadata, refusal) in cases {
            let foreign = try await h.client.createSandbox(CreateSandboxRequest(
                name: "foreign", fromTemplate: "cma-runner", metadata: metadata, network: nil))
            try await h.resetCalls()
            let context = RecordingLaunchContext(sessionMetadata: ["superserve.sandbox_id": foreign.id])
            let outcome = await launcher.launch(H.request(), context: context)
            guard case .failed(let failure) = outcome else { return XCTFail("\(metadata): expected a refusal, got \(outcome)") }
            XCTAssertTrue(failure.reason.contains(refusal), failure.reason)
            let calls = try await h.calls()
            XCTAssertEqual(calls, ["sandboxes.get": 1], "\(metadata): read only")
            let after = try await h.client.getSandbox(id: foreign.id)
            XCTAssertEqual(after.metadata, metadata, "untouched")
        }
        await h.close()
    }

    func testPreparedSandboxFromSessionMetadataIsUsedPatchedAndTagged() async throws {
        let h = try H()
        // Prepared by the session's author: tagged for this environment (rule 12),
        // no other cma.* tags, no network rules.
        let prepared = try await h.client.createSandbox(CreateSandboxRequest(
            name: "prepared", fromTemplate: "cma-runner", metadata: ["owner": "author", "cma.prepared_for": "env_1"],
            network: nil))
        let launcher = h.launcher()
        try await h.resetCalls()
        let context = RecordingLaunchContext(sessionMetadata: ["superserve.sandbox_id": prepared.id])
        let outcome = await launcher.launch(H.request(), context: context)
        let calls = try await h.calls()
        let launchedID = try launched(outcome).id
        XCTAssertEqual(launchedID, prepared.id)
        XCTAssertNil(calls["sandboxes.list"], "rule 24: a prepared id replaces the lookup")
        XCTAssertNil(calls["sandboxes.create"])
        XCTAssertGreaterThanOrEqual(calls["sandboxes.update"] ?? 0, 1, "rule 23: the network PATCH")
        await launcher.waitForBackgroundWork()
        // One network PATCH (before the runner, order checked in SandboxLauncherTests)
        // and one metadata read-modify-write after the hand-off (rule 18).
        let after = try await h.calls()
        XCTAssertEqual(after["sandboxes.update"], 2)
        XCTAssertEqual(after["sandboxes.get"], 1,
                       "the tag check's read also serves the metadata merge after the hand-off (no second GET)")
        let sandbox = try await h.client.getSandbox(id: prepared.id)
        XCTAssertTrue(LauncherConfiguration().networkPolicy.matches(sandbox.network))
        XCTAssertEqual(sandbox.metadata["owner"], "author")
        XCTAssertEqual(sandbox.metadata["cma.environment_id"], "env_1", "rule 18: under the janitor now")
        XCTAssertNil(sandbox.metadata["superserve.sandbox_id"], "rule 17")
        await h.close()
    }

    func testMissingPreparedSandboxFailsWithAReasonAndCreatesNothing() async throws {
        let h = try H()
        let launcher = h.launcher()
        let outcome = await launcher.launch(H.request(workMetadata: ["superserve.sandbox_id": "sb-missing"]),
                                            context: RecordingLaunchContext())
        guard case .failed(let failure) = outcome else { return XCTFail("expected failure, got \(outcome)") }
        XCTAssertEqual(failure.sandboxID, "sb-missing")
        XCTAssertTrue(failure.reason.contains("prepared sandbox sb-missing"), failure.reason)
        let calls = try await h.calls()
        XCTAssertNil(calls["sandboxes.create"], "rule 12: never a silent create")
        await h.close()
    }

    func testFoundSandboxWithAnOlderNetworkPolicyIsPatchedBeforeLaunch() async throws {
        let h = try H()
        let older = try await h.client.createSandbox(CreateSandboxRequest(
            name: "cma-sesn_1", fromTemplate: "cma-runner", metadata: ["cma.session_id": "sesn_1"],
            network: NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: [])))
        let launcher = h.launcher()
        try await h.resetCalls()
        let (id, _, _) = try launched(await launcher.launch(H.request(), context: RecordingLaunchContext()))
        XCTAssertEqual(id, older.id)
        let sandbox = try await h.client.getSandbox(id: id)
        XCTAssertTrue(LauncherConfiguration().networkPolicy.matches(sandbox.network))
        await launcher.waitForBackgroundWork()
        let calls = try await h.calls()
        XCTAssertEqual(calls["sandboxes.update"], 2, "network PATCH + metadata PATCH")
        XCTAssertEqual(calls["sandboxes.list"], 1)
        XCTAssertNil(calls["sandboxes.create"])
        await h.close()
    }

    func testRunnerThatDiesIsReportedAfterTheHandOffWithTheLogTail() async throws {
        let h = try H()
        // The probe after the hand-off waits for the runner's exit, not for a time: a
        // slow Python start on a loaded machine would otherwise still look alive.
        let probeGate = ProbeGateSleeper()
        let launcher = h.launcher(mode: "exit3", sleeper: probeGate) { $0.probeDelay = ProbeGateSleeper.probeDelay }
        let session = RecordingLaunchContext()
        let (id, _, _) = try launched(await launcher.launch(H.request(), context: session))
        let exited = await h.runnerExited(sandboxID: id)
        XCTAssertTrue(exited)
        probeGate.gate.open()
        await launcher.waitForBackgroundWork()
        let failures = session.failures.withLock { $0 }
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures.first?.reason.contains("exited with exit code 3") == true, failures.first?.reason ?? "")
        XCTAssertTrue(failures.first?.logTail?.contains("fake runner failing on purpose") == true, failures.first?.logTail ?? "nil")
        await h.close()
    }

    /// Rules 13 and 20: a sandbox still `starting` is found (no status filter), the
    /// activate 409 leads to a read and a retry, and no twin is created.
    func testSandboxMidTransitionIsWaitedForInsteadOfDuplicated() async throws {
        let h = try H()
        let existing = try await h.client.createSandbox(CreateSandboxRequest(
            name: "cma-sesn_1", fromTemplate: "cma-runner", metadata: ["cma.session_id": "sesn_1"],
            network: LauncherConfiguration().networkPolicy))
        try await h.emulatorSwitch("hold", ["sandbox_id": existing.id, "status": "starting", "ms": 1500])
        let launcher = h.launcher()
        try await h.resetCalls()
        let (id, _, _) = try launched(await launcher.launch(H.request(), context: RecordingLaunchContext()))
        XCTAssertEqual(id, existing.id)
        let calls = try await h.calls()
        XCTAssertNil(calls["sandboxes.create"], "rule 13: no twin")
        XCTAssertGreaterThanOrEqual(calls["sandboxes.activate"] ?? 0, 2, "rule 20: retried after the conflict")
        XCTAssertGreaterThanOrEqual(calls["sandboxes.get"] ?? 0, 1, "rule 20: read the status on a non-pausing 409")
        await launcher.waitForBackgroundWork()
        await h.close()
    }

    /// Rule 32: an expired data-plane token is refreshed with one activate and the call retried.
    func testExpiredAccessTokenIsRefreshedOnceAndTheCallRetried() async throws {
        let h = try H()
        let launcher = h.launcher()
        let (id, _, _) = try launched(await launcher.launch(H.request(), context: RecordingLaunchContext()))
        await launcher.waitForBackgroundWork()
        let access = try XCTUnwrap(h.activity.access(for: id))
        let before = access.credentials.accessToken
        try await h.emulatorSwitch("expire-tokens", ["sandbox_id": id])
        try await h.resetCalls()
        let result = try await h.client.exec(access, command: "sh /srv/cma/probe.sh", workingDirectory: "/srv/cma", timeoutSeconds: 10)
        XCTAssertEqual(ProbeResult.parse(result.stdout)?.state, .running)
        XCTAssertNotEqual(access.credentials.accessToken, before)
        let calls = try await h.calls()
        XCTAssertEqual(calls["sandboxes.activate"], 1)
        XCTAssertEqual(calls["exec"], 2)
        await h.close()
    }
}
