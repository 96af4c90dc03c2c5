import APIClient
import EmulatedMode
import Foundation
import JSON
import Orchestrator
import TestSupport
import XCTest

/// Issue 4's end to end on `serve --emulated` wiring: a signed webhook → drain →
/// sandbox → the real runner.py (anthropic 2.10.0 from the SDK venv) → the tool
/// call's output at the Anthropic emulator. Every test runs real processes.
final class SandboxEndToEndTests: XCTestCase {
    static let apiKey = EmbeddedEmulators.superserveAPIKey

    /// Lists the environment variable NAMES of the bash tool's parent (the runner).
    static let envNamesCommand = #"tr '\0' '\n' < /proc/$PPID/environ | cut -d= -f1 | sort"#

    func createSession(_ r: RunningInstance, command: String, metadata: [String: String] = [:],
                       end: String = "terminate") async throws -> (session: String, work: String) {
        let meta = metadata.map { "\(JSONEscape.quoted($0.key)):\(JSONEscape.quoted($0.value))" }.joined(separator: ",")
        let body = #"{"metadata":{"# + meta + #"},"end":"# + JSONEscape.quoted(end)
            + #","tool_calls":[{"name":"bash","input":{"command":"# + JSONEscape.quoted(command) + "}}]}"
        let created = try await r.object("POST", "/_emulator/sessions", json: body)
        return (try XCTUnwrap(created["session_id"] as? String), try XCTUnwrap(created["work_id"] as? String))
    }

    /// The text of every `user.tool_result` event of a session, oldest first.
    func toolResults(_ r: RunningInstance, _ session: String) async throws -> [String] {
        let s = try await r.object("GET", "/_emulator/sessions/\(session)")
        let events = s["events"] as? [[String: Any]] ?? []
        return events.filter { $0["type"] as? String == "user.tool_result" }.map { event in
            let content = event["content"] as? [[String: Any]] ?? []
            return content.compactMap { $0["text"] as? String }.joined(separator: "\n")
        }
    }

    func waitForResults(_ r: RunningInstance, _ session: String, count: Int = 1) async throws -> [String] {
        var results: [String] = []
        try await r.eventually("\(count) tool result(s) for \(session)", timeout: .seconds(120), interval: .milliseconds(200)) {
            results = try await toolResults(r, session)
            return results.count >= count
        }
        return results
    }

