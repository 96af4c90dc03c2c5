import EmulatedMode
import Foundation
import TestSupport
import XCTest

/// No session left behind under faults: a burst of sessions while both emulators fail
/// calls at once, on the whole `serve --emulated` wiring (webhooks, drains, launches,
/// probes), with a fake runner that records each start on the host.
final class FaultScenarioTests: XCTestCase {
    static let sessions = 50

    /// 20% of every Superserve call (control and data plane: 429, 500 on POST/PATCH,
    /// 502/503/504 on GET/DELETE) and of every Anthropic call (429/500/503) fail, and
    /// 5% of Superserve calls act but lose their answer (a lost 201: rule 16): every
    /// session gets its runner, each with exactly one sandbox and one runner start, no
    /// launch fails (within the budget of rule 37), and no handed-off item is stopped
    /// (rule 9). Served / unserved / duplicates are printed.
    func testFiftySessionsUnderTwentyPercentFaultsEverywhereEachGetOneSandboxAndOneRunner() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cma-faults-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let starts = dir.appendingPathComponent("runner-starts")
        let entry = dir.appendingPathComponent("fake-runner.sh")
        // One short O_APPEND line per start (atomic), then hold the item as a runner does.
        try """
        #!/bin/sh
        printf '%s %s\\n' "$ANTHROPIC_WORK_ID" "$ANTHROPIC_SESSION_ID" >> '\(starts.path)'
        exec sleep 300
        """.write(to: entry, atomically: true, encoding: .utf8)

