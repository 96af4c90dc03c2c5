import LocalSandboxes
@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// Optional quotas and rate limits (superserve.md §7) and exec cancellation.
final class SuperserveQuotaTests: XCTestCase {
    func testActiveSandboxQuotaAnswers429OnCreateResumeAndActivateButNotForPausedOnes() async {
        let h = SuperserveHarness { $0.maxActiveSandboxes = 1 }
        addTeardownBlock { await h.close() }
        let a = await h.create()
        let refused = await h.control(.POST, "/sandboxes", json: #"{"name":"b","from_template":"cma-runner"}"#)
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.code, "too_many_sandboxes")
        let paused = await h.pause(a.id)
        XCTAssertEqual(paused.status, 204)
        let b = await h.create(name: "b")   // a paused sandbox does not count
        for op in ["activate", "resume"] {
            let answer = await h.control(.POST, "/sandboxes/\(a.id)/\(op)")
            XCTAssertEqual(answer.status, 429, op)
            XCTAssertEqual(answer.code, "too_many_sandboxes", op)
        }
        let deleted = await h.control(.DELETE, "/sandboxes/\(b.id)")
        XCTAssertEqual(deleted.status, 204)
        let activated = await h.control(.POST, "/sandboxes/\(a.id)/activate")
        XCTAssertEqual(activated.status, 200)
    }

    func testTeamRateLimitAnswers429WithRetryAfterAndRateLimitHeaders() async {
        let h = SuperserveHarness { $0.teamRateLimit = SuperserveRateLimit(requestsPerSecond: 0.5, burst: 2) }
        addTeardownBlock { await h.close() }
        let first = await h.control(.GET, "/sandboxes"), second = await h.control(.GET, "/sandboxes")
        XCTAssertEqual([first.status, second.status], [200, 200])
        let limited = await h.control(.GET, "/sandboxes")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.code, "rate_limited")
        XCTAssertEqual(limited.headers[first: "Retry-After"], "2")
        XCTAssertEqual(limited.headers[first: "RateLimit-Remaining"], "0")
        let unauthenticated = await h.send(.GET, "/sandboxes")
        XCTAssertEqual(unauthenticated.status, 401, "the team bucket applies after auth")
    }

    func testCancellingAnExecKillsItsProcessGroup() async throws {
        let marker = "cancel-\(UUID().uuidString)"
        let request = LocalExecRequest(command: "sleep 300 & sleep 300", workingDirectory: "/tmp",
                                       environment: ["PATH": "/usr/bin:/bin", LocalSandboxProcesses.markerName: marker],
                                       timeout: .seconds(120), outputCap: 1024, drainGrace: .seconds(1))
        let exec = Task { try await LocalSandboxExec.run(request) }
        let running = await superserveEventually { LocalSandboxProcesses.pids(sandboxID: marker).count >= 2 }
        XCTAssertTrue(running)
        let started = ContinuousClock.now
        exec.cancel()
        _ = try await exec.value
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "the answer does not wait for the timeout")
        let gone = await superserveEventually { LocalSandboxProcesses.pids(sandboxID: marker).isEmpty }
        XCTAssertTrue(gone, "the whole group is killed")
    }
}