    func sandboxes(_ r: RunningInstance, session: String) async throws -> [[String: Any]] {
        let answer = try await r.call("GET", "/sandboxes?metadata.cma.session_id=\(session)", headers: [("X-API-Key", Self.apiKey)])
        XCTAssertEqual(answer.status, 200, answer.body)
        return try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]] ?? []
    }

    func calls(_ r: RunningInstance) async throws -> [String: Int] {
        let object = try await r.object("GET", "/_emulator/superserve/calls")
        return object["calls"] as? [String: Int] ?? [:]
    }

    func start(_ environment: [String: String] = [:]) async throws -> RunningInstance {
        let running = try await Harness.start(environment: environment, pythonBin: try Harness.sdkPythonBin())
        try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
        return running
    }

    /// Rules 24–28: created from the template with the work secret, never the
    /// environment key, and the tool result arrives.
    func testAWebhookLaunchesTheRealRunnerWithTheWorkSecretOnly() async throws {
        let r = try await start()
        try await r.scoped {
            let (session, work) = try await createSession(r, command: Self.envNamesCommand)
            let results = try await waitForResults(r, session)
            let names = Set(results[0].split(separator: "\n").map(String.init))
            XCTAssertTrue(names.contains("ANTHROPIC_WORK_SECRET"), results[0])
            XCTAssertTrue(names.contains("ANTHROPIC_WORK_ID"), results[0])
            XCTAssertTrue(names.contains("ANTHROPIC_BASE_URL"), results[0])
            XCTAssertFalse(names.contains("ANTHROPIC_ENVIRONMENT_KEY"), "rule 26: no environment key when a work secret exists")
            XCTAssertFalse(names.contains("ANTHROPIC_API_KEY"), "rule 27")

            let boxes = try await sandboxes(r, session: session)
            XCTAssertEqual(boxes.count, 1)
            let metadata = boxes.first?["metadata"] as? [String: String] ?? [:]
            XCTAssertEqual(metadata["cma.session_id"], session)
            let network = boxes.first?["network"] as? [String: Any]
            XCTAssertEqual(network?["deny_out"] as? [String], ["0.0.0.0/0"], "rule 22")
            let calls = try await calls(r)
            XCTAssertEqual(calls["sandboxes.create"], 1)
            XCTAssertNil(calls["sandboxes.resume"], "rule 19: never resume")

            let item = try await r.object("GET", "/_emulator/work/\(work)")
            let history = item["calls"] as? [[String: Any]] ?? []
            XCTAssertEqual(history.filter { $0["call"] as? String == "ack" && $0["status"] as? Int == 200 }.count, 1)

            let status = try await r.object("GET", "/status")
            XCTAssertEqual((status["launches"] as? [String: Any])?["launched"] as? Int, 1)
            let metrics = try await r.call("GET", "/metrics")
            XCTAssertTrue(metrics.body.contains(#"cma_sandbox_launches_total{outcome="launched"} 1"#))
            // Style habit 6: the work secret and the keys never reach /status or /metrics.
            let emulatorKey = try XCTUnwrap(r.emulators?.environmentKey)
            for text in [String(describing: status), metrics.body] {
                XCTAssertFalse(text.contains(emulatorKey))
                XCTAssertFalse(text.contains("sk-ant-req-emu-"))
            }
        }
    }

    /// Rule 26 (amended), both settings, on an item the emulator issues without a
    /// secret: by default it is force-stopped before any sandbox exists, with the
    /// reason logged; with `CMA_REQUIRE_WORK_SECRET=false` the runner gets the
    /// environment key instead of a work secret.
    func testASecretlessItemIsRefusedByDefaultAndGetsTheEnvironmentKeyOnlyWhenOptedIn() async throws {
        let body = #"{"work_secret":false,"tool_calls":[{"name":"bash","input":{"command":"# + JSONEscape.quoted(Self.envNamesCommand) + "}}]}"
        let capture = LogRecorder()
        let refusing = try await Harness.start(pythonBin: try Harness.sdkPythonBin(), logger: capture.logger())
        try await refusing.scoped {
            let created = try await refusing.object("POST", "/_emulator/sessions", json: body)
            let session = try XCTUnwrap(created["session_id"] as? String)
            let work = try XCTUnwrap(created["work_id"] as? String)
            try await refusing.eventually("the item is stopped") {
                try await refusing.object("GET", "/_emulator/work/\(work)")["state"] as? String == "stopped"
            }
            let boxes = try await sandboxes(refusing, session: session)
            XCTAssertTrue(boxes.isEmpty, "refused before any sandbox")
            let upstreamCalls = try await calls(refusing)
            XCTAssertNil(upstreamCalls["sandboxes.create"])
            XCTAssertTrue(capture.text.contains("queue.item.force_stop"), capture.text)
            XCTAssertTrue(capture.text.contains("CMA_REQUIRE_WORK_SECRET=false"), "the reason names the opt-in")
            let metrics = try await refusing.call("GET", "/metrics")
            let stops = metrics.body.split(separator: "\n").filter {
                $0.hasPrefix("cma_work_force_stops_total{") && $0.contains(#"reason="secretless""#) && $0.hasSuffix(" 1")
            }
            XCTAssertEqual(stops.count, 1, metrics.body)
        }

        let optedIn = try await start(["CMA_REQUIRE_WORK_SECRET": "false"])
        try await optedIn.scoped {
            let created = try await optedIn.object("POST", "/_emulator/sessions", json: body)
            let session = try XCTUnwrap(created["session_id"] as? String)
            let results = try await waitForResults(optedIn, session)
            let names = Set(results[0].split(separator: "\n").map(String.init))
            XCTAssertTrue(names.contains("ANTHROPIC_ENVIRONMENT_KEY"), results[0])
            XCTAssertFalse(names.contains("ANTHROPIC_WORK_SECRET"), "rule 26: never both credentials")
        }
    }

    /// Rules 19, 44: the janitor pauses the idle sandbox; the session's next run wakes
    /// it with activate (never resume) and reuses it: one sandbox for the session.
    func testAPausedSandboxIsWokenAndReusedForTheSessionsNextRun() async throws {
        let r = try await start(["CMA_RUNNER_MAX_IDLE_SECONDS": "1", "CMA_IDLE_PAUSE_SECONDS": "1",
                                 "CMA_JANITOR_INTERVAL_SECONDS": "1"])
        try await r.scoped {
            // The bash tool runs in the agent workdir (/workspace, rule 25).
            let (session, _) = try await createSession(r, command: "echo first > mark && echo one", end: "idle")
            _ = try await waitForResults(r, session)
            try await r.eventually("the janitor paused the idle sandbox", timeout: .seconds(60)) {
                try await sandboxes(r, session: session).first?["status"] as? String == "paused"
            }
            let body = #"{"end":"terminate","tool_calls":[{"name":"bash","input":{"command":"cat mark"}}]}"#
            _ = try await r.object("POST", "/_emulator/sessions/\(session)/runs", json: body)
            let results = try await waitForResults(r, session, count: 2)
            XCTAssertEqual(results.last?.trimmingCharacters(in: .whitespacesAndNewlines), "first",
                           "the second run saw the first run's file: same sandbox")
            let boxes = try await sandboxes(r, session: session)
            XCTAssertEqual(boxes.count, 1, "no second sandbox")
            let calls = try await calls(r)
            XCTAssertEqual(calls["sandboxes.create"], 1)
            XCTAssertGreaterThanOrEqual(calls["sandboxes.activate"] ?? 0, 1)
            XCTAssertNil(calls["sandboxes.resume"], "rule 19: activate only")
        }
    }

    /// Rules 11, 12, 18: a prepared sandbox named in the session's metadata is used
    /// as is (its staged files included), and no sandbox is created.
    func testAPreparedSandboxFromSessionMetadataIsUsed() async throws {
        let r = try await start()
        try await r.scoped {
            let created = try await r.call("POST", "/sandboxes",
                                           json: #"{"name":"prepared","from_template":"cma-runner","metadata":{"team":"demo","cma.prepared_for":"env_emulated"}}"#,
                                           headers: [("X-API-Key", Self.apiKey)])
            XCTAssertTrue((200..<300).contains(created.status), created.body)
            let sandbox = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])
            let id = try XCTUnwrap(sandbox["id"] as? String)
            let token = try XCTUnwrap(sandbox["access_token"] as? String)
            let staged = try await RunningInstance.call(
                "POST", URL(string: r.base.absoluteString + "/files?path=%2Fworkspace%2Fstaged.txt")!,
                headers: [("X-Superserve-Sandbox-Id", id), ("X-Access-Token", token),
                          ("Content-Type", "application/octet-stream")], rawBody: Data("staged by the operator".utf8))
            XCTAssertEqual(staged.status, 200, staged.body)
            _ = try await r.call("DELETE", "/_emulator/superserve/calls")

            let (session, _) = try await createSession(r, command: "cat staged.txt",
                                                       metadata: ["superserve.sandbox_id": id])
            let results = try await waitForResults(r, session)
            XCTAssertEqual(results.first, "staged by the operator")
            let calls = try await calls(r)
            XCTAssertNil(calls["sandboxes.create"], "a prepared id is binding: nothing is created")
            let boxes = try await sandboxes(r, session: session)
            XCTAssertEqual(boxes.map { $0["id"] as? String }, [id], "rule 18: the prepared sandbox is tagged with the session")
        }
    }

    /// Rules 12, 37: a prepared id that does not exist ends the item visibly: the item
    /// is force-stopped, the failure is counted and shown on the status page.
    func testAMissingPreparedSandboxEndsTheItemWithAVisibleReason() async throws {
        let r = try await start()
        try await r.scoped {
            let (session, work) = try await createSession(r, command: "true",
                                                          metadata: ["superserve.sandbox_id": "sbx-does-not-exist"])
            try await r.eventually("the item is stopped") {
                try await r.object("GET", "/_emulator/work/\(work)")["state"] as? String == "stopped"
            }
            let item = try await r.object("GET", "/_emulator/work/\(work)")
            let history = item["calls"] as? [[String: Any]] ?? []
            XCTAssertTrue(history.contains { $0["call"] as? String == "stop" }, "\(history)")
            let boxes = try await sandboxes(r, session: session)
            let calls = try await calls(r)
            XCTAssertTrue(boxes.isEmpty)
            XCTAssertNil(calls["sandboxes.create"], "no fallback create for a binding prepared id")
            let status = try await r.object("GET", "/status")
            XCTAssertEqual((status["launches"] as? [String: Any])?["failed"] as? Int, 1)
            let recent = status["recent"] as? [[String: Any]] ?? []
            let failure = try XCTUnwrap(recent.first { $0["event"] as? String == "failed" })
            XCTAssertEqual(failure["session_id"] as? String, session)
            XCTAssertFalse((failure["detail"] as? String ?? "").isEmpty)
            let metrics = try await r.call("GET", "/metrics")
            XCTAssertTrue(metrics.body.contains(#"cma_sandbox_launches_total{outcome="failed"} 1"#))
        }
    }

    /// Rules 30, 37: a runner that dies right after the hand-off is caught by the
    /// liveness probe; the item is force-stopped and the failure shows on /status.
    func testARunnerThatDiesAfterTheHandOffEndsTheItemVisibly() async throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("cma-dying-runner-\(UUID()).sh")
        try "echo 'runner: cannot start' >&2\nexit 3\n".write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let r = try await Harness.start(environment: ["CMA_RUNNER_ENTRY": script.path, "CMA_RUNNER_PYTHON": "sh"])
        try await r.scoped {
            try await r.eventually("ready") { try await r.call("GET", "/readyz").status == 200 }
            let (session, work) = try await createSession(r, command: "true")
            try await r.eventually("the item is stopped", timeout: .seconds(30)) {
                try await r.object("GET", "/_emulator/work/\(work)")["state"] as? String == "stopped"
            }
            let status = try await r.object("GET", "/status")
            let recent = status["recent"] as? [[String: Any]] ?? []
            XCTAssertTrue(recent.contains { $0["event"] as? String == "launched" && $0["session_id"] as? String == session })
            let failure = try XCTUnwrap(recent.first { $0["event"] as? String == "failed" }, "\(recent)")
            XCTAssertTrue((failure["detail"] as? String ?? "").contains("runner not alive"), "\(failure)")
            let metrics = try await r.call("GET", "/metrics")
            XCTAssertTrue(metrics.body.contains("cma_sandbox_late_failures_total 1"), metrics.body)
        }
    }

    /// Rules 16, 31, 33–35: with 20% of Superserve answers failing, every session still
    /// ends with one sandbox and one runner (one tool result).
    func testInjectedSuperserveFailuresStillGiveOneSandboxAndOneRunnerPerSession() async throws {
        let r = try await start()
        try await r.scoped {
            let faults = try await r.call("POST", "/_emulator/superserve/faults",
                                          json: #"{"error_rate":0.2,"statuses":[500,500,503,429],"retry_after_seconds":0}"#)
            XCTAssertEqual(faults.status, 200, faults.body)
            var sessions: [String] = []
            for i in 0..<6 { sessions.append(try await createSession(r, command: "echo run-\(i)").session) }
            for (i, session) in sessions.enumerated() {
                let results = try await waitForResults(r, session)
                XCTAssertEqual(results, ["run-\(i)"], session)
            }
            _ = try await r.call("DELETE", "/_emulator/superserve/faults")
            for session in sessions {
                let boxes = try await sandboxes(r, session: session)
                XCTAssertEqual(boxes.count, 1, "\(session): \(boxes.map { $0["id"] ?? "" })")
                let results = try await toolResults(r, session)
                XCTAssertEqual(results.count, 1, "one runner answered once")
            }
        }
    }
}

extension RunningInstance {
    static func call(_ method: String, _ url: URL, headers: [(String, String)], rawBody: Data) async throws -> (status: Int, body: String) {
        let response = try await URLSessionTransport().send(OutboundRequest(
            method: method, url: url, headers: headers, body: rawBody, timeout: .seconds(15)))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }
}
