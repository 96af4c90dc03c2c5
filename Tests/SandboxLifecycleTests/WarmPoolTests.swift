import APIClient
import Foundation
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The warm pool against the real Superserve emulator (local process sandboxes):
/// filling, claiming without a create, refilling, recycling by age on an injected
/// clock, the janitor's view of pool sandboxes, and a claim race between two pools
/// (two replicas' views of the same environment).
final class WarmPoolTests: XCTestCase {
    typealias H = LoopbackHarness

    static func launcherConfiguration() -> LauncherConfiguration {
        var config = LauncherConfiguration()
        config.environmentKey = "env-key-TEST"
        config.probeDelay = .milliseconds(300)
        config.runnerExtraEnvironment = ["CMA_RUNNER_ENTRY": "fake_runner.py", "FAKE_MODE": "run", "FAKE_LIFETIME": "60"]
        return config
    }

    /// A pool of `size` for env_1 on `client` (another client = another replica).
    static func pool(_ h: H, size: Int, client: SuperserveClient? = nil, now: @escaping @Sendable () -> Date = { Date() },
                     configure: (inout WarmPool.Configuration) -> Void = { _ in }) -> WarmPool {
        var config = WarmPool.Configuration(environmentID: "env_1", size: size)
        configure(&config)
        return WarmPool(client: client ?? h.client, bundle: h.bundle, launcher: launcherConfiguration(),
                        configuration: config, logger: h.logs.logger(), now: now)
    }

    func launcher(_ h: H, pool: WarmPool?, client: SuperserveClient? = nil) -> SandboxLauncher {
        SandboxLauncher(client: client ?? h.client, bundle: h.bundle, configuration: Self.launcherConfiguration(),
                        locks: SessionLocks(), activity: SandboxActivity(), logger: h.logs.logger(), pool: pool)
    }

    func poolSandboxes(_ h: H) async throws -> [Sandbox] {
        try await h.client.listSandboxes(metadata: [WarmPoolPlan.poolTag: "env_1"])
    }

    /// The pool fills to N with active sandboxes that carry the pool's tags (ready,
    /// staged bundle) and no `cma.environment_id`, so the janitor never lists them.
    func testPoolFillsToItsSizeWithStagedSandboxesTheJanitorDoesNotSee() async throws {
        let h = try H()
        let pool = Self.pool(h, size: 2)
        let snapshot = await pool.maintain()
        XCTAssertEqual(snapshot.ready, 2)
        XCTAssertEqual(snapshot.created, 2)
        let listed = try await poolSandboxes(h)
        XCTAssertEqual(listed.count, 2)
        for sandbox in listed {
            XCTAssertEqual(sandbox.status, .active)
            XCTAssertEqual(sandbox.metadata[WarmPoolPlan.stateTag], "ready")
            XCTAssertEqual(sandbox.metadata[WarmPoolPlan.bundleTag], WarmPool.digest(h.bundle, profile: Self.launcherConfiguration()))
            XCTAssertNil(sandbox.metadata["cma.environment_id"])
            XCTAssertNil(sandbox.metadata["cma.session_id"])
            let staged = try await h.client.exec(SandboxAccess(try await h.client.activate(id: sandbox.id)),
                                                 command: "test -s " + RunnerEnvironment.bundlePath(runnerDirectory: "/srv/cma", version: h.bundle.version)
                                                     + " && echo staged", timeoutSeconds: 10)
            XCTAssertEqual(staged.stdout, "staged\n")
        }
        // A second pass finds the pool full: one list, nothing created.
        try await h.resetCalls()
        let again = await pool.maintain()
        XCTAssertEqual(again.created, 2)
        let calls = try await h.calls()
        XCTAssertEqual(calls, ["sandboxes.list": 1])
        // The janitor of env_1, an hour from now, neither probes nor pauses them.
        let janitor = Janitor(client: h.client, configuration: Janitor.Configuration(environmentID: "env_1"), locks: h.locks,
                              activity: SandboxActivity(), logger: h.logs.logger(), now: { Date().addingTimeInterval(3600) })
        let report = await janitor.sweep()
        XCTAssertEqual(report, Janitor.SweepReport())
        let statuses = try await poolSandboxes(h).map(\.status)
        XCTAssertEqual(statuses, [.active, .active])
        await h.close()
    }

