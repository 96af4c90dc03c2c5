import Foundation
import XCTest
@testable import SandboxLifecycle

/// Decision tables for the launch's pure core: observed state → next call.
final class LaunchPlannerTests: XCTestCase {
    static let policy = NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: ["0.0.0.0/0"])

    /// Deterministic backoff for the tables: the hint if any, else 1 s × 2^attempt.
    static func settings(budget: Duration = .seconds(150)) -> LaunchPlanner.Settings {
        LaunchPlanner.Settings(budget: budget, conflictWindow: .seconds(30), conflictInterval: .seconds(1),
                               networkPolicy: policy,
                               backoff: { attempt, hint in hint ?? .seconds(1 << attempt) })
    }

    static func sandbox(_ id: String, _ status: SandboxStatus, created: TimeInterval = 0,
                        network: NetworkPolicy? = policy) -> Sandbox {
        Sandbox(id: id, status: status, createdAt: Date(timeIntervalSince1970: 1_800_000_000 + created),
                network: network, accessToken: "token-TEST")
    }

    static let environmentID = "env_1"
    static let sessionID = "sesn_1"

    /// A sandbox tagged as prepared for this environment (rule 12 as amended).
    static func tagged(_ id: String, _ status: SandboxStatus, _ extra: [String: String] = [:]) -> Sandbox {
        var box = sandbox(id, status)
        box.metadata = ["cma.prepared_for": environmentID].merging(extra) { _, new in new }
        return box
    }

    /// Rows with a prepared id in the item start with its tag check (rule 12): the
    /// read of a correctly tagged sandbox goes before the row's own first activate.
    static func throughTagCheck(_ row: Row) -> [(LaunchEvent, Duration, LaunchStep)] {
        guard let id = row.prepared, let first = row.steps.first, case .started = first.0,
              first.2 == .activate(sandboxID: id) else { return row.steps }
        return [(.started, .zero, .readSandbox(sandboxID: id)),
                (.sandboxRead(.success(tagged(id, .active))), .zero, .activate(sandboxID: id))] + row.steps.dropFirst()
    }

    static func http(_ status: Int, _ code: String? = nil, retryAfter: Duration? = nil) -> SandboxLifecycleError {
        .http(status: status, code: code, message: "test", retryAfter: retryAfter)
    }

    struct Row {
        var name: String
        var prepared: String?
        /// Each event with the elapsed time at which it is observed and the expected next step.
        var steps: [(LaunchEvent, Duration, LaunchStep)]
        var line: UInt = #line
    }

    static let ok = ExecResult(stdout: "{\"pid\":4127}\n", stderr: "", exitCode: 0)

    func testDecisionTables() {
        let s = Self.self
        let rows: [Row] = [
            Row(name: "rule 11/24: no prepared id in the item → session GET → lookup → create → exec (the bundle rides in the exec)", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .seconds(1), .lookup),
                (.lookedUp(.success([])), .seconds(1), .create),
                (.created(.success(s.sandbox("sb1", .active))), .seconds(5), .exec(sandboxID: "sb1")),
                (.executed(.success(s.ok)), .seconds(7), .launched(sandboxID: "sb1", pid: 4127, alreadyRunning: false)),
            ]),
            Row(name: "rule 11/24: prepared id in work metadata → activate directly, no session GET, no lookup", prepared: "prep", steps: [
                (.started, .zero, .activate(sandboxID: "prep")),
                (.activated(.success(s.sandbox("prep", .active))), .seconds(1), .exec(sandboxID: "prep")),
            ]),
            Row(name: "rule 11/12: prepared id in session metadata → read its tags, then activate it", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success(["superserve.sandbox_id": "prep2"])), .seconds(1), .readSandbox(sandboxID: "prep2")),
                (.sandboxRead(.success(s.tagged("prep2", .paused))), .seconds(2), .activate(sandboxID: "prep2")),
            ]),
            Row(name: "rule 11: an empty prepared id in session metadata is no id", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success(["superserve.sandbox_id": ""])), .seconds(1), .lookup),
            ]),
            Row(name: "rule 33: session 404 fails without a sandbox", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.failure(.notFound)), .seconds(1), .fail(reason: "session not found (404)", sandboxID: nil)),
            ]),
            Row(name: "rule 33: a transient session error backs off and reads again", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.failure(.transient("503", retryAfter: nil))), .seconds(1), .wait(.seconds(1))),
                (.waited, .seconds(2), .readSessionMetadata),
            ]),
            Row(name: "rule 12: prepared id 404 on activate fails, never creates", prepared: "prep", steps: [
                (.started, .zero, .activate(sandboxID: "prep")),
                (.activated(.failure(s.http(404, "not_found"))), .seconds(1),
                 .fail(reason: "prepared sandbox prep is unusable: not found (404)", sandboxID: "prep")),
            ]),
            Row(name: "rule 12: prepared sandbox read as failed after a 409 fails the launch", prepared: "prep", steps: [
                (.started, .zero, .activate(sandboxID: "prep")),
                (.activated(.failure(s.http(409, "sandbox_failed"))), .seconds(1), .readSandbox(sandboxID: "prep")),
                (.sandboxRead(.success(s.sandbox("prep", .failed))), .seconds(2),
                 .fail(reason: "prepared sandbox prep is unusable: status failed", sandboxID: "prep")),
            ]),
            Row(name: "rule 13/14: failed and deleted are dropped; active preferred over newer paused", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("f", .failed, created: 9), s.sandbox("p", .paused, created: 5),
                                     s.sandbox("a", .active, created: 1), s.sandbox("d", .deleted, created: 8)])),
                 .seconds(1), .activate(sandboxID: "a")),
            ]),
            Row(name: "rule 13: only failed sandboxes → create", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("f", .failed)])), .seconds(1), .create),
            ]),
            Row(name: "rule 13: a sandbox mid-transition (starting/unknown) counts as existing", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("m", .unknown("migrating2"))])), .seconds(1), .activate(sandboxID: "m")),
            ]),
            Row(name: "rule 16: create timeout → look up again, not create", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([])), .zero, .create),
                (.created(.failure(.transport(.timedOut))), .seconds(75), .wait(.seconds(1))),
                (.waited, .seconds(76), .lookup),
                (.lookedUp(.success([s.sandbox("twin", .active)])), .seconds(77), .activate(sandboxID: "twin")),
            ]),
            Row(name: "rule 16: create 500 and 429 → look up again (hint honoured)", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([])), .zero, .create),
                (.created(.failure(s.http(500, "internal_error"))), .seconds(1), .wait(.seconds(1))),
                (.waited, .seconds(2), .lookup),
                (.lookedUp(.success([])), .seconds(2), .create),
                (.created(.failure(s.http(429, "rate_limited", retryAfter: .seconds(7)))), .seconds(3), .wait(.seconds(7))),
                (.waited, .seconds(10), .lookup),
            ]),
            Row(name: "rule 33: create 409 (template not ready) → create again after backoff", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([])), .zero, .create),
                (.created(.failure(s.http(409, "conflict"))), .seconds(1), .wait(.seconds(1))),
                (.waited, .seconds(2), .create),
            ]),
            Row(name: "rule 33: create 400 is fatal", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([])), .zero, .create),
                (.created(.failure(s.http(400, "bad_request"))), .seconds(1),
                 .fail(reason: "sandbox create failed: HTTP 400 bad_request: test", sandboxID: nil)),
            ]),
            Row(name: "rule 20: sandbox_pausing → retry activate every second", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("p", .pausing)])), .zero, .activate(sandboxID: "p")),
                (.activated(.failure(s.http(409, "sandbox_pausing"))), .seconds(1), .wait(.seconds(1))),
                (.waited, .seconds(2), .activate(sandboxID: "p")),
                (.activated(.success(s.sandbox("p", .active))), .seconds(3), .exec(sandboxID: "p")),
            ]),
            Row(name: "rule 20: conflicts stop after the 30 s window", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("p", .pausing)])), .zero, .activate(sandboxID: "p")),
                (.activated(.failure(s.http(409, "sandbox_pausing"))), .seconds(1), .wait(.seconds(1))),
                (.waited, .seconds(2), .activate(sandboxID: "p")),
                (.activated(.failure(s.http(409, "sandbox_pausing"))), .seconds(31),
                 .fail(reason: "sandbox p stayed pausing for 30 s", sandboxID: "p")),
            ]),
            Row(name: "rule 20: other 409 → read; starting → wait and activate again", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("s", .starting)])), .zero, .activate(sandboxID: "s")),
                (.activated(.failure(s.http(409, "conflict"))), .seconds(7), .readSandbox(sandboxID: "s")),
                (.sandboxRead(.success(s.sandbox("s", .resuming))), .seconds(8), .wait(.seconds(1))),
                (.waited, .seconds(9), .activate(sandboxID: "s")),
            ]),
            Row(name: "rule 20: looked-up sandbox read as failed → dropped, look up again, then create", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("x", .active)])), .zero, .activate(sandboxID: "x")),
                (.activated(.failure(s.http(409, "sandbox_failed"))), .seconds(1), .readSandbox(sandboxID: "x")),
                (.sandboxRead(.success(s.sandbox("x", .failed))), .seconds(2), .lookup),
                (.lookedUp(.success([])), .seconds(3), .create),
            ]),
            Row(name: "rule 20: 404 on a looked-up sandbox → back to lookup, the stale id is skipped", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("old", .paused)])), .zero, .activate(sandboxID: "old")),
                (.activated(.failure(s.http(404, "not_found"))), .seconds(1), .lookup),
                (.lookedUp(.success([s.sandbox("old", .paused)])), .seconds(2), .create),
            ]),
            Row(name: "rule 20: 429 too_many_sandboxes backs off within the budget", prepared: "q", steps: [
                (.started, .zero, .activate(sandboxID: "q")),
                (.activated(.failure(s.http(429, "too_many_sandboxes", retryAfter: .seconds(5)))), .seconds(1), .wait(.seconds(5))),
                (.waited, .seconds(6), .activate(sandboxID: "q")),
            ]),
            Row(name: "rule 33: activate 403 is fatal", prepared: "q", steps: [
                (.started, .zero, .activate(sandboxID: "q")),
                (.activated(.failure(s.http(403, "unauthorized"))), .seconds(1),
                 .fail(reason: "activate of sandbox q failed: HTTP 403 unauthorized: test", sandboxID: "q")),
            ]),
            Row(name: "rule 23: found sandbox with an older policy → PATCH before the runner", steps: [
                (.started, .zero, .readSessionMetadata),
                (.sessionMetadata(.success([:])), .zero, .lookup),
                (.lookedUp(.success([s.sandbox("o", .paused)])), .zero, .activate(sandboxID: "o")),
                (.activated(.success(s.sandbox("o", .active, network: NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: []))))
                 , .seconds(2), .patchNetwork(sandboxID: "o")),
                (.networkPatched(.success(())), .seconds(3), .exec(sandboxID: "o")),
            ]),
            Row(name: "rule 23: no network at all → PATCH", prepared: "n", steps: [
                (.started, .zero, .activate(sandboxID: "n")),
                (.activated(.success(s.sandbox("n", .active, network: nil))), .seconds(1), .patchNetwork(sandboxID: "n")),
            ]),
            Row(name: "rule 23: same rules in another order (CIDRs first) → no PATCH", prepared: "n", steps: [
                (.started, .zero, .activate(sandboxID: "n")),
                (.activated(.success(s.sandbox("n", .active, network: NetworkPolicy(
                    allowOut: ["api.anthropic.com"], denyOut: ["0.0.0.0/0"])))), .seconds(1), .exec(sandboxID: "n")),
            ]),
            Row(name: "rule 23: PATCH 409 (no longer active) → activate again after a second", prepared: "n", steps: [
                (.started, .zero, .activate(sandboxID: "n")),
                (.activated(.success(s.sandbox("n", .active, network: nil))), .seconds(1), .patchNetwork(sandboxID: "n")),
                (.networkPatched(.failure(s.http(409, "conflict"))), .seconds(2), .wait(.seconds(1))),
                (.waited, .seconds(3), .activate(sandboxID: "n")),
            ]),
            Row(name: "rule 31: launch.sh reports an already running runner", prepared: "r", steps: [
                (.started, .zero, .activate(sandboxID: "r")),
                (.activated(.success(s.sandbox("r", .active))), .seconds(1), .exec(sandboxID: "r")),
                (.executed(.success(ExecResult(stdout: "{\"pid\":77,\"already_running\":true}\n", stderr: "", exitCode: 0))),
                 .seconds(3), .launched(sandboxID: "r", pid: 77, alreadyRunning: true)),
            ]),
            Row(name: "rule 30: no integer pid → failure", prepared: "r", steps: [
                (.started, .zero, .activate(sandboxID: "r")),
                (.activated(.success(s.sandbox("r", .active))), .seconds(1), .exec(sandboxID: "r")),
                (.executed(.success(ExecResult(stdout: "{\"pid\":\"12\"}\n", stderr: "", exitCode: 0))), .seconds(3),
                 .fail(reason: "launch.sh in sandbox r printed no pid", sandboxID: "r")),
            ]),
            Row(name: "rule 29: launch.sh exiting non-zero fails with the sandbox id", prepared: "r", steps: [
                (.started, .zero, .activate(sandboxID: "r")),
                (.activated(.success(s.sandbox("r", .active))), .seconds(1), .exec(sandboxID: "r")),
                (.executed(.success(ExecResult(stdout: "", stderr: "tar: error", exitCode: 2))), .seconds(3),
                 .fail(reason: "launch.sh in sandbox r exited 2", sandboxID: "r")),
            ]),
            Row(name: "rule 32/33: data-plane 502 backs off and execs again; 400 is fatal", prepared: "r", steps: [
                (.started, .zero, .activate(sandboxID: "r")),
                (.activated(.success(s.sandbox("r", .active))), .seconds(1), .exec(sandboxID: "r")),
                (.executed(.failure(s.http(502, retryAfter: .seconds(2)))), .seconds(2), .wait(.seconds(2))),
                (.waited, .seconds(4), .exec(sandboxID: "r")),
                (.executed(.failure(s.http(400))), .seconds(6),
                 .fail(reason: "launch exec in sandbox r failed: HTTP 400 -: test", sandboxID: "r")),
            ]),
            Row(name: "rule 31: an exec whose answer was lost is repeated (launch.sh is idempotent)", prepared: "r", steps: [
                (.started, .zero, .activate(sandboxID: "r")),
                (.activated(.success(s.sandbox("r", .active))), .seconds(1), .exec(sandboxID: "r")),
                (.executed(.failure(.transport(.connectionFailed("reset")))), .seconds(3), .wait(.seconds(1))),
                (.waited, .seconds(4), .exec(sandboxID: "r")),
            ]),
            Row(name: "rule 37: a wait that would cross the budget fails the launch", prepared: "q", steps: [
                (.started, .zero, .activate(sandboxID: "q")),
                (.activated(.failure(s.http(503, "service_unavailable", retryAfter: .seconds(20)))), .seconds(140),
                 .fail(reason: "launch budget of 150 s exhausted (last problem: activate: HTTP 503 service_unavailable: test)",
                       sandboxID: "q")),
            ]),
            Row(name: "rule 37: no call starts once the budget is spent", prepared: "q", steps: [
                (.started, .zero, .activate(sandboxID: "q")),
                (.activated(.success(s.sandbox("q", .active))), .seconds(150),
                 .fail(reason: "launch budget of 150 s exhausted (last problem: none)", sandboxID: "q")),
            ]),
        ]
        for row in rows {
            var planner = LaunchPlanner(settings: Self.settings(), preparedSandboxID: row.prepared,
                                        environmentID: Self.environmentID, sessionID: Self.sessionID)
            for (index, (event, elapsed, expected)) in Self.throughTagCheck(row).enumerated() {
                let step = planner.next(after: event, elapsed: elapsed)
                XCTAssertEqual(step, expected, "\(row.name), step \(index)", line: row.line)
                if step != expected { break }
            }
        }
    }

    /// Rule 12 (amended): a prepared sandbox is adopted only when tagged as prepared
    /// for this environment and not bound to another session; otherwise the launch
    /// fails before any activate, naming the tag, and names no sandbox to touch.
    func testAPreparedSandboxIsAdoptedOnlyWhenTaggedForThisEnvironmentAndFree() {
        let cases: [([String: String], String?)] = [
            (["cma.prepared_for": "env_1"], nil),
            (["cma.prepared_for": "env_1", "cma.session_id": "sesn_1"], nil),
            (["cma.prepared_for": "env_1", "cma.session_id": ""], nil),
            ([:], "tag cma.prepared_for is missing"),
            (["team": "demo", "cma.session_id": "sesn_1"], "tag cma.prepared_for is missing"),
            (["cma.prepared_for": ""], "tag cma.prepared_for is missing"),
            (["cma.prepared_for": "env_other"], "tag cma.prepared_for names another environment"),
            (["cma.prepared_for": "env_1", "cma.session_id": "sesn_other"], "tag cma.session_id names another session"),
            (["cma.environment_id": "env_1"], "tag cma.prepared_for is missing"),
        ]
        for (metadata, refusal) in cases {
            var planner = LaunchPlanner(settings: Self.settings(), preparedSandboxID: "prep",
                                        environmentID: Self.environmentID, sessionID: Self.sessionID)
            XCTAssertEqual(planner.next(after: .started, elapsed: .zero), .readSandbox(sandboxID: "prep"))
            var box = Self.sandbox("prep", .paused)
            box.metadata = metadata
            let expected: LaunchStep = refusal.map { .fail(reason: "prepared sandbox prep refused: \($0)", sandboxID: nil) }
                ?? .activate(sandboxID: "prep")
            XCTAssertEqual(planner.next(after: .sandboxRead(.success(box)), elapsed: .seconds(1)), expected, "\(metadata)")
        }
    }

    func testPreparedIdIsTakenFromWorkMetadataThenDataMetadata() {
        let key = LaunchPlanner.preparedKey
        let cases: [([String: String], [String: String]?, String?)] = [
            ([key: "w"], [key: "d"], "w"),
            ([:], [key: "d"], "d"),
            ([key: ""], [key: "d"], "d"),
            ([:], nil, nil),
            (["other": "x"], ["other": "y"], nil),
        ]
        for (work, data, expected) in cases {
            XCTAssertEqual(LaunchPlanner.preparedSandboxID(workMetadata: work, dataMetadata: data), expected)
        }
    }

    func testChoiceIsDeterministicNewestFirstWithinARankAndListsTheExtras() {
        let s = Self.self
        let list = [s.sandbox("old-active", .active, created: 1), s.sandbox("new-active", .active, created: 5),
                    s.sandbox("resuming", .resuming, created: 9), s.sandbox("paused", .paused, created: 10),
                    s.sandbox("failed", .failed, created: 11)]
        let choice = LaunchPlanner.choose(from: list)
        XCTAssertEqual(choice?.chosen.id, "new-active")
        XCTAssertEqual(choice?.extras.map(\.id), ["old-active", "resuming", "paused"])
        XCTAssertEqual(LaunchPlanner.choose(from: list.shuffled())?.chosen.id, "new-active")
        XCTAssertEqual(LaunchPlanner.choose(from: [s.sandbox("p", .pausing, created: 1), s.sandbox("s", .starting, created: 0)])?.chosen.id, "s")
    }

    func testLookupExtrasAreExposedForLoggingAndNeverDropped() {
        var planner = LaunchPlanner(settings: Self.settings(), preparedSandboxID: nil,
                                    environmentID: Self.environmentID, sessionID: Self.sessionID)
        _ = planner.next(after: .started, elapsed: .zero)
        _ = planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        let step = planner.next(after: .lookedUp(.success([Self.sandbox("a", .active, created: 2), Self.sandbox("b", .paused, created: 1)])),
                                elapsed: .zero)
        XCTAssertEqual(step, .activate(sandboxID: "a"))
        XCTAssertEqual(planner.lookupExtras, ["b"])
        XCTAssertEqual(planner.origin, .lookedUp)
    }

    func testTransientBackoffGrowsAndResetsAfterASuccess() {
        var planner = LaunchPlanner(settings: Self.settings(), preparedSandboxID: nil,
                                    environmentID: Self.environmentID, sessionID: Self.sessionID)
        _ = planner.next(after: .started, elapsed: .zero)
        _ = planner.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        XCTAssertEqual(planner.next(after: .lookedUp(.failure(Self.http(503))), elapsed: .zero), .wait(.seconds(1)))
        XCTAssertEqual(planner.next(after: .waited, elapsed: .seconds(1)), .lookup)
        XCTAssertEqual(planner.next(after: .lookedUp(.failure(.transport(.timedOut))), elapsed: .seconds(2)), .wait(.seconds(2)))
        XCTAssertEqual(planner.next(after: .waited, elapsed: .seconds(4)), .lookup)
        XCTAssertEqual(planner.next(after: .lookedUp(.failure(Self.http(401))), elapsed: .seconds(5)),
                       .fail(reason: "sandbox lookup failed: HTTP 401 -: test", sandboxID: nil))
    }
}
