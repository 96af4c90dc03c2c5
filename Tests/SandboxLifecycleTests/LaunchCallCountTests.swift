import Foundation
import XCTest
@testable import SandboxLifecycle

/// Rule 24 as amended, on the planner: the Superserve calls on a launch's critical
/// path per scenario (new session 3, active sandbox 2, paused 3), where the runner
/// bundle rides, and the quota wait that is not charged to the launch budget.
final class LaunchCallCountTests: XCTestCase {
    typealias T = LaunchPlannerTests
    static let ok = ExecResult(stdout: "{\"pid\":41}\n", stderr: "", exitCode: 0)

    static func settings(holds: @escaping @Sendable (String, SandboxOrigin?) -> Bool = { _, _ in false },
                         fits: Bool = true, access: @escaping @Sendable (String) -> Bool = { _ in false },
                         room: Bool = false, queued: Bool = false, budget: Duration = .seconds(150)) -> LaunchPlanner.Settings {
        LaunchPlanner.Settings(budget: budget, conflictWindow: .seconds(30), conflictInterval: .seconds(1),
                               networkPolicy: T.policy, backoff: { attempt, hint in hint ?? .seconds(1 << attempt) },
                               holdsCurrentRunner: holds, bundleFitsInExec: fits, hasDataPlaneAccess: access,
                               waitsForRoom: room, maxRoomWait: .seconds(600), roomQueued: { queued })
    }

    /// Drives a planner with `answer` standing in for Superserve; returns the steps
    /// that are Superserve calls and whether each exec carried the bundle.
    static func run(_ settings: LaunchPlanner.Settings, answer: (LaunchStep, Int) -> LaunchEvent,
                    file: StaticString = #filePath, line: UInt = #line) -> (calls: [String], carried: [Bool], last: LaunchStep) {
        var planner = LaunchPlanner(settings: settings, preparedSandboxID: nil, environmentID: T.environmentID,
                                    sessionID: T.sessionID)
        var event = LaunchEvent.started
        var calls: [String] = [], carried: [Bool] = []
        for round in 0..<20 {
            let step = planner.next(after: event, elapsed: .seconds(round))
            switch step {
            case .launched, .fail: return (calls, carried, step)
            case .readSessionMetadata: event = .sessionMetadata(.success([:]))
            case .wait: event = .waited
            case .waitForRoom: event = .roomWaited(.seconds(1))
            case .lookup: calls.append("list"); event = answer(step, round)
            case .create: calls.append("create"); event = answer(step, round)
            case .activate: calls.append("activate"); event = answer(step, round)
            case .readSandbox: calls.append("get"); event = answer(step, round)
            case .patchNetwork: calls.append("patch"); event = answer(step, round)
            case .writeBundle: calls.append("write"); event = answer(step, round)
            case .claimPooled: calls.append("claim"); event = .pooledClaim(.empty)
            case .exec:
                calls.append("exec")
                carried.append(planner.carryBundle)
                event = answer(step, carried.count - 1)   // for execs: how many came before
            }
        }
        XCTFail("no end after 20 steps", file: file, line: line)
        return (calls, carried, .fail(reason: "loop", sandboxID: nil))
    }