    /// A new session takes the pool sandbox: no create and no bundle write on its
    /// critical path (lookup, then the claim-and-launch exec), the sandbox is re-tagged
    /// for the session after the hand-off (pool tags gone), the pool refills, and the
    /// janitor leaves the claimed sandbox alone while its runner runs.
    func testASessionClaimsAPoolSandboxWithoutACreateAndThePoolRefills() async throws {
        let h = try H()
        let pool = Self.pool(h, size: 1)
        await pool.maintain()
        let pooledListed = try await poolSandboxes(h)
        let pooled = try XCTUnwrap(pooledListed.first).id
        let launcher = launcher(h, pool: pool)
        try await h.resetCalls()
        let outcome = await launcher.launch(H.request(work: "w_pool", session: "sesn_pool"), context: RecordingLaunchContext())
        guard case .launched(let id, _, false) = outcome else { return XCTFail("launch failed: \(outcome)") }
        XCTAssertEqual(id, pooled)
        let critical = try await h.calls()
        XCTAssertNil(critical["sandboxes.create"], "no create for a pooled launch")
        XCTAssertNil(critical["files.write"], "the bundle was staged by the pool")
        XCTAssertNil(critical["sandboxes.activate"], "the pool holds the sandbox's token")
        await launcher.waitForBackgroundWork()
        // In all: lookup and the claim-and-launch exec before the hand-off; the metadata
        // read-modify-write (rule 18) and the probe exec (rule 30) after it.
        let all = try await h.calls()
        XCTAssertEqual(all, ["sandboxes.list": 1, "exec": 2, "sandboxes.get": 1, "sandboxes.update": 1])
        let tagged = try await h.client.getSandbox(id: pooled)
        XCTAssertEqual(tagged.metadata["cma.session_id"], "sesn_pool")
        XCTAssertEqual(tagged.metadata["cma.environment_id"], "env_1")
        XCTAssertTrue(WarmPoolPlan.poolKeys.isDisjoint(with: tagged.metadata.keys), "\(tagged.metadata)")
        XCTAssertEqual(pool.snapshot.claims[.won], 1)
        // Refill: the claimed one left the pool; the next pass creates a replacement.
        let refilled = await pool.maintain()
        XCTAssertEqual(refilled.created, 2)
        let members = try await poolSandboxes(h).map(\.id)
        XCTAssertEqual(members.count, 1)
        XCTAssertNotEqual(members.first, pooled)
        // Rule 44 with the claimed sandbox now tagged: running, so not paused.
        let janitor = Janitor(client: h.client, configuration: Janitor.Configuration(environmentID: "env_1"), locks: h.locks,
                              activity: SandboxActivity(), logger: h.logs.logger(), now: { Date().addingTimeInterval(3600) })
        let report = await janitor.sweep()
        XCTAssertEqual(report.stillRunning, [pooled])
        XCTAssertEqual(report.paused, [])
        // The same session again: found by lookup (rule 13), not claimed a second time.
        let again = await launcher.launch(H.request(work: "w_pool", session: "sesn_pool"), context: RecordingLaunchContext())
        guard case .launched(let sameID, _, true) = again else { return XCTFail("relaunch: \(again)") }
        XCTAssertEqual(sameID, pooled)
        XCTAssertEqual(pool.snapshot.claims[.won], 1)
        await h.close()
    }

    /// An empty pool falls back to a create, counted as `empty`.
    func testAnEmptyPoolFallsBackToCreate() async throws {
        let h = try H()
        let pool = Self.pool(h, size: 1)
        let launcher = launcher(h, pool: pool)
        let outcome = await launcher.launch(H.request(work: "w_e", session: "sesn_e"), context: RecordingLaunchContext())
        guard case .launched = outcome else { return XCTFail("launch failed: \(outcome)") }
        let calls = try await h.calls()
        XCTAssertEqual(calls["sandboxes.create"], 1)
        XCTAssertEqual(pool.snapshot.claims[.empty], 1)
        await launcher.waitForBackgroundWork()
        await h.close()
    }

    /// `warm_pool_max_age`: on an injected clock, a pool sandbox past the age is
    /// claimed for the recycle, deleted and replaced; a younger one is kept.
    func testPoolSandboxesOlderThanTheMaximumAgeAreRecycled() async throws {
        let h = try H()
        let clock = Locked(Date())
        let pool = Self.pool(h, size: 1, now: { clock.withLock { $0 } }) { $0.maxAge = .seconds(600) }
        await pool.maintain()
        let firstListed = try await poolSandboxes(h)
        let first = try XCTUnwrap(firstListed.first).id
        clock.withLock { $0 += 599 }
        let young = await pool.maintain()
        XCTAssertEqual(young.recycled, 0)
        clock.withLock { $0 += 2 }
        let old = await pool.maintain()
        XCTAssertEqual(old.recycled, 1)
        XCTAssertEqual(old.created, 2)
        let members = try await poolSandboxes(h).map(\.id)
        XCTAssertEqual(members.count, 1)
        XCTAssertNotEqual(members.first, first)
        do {
            _ = try await h.client.getSandbox(id: first)
            XCTFail("the recycled sandbox still exists")
        } catch {
            XCTAssertEqual(SuperserveErrorClassifier.disposition(of: error, for: .read), .notFound)
        }
        await h.close()
    }