        // Default settings (bucket, slots, budget, drain timer): only the runner is fake.
        let running = try await Harness.start(environment: ["CMA_RUNNER_PYTHON": "sh", "CMA_RUNNER_ENTRY": entry.path])
        try await running.scoped {
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            let emulators = try XCTUnwrap(running.emulators)
            // Each request's status is drawn among those it may get (429 or 500 on POST and
            // PATCH, 429 or 502/503/504 on GET and DELETE); 500 is listed three times so that
            // 429s, each of which pauses the whole bucket for its Retry-After (rule 35), are
            // a quarter of the failures everywhere and the test stays within CI's minute.
            let superservePlan = #"{"error_rate":0.2,"lose_rate":0.05,"statuses":[429,500,500,500,502,503,504],"routes":"all","retry_after_seconds":1}"#
            let superserve = try await running.call("POST", "/_emulator/superserve/faults", json: superservePlan)
            XCTAssertEqual(superserve.status, 200, superserve.body)
            let anthropic = try await running.call("POST", "/_emulator/faults",
                                                   json: #"{"error_rate":0.2,"statuses":[429,500,503],"routes":"all","retry_after_seconds":1}"#)
            XCTAssertEqual(anthropic.status, 200, anthropic.body)

            let clock = ContinuousClock()
            let began = clock.now
            var work: [String: String] = [:]   // session → work item
            try await withThrowingTaskGroup(of: (String, String).self) { group in
                for _ in 0..<Self.sessions {
                    group.addTask {
                        let created = try await running.object("POST", "/_emulator/sessions", json: "{}")
                        return (try XCTUnwrap(created["session_id"] as? String), try XCTUnwrap(created["work_id"] as? String))
                    }
                }
                for try await (session, item) in group { work[session] = item }
            }
            var served = 0
            do {
                try await running.eventually("every session's runner", timeout: .seconds(150), interval: .milliseconds(200)) {
                    served = Self.startsBySession(starts).filter { work[$0.key] != nil }.count
                    return served == Self.sessions
                }
            } catch {
                print("fault scenario: \(served)/\(Self.sessions) served when the wait ended")
                throw error
            }
            let seconds = (clock.now - began).components.seconds
            let superserveCounts = emulators.superserve.faults.counts
            let anthropicCounts = emulators.anthropic.faults.counts
            _ = try await running.call("DELETE", "/_emulator/superserve/faults")
            _ = try await running.call("DELETE", "/_emulator/faults")
            // Let launches that were still retrying come to rest, so a late duplicate shows.
            try await running.eventually("launches at rest", timeout: .seconds(60)) {
                let status = try await running.object("GET", "/status")
                return (status["launches"] as? [String: Any])?["in_flight"] as? Int == 0
            }

            let boxes = try await Self.liveSandboxesBySession(running)
            let byWork = Self.startsByWork(starts)
            let duplicates = work.filter { session, item in (boxes[session] ?? 0) > 1 || (byWork[item] ?? 0) > 1 }
            let unserved = work.keys.filter { (Self.startsBySession(starts)[$0] ?? 0) == 0 }
            let status = try await running.object("GET", "/status")
            let failed = (status["launches"] as? [String: Any])?["failed"] as? Int ?? -1
            let budget = status["superserve"] as? [String: Any] ?? [:]
            let rateLimited = budget["rate_limited"] as? Int ?? -1, halvings = budget["rate_halvings"] as? Int ?? -1
            print("""
                fault scenario: \(Self.sessions) sessions, served \(Self.sessions - unserved.count), \
                unserved \(unserved.count), duplicates \(duplicates.count), launches failed \(failed), \
                all served after \(seconds) s; injected: superserve \(superserveCounts.errors) errors and \
                \(superserveCounts.losses) lost answers (\(superserveCounts.lossesByRoute["sandboxes.create"] ?? 0) of them \
                creates), anthropic \(anthropicCounts.errors) errors; the bucket met \(rateLimited) 429s \
                and halved its rate \(halvings) times
                """)
            XCTAssertEqual(unserved, [], "every session gets its runner")
            XCTAssertEqual(duplicates.count, 0, "one sandbox and one runner per session (rules 16, 31): \(duplicates)")
            XCTAssertEqual(work.keys.filter { boxes[$0] != 1 }, [], "exactly one live sandbox per session")
            XCTAssertEqual(failed, 0, "no launch failed or ran out of its budget (rule 37)")
            XCTAssertGreaterThan(superserveCounts.errors, 0)
            XCTAssertGreaterThan(superserveCounts.losses, 0, "answers were lost after acting")
            XCTAssertGreaterThan(anthropicCounts.errors, 0)
            // The injected 429s come between answers that show the team has room: each
            // pauses the bucket, but they must not all halve its rate (TokenBucket).
            XCTAssertGreaterThanOrEqual(rateLimited, 0)
            if rateLimited > 0 { XCTAssertLessThan(halvings, rateLimited, "injected 429s halved the rate every time") }
            for item in work.values {
                let record = try await running.object("GET", "/_emulator/work/\(item)")
                let calls = record["calls"] as? [[String: Any]] ?? []
                XCTAssertFalse(calls.contains { $0["call"] as? String == "stop" }, "rule 9: \(item) was stopped: \(calls)")
            }
        }
    }

    /// Lines of the fake runner's file, counted by session id (second field).
    static func startsBySession(_ file: URL) -> [String: Int] { counts(file, field: 1) }

    /// … and by work id (first field).
    static func startsByWork(_ file: URL) -> [String: Int] { counts(file, field: 0) }

    private static func counts(_ file: URL, field: Int) -> [String: Int] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count > field { counts[String(parts[field]), default: 0] += 1 }
        }
        return counts
    }

    /// Sandboxes that are neither failed nor deleted, by their `cma.session_id` tag.
    static func liveSandboxesBySession(_ running: RunningInstance) async throws -> [String: Int] {
        let answer = try await running.call("GET", "/sandboxes", headers: [("X-API-Key", EmbeddedEmulators.superserveAPIKey)])
        XCTAssertEqual(answer.status, 200, answer.body)
        let list = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]] ?? []
        var counts: [String: Int] = [:]
        for sandbox in list {
            let status = sandbox["status"] as? String ?? ""
            guard status != "failed", status != "deleted",
                  let session = (sandbox["metadata"] as? [String: String])?["cma.session_id"] else { continue }
            counts[session, default: 0] += 1
        }
        return counts
    }
}