    func testNewSessionIsListCreateExecWithTheBundleInTheExec() {
        let outcome = Self.run(Self.settings()) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([]))
            case .create: .created(.success(T.sandbox("n1", .active)))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "create", "exec"])
        XCTAssertEqual(outcome.carried, [true], "template not known to hold the bundle: it rides in the exec")
        XCTAssertEqual(outcome.last, .launched(sandboxID: "n1", pid: 41, alreadyRunning: false))
    }

    func testFromACurrentTemplateTheExecCarriesNoBundle() {
        let outcome = Self.run(Self.settings(holds: { _, origin in origin == .created })) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([]))
            case .create: .created(.success(T.sandbox("n1", .active)))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "create", "exec"])
        XCTAssertEqual(outcome.carried, [false])
    }

    func testActiveSandboxWithAccessInHandIsListExec() {
        let outcome = Self.run(Self.settings(holds: { id, _ in id == "a1" }, access: { $0 == "a1" })) { step, _ in
            step == .lookup ? .lookedUp(.success([T.sandbox("a1", .active)])) : .executed(.success(Self.ok))
        }
        XCTAssertEqual(outcome.calls, ["list", "exec"], "an activate would answer nothing the list did not")
        XCTAssertEqual(outcome.carried, [false], "this launcher already put the current bundle there")
    }

    func testActiveSandboxWithoutAccessIsActivatedForAToken() {
        let outcome = Self.run(Self.settings()) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([T.sandbox("a1", .active)]))
            case .activate: .activated(.success(T.sandbox("a1", .active)))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "activate", "exec"])
    }

    func testActiveSandboxWithAnOlderPolicyIsActivatedAndPatched() {
        let old = NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: [])
        let outcome = Self.run(Self.settings(access: { _ in true })) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([T.sandbox("a1", .active, network: old)]))
            case .activate: .activated(.success(T.sandbox("a1", .active, network: old)))
            case .patchNetwork: .networkPatched(.success(()))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "activate", "patch", "exec"], "rule 23 before the runner")
    }

    func testPausedSandboxIsListActivateExec() {
        let outcome = Self.run(Self.settings(access: { _ in true })) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([T.sandbox("p1", .paused)]))
            case .activate: .activated(.success(T.sandbox("p1", .active)))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "activate", "exec"])
    }

    func testAVersionMismatchCostsOneExecMoreWithTheBundle() {
        let outcome = Self.run(Self.settings(holds: { _, _ in true }, access: { _ in true })) { step, earlierExecs in
            switch step {
            case .lookup: return .lookedUp(.success([T.sandbox("a1", .active)]))
            default:
                let first = ExecResult(stdout: "{\"error\":\"runner_version\"}\n", stderr: "",
                                       exitCode: RunnerVersions.versionMismatchExitCode)
                return .executed(.success(earlierExecs == 0 ? first : Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "exec", "exec"])
        XCTAssertEqual(outcome.carried, [false, true])
        XCTAssertEqual(outcome.last, .launched(sandboxID: "a1", pid: 41, alreadyRunning: false))
    }

    func testExit75WithTheBundleCarriedIsAFailureNotALoop() {
        let outcome = Self.run(Self.settings()) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([]))
            case .create: .created(.success(T.sandbox("n1", .active)))
            default: .executed(.success(ExecResult(stdout: "", stderr: "", exitCode: RunnerVersions.versionMismatchExitCode)))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "create", "exec"])
        XCTAssertEqual(outcome.last, .fail(reason: "launch.sh in sandbox n1 exited 75", sandboxID: "n1"))
    }

    func testABundleTooLargeForTheEnvIsWrittenOnceFirst() {
        let outcome = Self.run(Self.settings(fits: false)) { step, _ in
            switch step {
            case .lookup: .lookedUp(.success([]))
            case .create: .created(.success(T.sandbox("n1", .active)))
            case .writeBundle: .bundleWritten(.success(()))
            default: .executed(.success(Self.ok))
            }
        }
        XCTAssertEqual(outcome.calls, ["list", "create", "write", "exec"])
        XCTAssertEqual(outcome.carried, [false])
    }

    /// superserve.md §7: `too_many_sandboxes` parks the launch for room and then
    /// repeats the create as it is (a 429 created nothing), no lookup in between.
    func testQuotaWaitsForRoomThenCreatesAgain() {
        var planner = LaunchPlanner(settings: Self.settings(room: true), preparedSandboxID: nil,
                                    environmentID: T.environmentID, sessionID: T.sessionID)
        XCTAssertEqual(planner.next(after: .started, elapsed: .zero), .readSessionMetadata)
        XCTAssertEqual(planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero), .lookup)
        XCTAssertEqual(planner.next(after: .lookedUp(.success([])), elapsed: .zero), .create)
        XCTAssertEqual(planner.next(after: .created(.failure(T.http(429, "too_many_sandboxes"))), elapsed: .seconds(1)),
                       .waitForRoom)
        // 200 s in line: past the 150 s budget, but waiting in line is not charged to it.
        XCTAssertEqual(planner.next(after: .roomWaited(.seconds(200)), elapsed: .seconds(201)), .create)
        XCTAssertEqual(planner.next(after: .created(.success(T.sandbox("q1", .active))), elapsed: .seconds(202)),
                       .exec(sandboxID: "q1"))
        // The launch's own time still counts: 150 s of it after the wait ends it.
        XCTAssertEqual(planner.next(after: .executed(.failure(.transport(.connectionFailed("reset")))), elapsed: .seconds(349)),
                       .fail(reason: "launch budget of 150 s exhausted (last problem: launch exec: transport: connection failed: reset)",
                             sandboxID: "q1"))
    }

    func testActivateMeetingTheQuotaWaitsAndAWaitPastTheMaximumFails() {
        var planner = LaunchPlanner(settings: Self.settings(room: true), preparedSandboxID: nil,
                                    environmentID: T.environmentID, sessionID: T.sessionID)
        _ = planner.next(after: .started, elapsed: .zero)
        _ = planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        XCTAssertEqual(planner.next(after: .lookedUp(.success([T.sandbox("p1", .paused)])), elapsed: .zero),
                       .activate(sandboxID: "p1"))
        XCTAssertEqual(planner.next(after: .activated(.failure(T.http(429, "too_many_sandboxes"))), elapsed: .seconds(1)),
                       .waitForRoom)
        XCTAssertEqual(planner.next(after: .roomWaited(.seconds(300)), elapsed: .seconds(301)), .activate(sandboxID: "p1"))
        XCTAssertEqual(planner.next(after: .activated(.failure(T.http(429, "too_many_sandboxes"))), elapsed: .seconds(302)),
                       .waitForRoom)
        XCTAssertEqual(planner.next(after: .roomWaited(.seconds(301)), elapsed: .seconds(603)),
                       .fail(reason: "no room under the active-sandbox quota for 600 s", sandboxID: "p1"))
    }

    func testWithoutAQuotaRoomTheQuotaBacksOffLikeAny429() {
        var planner = LaunchPlanner(settings: Self.settings(room: false), preparedSandboxID: nil,
                                    environmentID: T.environmentID, sessionID: T.sessionID)
        _ = planner.next(after: .started, elapsed: .zero)
        _ = planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        _ = planner.next(after: .lookedUp(.success([])), elapsed: .zero)
        XCTAssertEqual(planner.next(after: .created(.failure(T.http(429, "too_many_sandboxes", retryAfter: .seconds(3)))),
                                    elapsed: .seconds(1)), .wait(.seconds(3)))
    }

    func testANewCreateJoinsTheLineWhenLaunchesWaitForRoom() {
        var planner = LaunchPlanner(settings: Self.settings(room: true, queued: true), preparedSandboxID: nil,
                                    environmentID: T.environmentID, sessionID: T.sessionID)
        _ = planner.next(after: .started, elapsed: .zero)
        _ = planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        XCTAssertEqual(planner.next(after: .lookedUp(.success([])), elapsed: .zero), .waitForRoom)
        XCTAssertEqual(planner.next(after: .roomWaited(.seconds(3)), elapsed: .seconds(3)), .create)
    }
}