    /// A recycle that finds the sandbox claimed by a session (whose re-tag never
    /// happened) does not delete it: it hands it to the session and the janitor.
    func testARecycleNeverDeletesASandboxASessionHolds() async throws {
        let h = try H()
        let clock = Locked(Date())
        let pool = Self.pool(h, size: 1, now: { clock.withLock { $0 } }) { $0.maxAge = .seconds(600) }
        await pool.maintain()
        let candidate = try XCTUnwrap(pool.take())
        // The session's claim, without the launch and without the re-tag.
        let claimed = try await h.client.exec(candidate.access,
                                              command: WarmPool.claimCommand(holder: "sesn_held", runnerDirectory: "/srv/cma"),
                                              timeoutSeconds: 10)
        XCTAssertEqual(claimed.exitCode, 0)
        clock.withLock { $0 += 601 }
        let snapshot = await pool.maintain()
        XCTAssertEqual(snapshot.recycled, 0)
        let kept = try await h.client.getSandbox(id: candidate.sandboxID)
        XCTAssertEqual(kept.metadata["cma.session_id"], "sesn_held")
        XCTAssertEqual(kept.metadata["cma.environment_id"], "env_1")
        XCTAssertNil(kept.metadata[WarmPoolPlan.poolTag])
        await h.close()
    }

    /// The race: two replicas (two clients, two pools, two launchers) hold the same
    /// single pool sandbox and launch two different sessions at once. Exactly one
    /// claim wins; the loser creates its own sandbox; each session ends with exactly
    /// one sandbox and each sandbox serves one session.
    func testTwoReplicasRacingForOnePoolSandboxLeaveOneWinner() async throws {
        let h = try H()
        let otherClient = SuperserveClient(configuration: h.client.configuration, transport: URLSessionTransport(),
                                           logger: h.logs.logger())
        let a = Self.pool(h, size: 1), b = Self.pool(h, size: 1, client: otherClient)
        await a.maintain()
        await b.maintain()   // B sees A's sandbox and gets its own token for it
        XCTAssertEqual(a.snapshot.ready, 1)
        XCTAssertEqual(b.snapshot.ready, 1)
        XCTAssertEqual(b.snapshot.created, 0)
        let pooledListed = try await poolSandboxes(h)
        let pooled = try XCTUnwrap(pooledListed.first).id
        let launcherA = launcher(h, pool: a), launcherB = launcher(h, pool: b, client: otherClient)
        async let first = launcherA.launch(H.request(work: "w_a", session: "sesn_a"), context: RecordingLaunchContext())
        async let second = launcherB.launch(H.request(work: "w_b", session: "sesn_b"), context: RecordingLaunchContext())
        let outcomes = await [first, second]
        var used: [String] = []
        for outcome in outcomes {
            guard case .launched(let id, _, _) = outcome else { return XCTFail("launch failed: \(outcome)") }
            used.append(id)
        }
        XCTAssertEqual(Set(used).count, 2, "two sessions, two sandboxes")
        XCTAssertTrue(used.contains(pooled))
        let won = (a.snapshot.claims[.won] ?? 0) + (b.snapshot.claims[.won] ?? 0)
        let lost = (a.snapshot.claims[.lost] ?? 0) + (b.snapshot.claims[.lost] ?? 0)
        XCTAssertEqual(won, 1)
        XCTAssertEqual(lost, 1)
        await launcherA.waitForBackgroundWork()
        await launcherB.waitForBackgroundWork()
        for session in ["sesn_a", "sesn_b"] {
            let boxes = try await h.client.listSandboxes(metadata: ["cma.session_id": session])
            XCTAssertEqual(boxes.count, 1, "\(session) has exactly one sandbox")
        }
        let winner = try await h.client.getSandbox(id: pooled).metadata["cma.session_id"]
        let holder = try await h.client.exec(SandboxAccess(try await h.client.activate(id: pooled)),
                                             command: "readlink /srv/cma/.claim", timeoutSeconds: 10)
        XCTAssertEqual(holder.stdout.trimmingCharacters(in: .whitespacesAndNewlines), winner)
        await h.close()
    }

