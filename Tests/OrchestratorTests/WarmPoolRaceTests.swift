import Foundation
import JSON
import TestSupport
import XCTest

/// The warm-pool claim race through the built binary: two `serve` processes (two
/// replicas, draining every second) with `CMA_WARM_POOL` on the same emulators share one pool and take
/// sessions at the same time. Every session ends with exactly one sandbox and a
/// runner that served it; every sandbox holds at most one session, and the claim
/// link inside each pool sandbox names the session its tags name.
final class WarmPoolRaceTests: XCTestCase {
    static let environmentID = "env_poolrace"

    func testTwoServeProcessesClaimingFromOnePoolNeverShareASandbox() async throws {
        let upstreams = try UpstreamEmulators(environmentID: Self.environmentID, environmentKey: "sk-ant-oat01-POOLRACEKEY",
                                              template: "cma-runner", pythonBin: try Harness.sdkPythonBin())
        var env = upstreams.variables
        env["ANTHROPIC_ENVIRONMENT_ID"] = Self.environmentID
        env["ANTHROPIC_ENVIRONMENT_KEY"] = "sk-ant-oat01-POOLRACEKEY"
        env["CMA_WARM_POOL"] = "3"
        // No webhook reaches these replicas: each drains the queue on its timer, every second.
        env["CMA_DRAIN_INTERVAL_SECONDS"] = "1"
        // A long interval keeps each replica's view of the pool stale between its own
        // claims, so both go for the same oldest sandbox: the race this test is about.
        env["CMA_WARM_POOL_INTERVAL_SECONDS"] = "30"
        // One launch at a time per replica, so that both replicas take sessions.
        env["CMA_LAUNCH_SLOTS"] = "1"
        env["CMA_SUPERSERVE_RATE"] = "200"
        env["CMA_SUPERSERVE_BURST"] = "200"
        let a = try await ServeProcess(arguments: ["serve", "--port", "0"], environment: env)
        // The second replica starts once the first filled the pool, as in a running
        // deployment: it finds the same 3 sandboxes (and creates none), so both hold
        // the same candidates and go for the same oldest one.
        let filled = await eventually { (try? await self.poolMembers(upstreams, state: "ready").count) == 3 }
        let b: ServeProcess
        do {
            XCTAssertTrue(filled, "the pool did not fill: \(a.text.suffix(2000))")
            b = try await ServeProcess(arguments: ["serve", "--port", "0"], environment: env)
        } catch {
            a.stop()
            await upstreams.close()
            throw error
        }
        func finish() async {
            a.stop()
            b.stop()
            await upstreams.close()
        }
        do {
            let shared = await eventually {
                let status = try? await RunningInstance.call("GET", URL(string: b.base + "/status")!)
                return status?.body.contains(#""warm_pool":{"size":3,"ready":3"#) ?? false
            }
            XCTAssertTrue(shared, "the second replica does not see the pool: \(b.text.suffix(2000))")
            let members = try await poolMembers(upstreams, state: "ready")
            XCTAssertEqual(members.count, 3, "one pool of 3 for both replicas, not 3 each")
            // 300 ms per Superserve call: a launch lasts long enough that the other
            // replica's drain (every second) takes sessions too.
            let faults = try await upstreams.call("POST", upstreams.superserveURL + "/_emulator/superserve/faults",
                                                  json: #"{"latency_ms":300}"#)
            XCTAssertEqual(faults.status, 200, faults.body)
            let sessions = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        try await upstreams.createSession(environmentID: Self.environmentID, command: "echo served-\(i)")
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        let result = try await upstreams.toolResult(session)
                        XCTAssertTrue(result.hasPrefix("served-"), "\(session): \(result)")
                    }
                }
                try await group.waitForAll()
            }
            // Every session: exactly one sandbox; no sandbox serves two sessions.
            var used: [String: String] = [:]
            for session in sessions {
                let boxes = try await upstreams.sandboxes(session: session)
                XCTAssertEqual(boxes.count, 1, "\(session) has \(boxes.count) sandboxes")
                if let id = boxes.first?["id"] as? String {
                    XCTAssertNil(used[id], "sandbox \(id) serves \(used[id] ?? "") and \(session)")
                    used[id] = session
                }
            }
            XCTAssertEqual(used.count, sessions.count)
            // Inside each claimed pool sandbox the claim link names the same session.
            var claimedFromPool = 0
            for (id, session) in used {
                let link = upstreams.sandboxes.appendingPathComponent(id).appendingPathComponent("fs/srv/cma/.claim").path
                guard let holder = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else { continue }
                claimedFromPool += 1
                XCTAssertEqual(holder, session, "sandbox \(id)")
            }
            let won = try await claims(a, "won") + claims(b, "won")
            let lost = try await claims(a, "lost") + claims(b, "lost")
            XCTAssertEqual(won, claimedFromPool, "every won claim is one sandbox holding one session")
            XCTAssertGreaterThanOrEqual(won, 1, "the pool served sessions")
            let perReplica = [try await claims(a, "won") + claims(a, "lost"), try await claims(b, "won") + claims(b, "lost")]
            print("warm pool race: claims by replica \(perReplica), \(won) won, \(lost) lost, \(sessions.count - won) sessions created a sandbox")
            for serve in [a, b] {
                let status = try await RunningInstance.call("GET", URL(string: serve.base + "/status")!)
                XCTAssertTrue(status.body.contains(#""warm_pool":{"size":3"#), status.body)
            }
        } catch {
            await finish()
            throw error
        }
        XCTAssertTrue(a.stop())
        XCTAssertTrue(b.stop())
        XCTAssertFalse(a.text.contains("POOLRACEKEY") || b.text.contains("POOLRACEKEY"), "a secret reached the logs")
        await upstreams.close()
    }

    /// Pool members (tag `cma.pool`) in `state`.
    func poolMembers(_ upstreams: UpstreamEmulators, state: String) async throws -> [[String: Any]] {
        let answer = try await upstreams.call("GET", upstreams.superserveURL + "/sandboxes?metadata.cma.pool=\(Self.environmentID)",
                                              headers: [("X-API-Key", UpstreamEmulators.superserveKey)])
        let all = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]] ?? []
        return all.filter { ($0["metadata"] as? [String: String])?["cma.pool_state"] == state }
    }

    /// `cma_warm_pool_claims_total{…outcome}` on a process's /metrics.
    func claims(_ serve: ServeProcess, _ outcome: String) async throws -> Int {
        let metrics = try await RunningInstance.call("GET", URL(string: serve.base + "/metrics")!)
        for line in metrics.body.split(separator: "\n") where line.hasPrefix("cma_warm_pool_claims_total{")
            && line.contains(#"outcome="\#(outcome)""#) {
            return Int(Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return 0
    }

    func eventually(timeout: TimeInterval = 60, _ condition: () async -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await condition()
    }
}