/// What `RunnerVersions` learns from launches (rule 24 as amended).
final class RunnerVersionsTests: XCTestCase {
    func testTheTemplateAndEachSandboxAreLearnedFromLaunches() {
        let versions = RunnerVersions(current: "v2", capacity: 2)
        XCTAssertEqual(versions.template, .unknown)
        XCTAssertFalse(versions.holdsCurrent(sandboxID: "new", origin: .created))
        versions.launched(sandboxID: "a", origin: .created, unpacked: false)
        XCTAssertEqual(versions.template, .current, "a fresh sandbox already held it: the template is baked")
        XCTAssertTrue(versions.holdsCurrent(sandboxID: "next", origin: .created))
        XCTAssertFalse(versions.holdsCurrent(sandboxID: "found", origin: .lookedUp), "found sandboxes are not the template's")
        versions.launched(sandboxID: "b", origin: .created, unpacked: true)
        XCTAssertEqual(versions.template, .older, "a fresh sandbox needed the bundle")
        XCTAssertTrue(versions.holdsCurrent(sandboxID: "b", origin: .lookedUp), "it holds it now")
        versions.launched(sandboxID: "c", origin: .lookedUp, unpacked: true)
        XCTAssertFalse(versions.holdsCurrent(sandboxID: "a", origin: .lookedUp), "past the capacity the oldest is forgotten")
        versions.mismatch(sandboxID: "c", origin: .lookedUp)
        XCTAssertFalse(versions.holdsCurrent(sandboxID: "c", origin: .lookedUp))
    }
}