    /// The claim command itself, run twice by the same holder (a repeated exec) and
    /// once by another: idempotent for its holder, exit 75 naming the holder otherwise.
    func testTheClaimIsIdempotentForItsHolderAndNamesItToOthers() async throws {
        let h = try H()
        let pool = Self.pool(h, size: 1)
        await pool.maintain()
        let candidate = try XCTUnwrap(pool.take())
        func claim(_ holder: String) async throws -> ExecResult {
            try await h.client.exec(candidate.access, command: WarmPool.claimCommand(holder: holder, runnerDirectory: "/srv/cma"),
                                    timeoutSeconds: 10)
        }
        let won = try await claim("sesn_x")
        XCTAssertEqual(won.exitCode, 0)
        XCTAssertNil(WarmPool.lostHolder(won))
        let again = try await claim("sesn_x")
        XCTAssertEqual(again.exitCode, 0)
        let other = try await claim("sesn_y")
        XCTAssertEqual(other.exitCode, 75)
        XCTAssertEqual(WarmPool.lostHolder(other), "sesn_x")
        XCTAssertFalse(WarmPool.isShellSafe("sesn_'; rm -rf /"))
        XCTAssertTrue(WarmPool.isShellSafe("sesn_01JEXAMPLE"))
        await h.close()
    }

    /// Rule 35, low priority: the pool makes no call while the shared bucket is less
    /// than half full (launches took it), and goes on once it has refilled.
    func testThePoolWaitsForAHalfFullBucketBeforeCalling() async throws {
        let h = try H()
        let clock = ManualClock()
        var config = h.client.configuration
        config.ratePerSecond = 10
        config.burst = 4
        let client = SuperserveClient(configuration: config, transport: URLSessionTransport(), logger: h.logs.logger(),
                                      sleeper: clock)
        for _ in 0..<3 { XCTAssertTrue(client.bucket.tryAcquire()) }   // launches took 3 of 4 tokens
        XCTAssertFalse(client.hasSpareCapacity)
        let pool = WarmPool(client: client, bundle: h.bundle, launcher: Self.launcherConfiguration(),
                            configuration: WarmPool.Configuration(environmentID: "env_1", size: 1), logger: h.logs.logger(),
                            sleeper: clock)
        try await h.resetCalls()
        let done = Locked(false)
        let task = Task {
            let snapshot = await pool.maintain()
            done.withLock { $0 = true }
            return snapshot
        }
        let parked = await clock.waitForSleepers(1)
        XCTAssertTrue(parked)
        let none = try await h.calls()
        XCTAssertEqual(none, [:], "no call while the bucket is less than half full")
        // Time moves on (the bucket refills at 10/s); every wait of the pool or the
        // bucket is let through until the pass ends.
        while !done.withLock({ $0 }) {
            let waiting = await ManualClock.waitUntil(timeout: .seconds(10)) { done.withLock { $0 } || clock.pendingSleepers > 0 }
            XCTAssertTrue(waiting)
            clock.advanceToNextDeadline()
        }
        let snapshot = await task.value
        XCTAssertEqual(snapshot.created, 1)
        let calls = try await h.calls()
        XCTAssertEqual(calls["sandboxes.create"], 1)
        await h.close()
    }

    /// A launch that wins the claim but whose launch exec fails keeps the sandbox for
    /// its session (tagged, pool tags gone), as a created sandbox would be kept.
    func testAFailedLaunchAfterAWonClaimKeepsTheSandboxForTheSession() async throws {
        let h = try H()
        let failing = try h.bundle.adding(name: "launch.sh", contents: Data("echo failing on purpose >&2; exit 3\n".utf8))
        var config = WarmPool.Configuration(environmentID: "env_1", size: 1)
        config.interval = .seconds(60)
        let pool = WarmPool(client: h.client, bundle: failing, launcher: Self.launcherConfiguration(), configuration: config,
                            logger: h.logs.logger())
        await pool.maintain()
        let listed = try await poolSandboxes(h)
        let pooled = try XCTUnwrap(listed.first).id
        let launcher = SandboxLauncher(client: h.client, bundle: failing, configuration: Self.launcherConfiguration(),
                                       locks: SessionLocks(), activity: SandboxActivity(), logger: h.logs.logger(), pool: pool)
        let outcome = await launcher.launch(H.request(work: "w_f", session: "sesn_f"), context: RecordingLaunchContext())
        guard case .failed(let failure) = outcome else { return XCTFail("expected a failure, got \(outcome)") }
        XCTAssertEqual(failure.sandboxID, pooled)
        XCTAssertTrue(failure.reason.contains("exited 3"), failure.reason)
        await launcher.waitForBackgroundWork()
        let kept = try await h.client.getSandbox(id: pooled)
        XCTAssertEqual(kept.metadata["cma.session_id"], "sesn_f")
        XCTAssertTrue(WarmPoolPlan.poolKeys.isDisjoint(with: kept.metadata.keys), "\(kept.metadata)")
        await h.close()
    }
}
