import Foundation
import XCTest
@testable import SandboxLifecycle

/// The warm pool's pure parts: the maintenance plan and the launch planner's pool
/// steps, as decision tables.
final class WarmPoolPlanTests: XCTestCase {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let digest = "abc123"

    static func member(_ id: String, _ status: SandboxStatus = .active, age: TimeInterval = 10, state: String = "ready",
                       digest: String = WarmPoolPlanTests.digest) -> Sandbox {
        Sandbox(id: id, status: status, metadata: [
            WarmPoolPlan.poolTag: "env_1", WarmPoolPlan.stateTag: state,
            WarmPoolPlan.pooledAtTag: Timestamp.format(t0.addingTimeInterval(-age)), WarmPoolPlan.bundleTag: digest,
        ])
    }

    func plan(_ listed: [Sandbox], size: Int = 3, excluded: Set<String> = []) -> WarmPoolPlan {
        WarmPoolPlan.make(listed: listed, now: Self.t0, size: size, maxAge: .seconds(3600), stagingTimeout: .seconds(300),
                          bundleDigest: Self.digest, excluded: excluded)
    }

    func testPlanTable() {
        let m = Self.member
        struct Row { var name: String; var listed: [Sandbox]; var excluded: Set<String> = []
                     var ready: [String]; var pending: Int; var recycle: [String]; var create: Int; var line: UInt = #line }
        let rows: [Row] = [
            Row(name: "empty pool: create the size", listed: [], ready: [], pending: 0, recycle: [], create: 3),
            Row(name: "ready members, oldest first; paused ones count (rule 32's refresh wakes them)",
                listed: [m("b", .active, 10, "ready", Self.digest), m("a", .paused, 20, "ready", Self.digest)],
                ready: ["a", "b"], pending: 0, recycle: [], create: 1),
            Row(name: "staging and transitional members count but are not claimable",
                listed: [m("s", .active, 10, "staging", Self.digest), m("r", .resuming, 10, "ready", Self.digest)],
                ready: [], pending: 2, recycle: [], create: 1),
            Row(name: "older than the maximum age: recycled (even when excluded or of another bundle)",
                listed: [m("old", .active, 3601, "ready", Self.digest), m("x", .active, 3700, "ready", "other")],
                excluded: ["old"], ready: [], pending: 0, recycle: ["old:age", "x:age"], create: 3),
            Row(name: "failed: recycled; staging past its timeout: recycled",
                listed: [m("f", .failed, 10, "ready", Self.digest), m("st", .active, 301, "staging", Self.digest)],
                ready: [], pending: 0, recycle: ["f:failed", "st:staging"], create: 3),
            Row(name: "another bundle's members are neither claimed nor counted",
                listed: [m("v1", .active, 10, "ready", "other")], ready: [], pending: 0, recycle: [], create: 3),
            Row(name: "taken by this process (claimed, not yet re-tagged): not offered, not counted",
                listed: [m("t", .active, 10, "ready", Self.digest)], excluded: ["t", "gone"],
                ready: [], pending: 0, recycle: [], create: 3),
        ]
        for row in rows {
            let p = plan(row.listed, excluded: row.excluded)
            XCTAssertEqual(p.ready.map(\.id), row.ready, row.name, line: row.line)
            XCTAssertEqual(p.pending, row.pending, row.name, line: row.line)
            XCTAssertEqual(p.recycle.map { "\($0.0.id):\($0.1.rawValue)" }, row.recycle, row.name, line: row.line)
            XCTAssertEqual(p.create, row.create, row.name, line: row.line)
        }
        XCTAssertEqual(plan([m("t", .active, 10, "ready", Self.digest)], excluded: ["t", "gone"]).forget, ["gone"])
    }

    static func settings() -> LaunchPlanner.Settings {
        var s = LaunchPlannerTests.settings()
        s.warmPool = true
        return s
    }

    /// The launch planner with a pool: lookup empty → claim; a lost claim → the next
    /// one, at most three, then create; an empty pool → create; a won claim's exec
    /// answer is the launch; a transient failure repeats the same claim exec.
    func testPlannerClaimsBeforeCreating() {
        let ok = LaunchPlannerTests.ok
        var p = LaunchPlanner(settings: Self.settings(), preparedSandboxID: nil, environmentID: "env_1", sessionID: "sesn_1")
        XCTAssertEqual(p.next(after: .started, elapsed: .zero), .readSessionMetadata)
        XCTAssertEqual(p.next(after: .sessionMetadata(.success([:])), elapsed: .zero), .lookup)
        XCTAssertEqual(p.next(after: .lookedUp(.success([])), elapsed: .zero), .claimPooled(retrying: nil))
        XCTAssertEqual(p.next(after: .pooledClaim(.lost(sandboxID: "p1")), elapsed: .zero), .claimPooled(retrying: nil))
        XCTAssertEqual(p.next(after: .pooledClaim(.ran(sandboxID: "p2", .failure(.transport(.timedOut)))), elapsed: .zero),
                       .wait(.seconds(1)))
        XCTAssertEqual(p.next(after: .waited, elapsed: .seconds(1)), .claimPooled(retrying: "p2"))
        XCTAssertEqual(p.next(after: .pooledClaim(.ran(sandboxID: "p2", .success(ok))), elapsed: .seconds(2)),
                       .launched(sandboxID: "p2", pid: 4127, alreadyRunning: false))
        XCTAssertEqual(p.origin, .pooled)

        var lost = LaunchPlanner(settings: Self.settings(), preparedSandboxID: nil, environmentID: "env_1", sessionID: "sesn_1")
        _ = lost.next(after: .started, elapsed: .zero)
        _ = lost.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        XCTAssertEqual(lost.next(after: .lookedUp(.success([])), elapsed: .zero), .claimPooled(retrying: nil))
        XCTAssertEqual(lost.next(after: .pooledClaim(.lost(sandboxID: "a")), elapsed: .zero), .claimPooled(retrying: nil))
        XCTAssertEqual(lost.next(after: .pooledClaim(.ran(sandboxID: "b", .failure(.http(status: 404, code: nil, message: "x", retryAfter: nil)))),
                                 elapsed: .zero), .claimPooled(retrying: nil))
        XCTAssertEqual(lost.next(after: .pooledClaim(.lost(sandboxID: "c")), elapsed: .zero), .create, "three tries, then create")

        var empty = LaunchPlanner(settings: Self.settings(), preparedSandboxID: nil, environmentID: "env_1", sessionID: "sesn_1")
        _ = empty.next(after: .started, elapsed: .zero)
        _ = empty.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        _ = empty.next(after: .lookedUp(.success([])), elapsed: .zero)
        XCTAssertEqual(empty.next(after: .pooledClaim(.empty), elapsed: .zero), .create)
        // Rule 16 after a failed create: lookup again, and the empty pool is not asked again.
        XCTAssertEqual(empty.next(after: .created(.failure(.transport(.timedOut))), elapsed: .zero), .wait(.seconds(1)))
        XCTAssertEqual(empty.next(after: .waited, elapsed: .seconds(1)), .lookup)
        XCTAssertEqual(empty.next(after: .lookedUp(.success([])), elapsed: .seconds(1)), .create)

        // Without a pool nothing changes (rule 24's common case).
        var none = LaunchPlanner(settings: LaunchPlannerTests.settings(), preparedSandboxID: nil, environmentID: "env_1",
                                 sessionID: "sesn_1")
        _ = none.next(after: .started, elapsed: .zero)
        _ = none.next(after: .sessionMetadata(.success([:])), elapsed: .zero)
        XCTAssertEqual(none.next(after: .lookedUp(.success([])), elapsed: .zero), .create)
    }

    /// The pool digest: the same for the same runner files and profile whenever the
    /// archive was built; different when a file, the template or the egress differs.
    func testTheDigestFollowsTheRunnerFilesAndTheProfile() throws {
        let bundle = try RunnerBundle.load(from: RunnerBundleTests.runnerDirectory)
        let base = LauncherConfiguration()
        var egress = base
        egress.extraAllowOut = ["pypi.org"]
        var template = base
        template.template = "cma-other"
        let digest = WarmPool.digest(bundle, profile: base)
        XCTAssertEqual(digest, WarmPool.digest(try RunnerBundle(entries: bundle.entries, modificationTime: 1), profile: base))
        XCTAssertNotEqual(digest, WarmPool.digest(bundle, profile: egress))
        XCTAssertNotEqual(digest, WarmPool.digest(bundle, profile: template))
        XCTAssertNotEqual(digest, WarmPool.digest(try bundle.adding(name: "extra.py", contents: Data("x".utf8)), profile: base))
    }
}
