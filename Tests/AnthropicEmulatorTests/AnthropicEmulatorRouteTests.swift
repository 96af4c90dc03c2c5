import APIClient
import AnthropicEmulator
import Foundation
import HTTPServer
import HTTPWire
import JSON
import TestSupport
import XCTest

/// The `/v1` and `/_emulator` handlers called in process through the router (the
/// loopback tests run the same emulator on a real server).
final class AnthropicEmulatorRouteTests: XCTestCase {
    var emulator: AnthropicEmulator!
    var client: InProcessClient!
    var logs: LogRecorder!

    override func setUp() async throws {
        let store = LogRecorder()
        let logger = store.logger()
        logs = store
        emulator = AnthropicEmulator(configuration: AnthropicTestKeys.configuration(), logger: logger, transport: ScriptedTransport())
        client = InProcessClient(router: emulator.router)
    }

    override func tearDown() async throws {
        await emulator.shutdown()
    }

    let env = AnthropicTestKeys.environmentKey
    let work = "/v1/environments/env_test/work"

    func testEmptyPollAnswers200JSONNullWithARequestID() async {
        let a = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.text, "null", "§2.1: never {} or 204")
        XCTAssertEqual(a.headers[first: "Content-Type"], "application/json")
        XCTAssertTrue(a.headers[first: "request-id"]?.hasPrefix("req_") ?? false)
    }

    func testBlockMsOutsideOneTo999IsRejected() async {
        for (value, status) in [("0", 400), ("1000", 400), ("-1", 400), ("abc", 400), ("1", 200), ("50", 200)] {
            let a = await client.send(.GET, "\(work)/poll?block_ms=\(value)", credential: env)
            XCTAssertEqual(a.status, status, "block_ms=\(value)")
            if status == 400 {
                XCTAssertEqual(a.json?["type"]?.stringValue, "error")
                XCTAssertEqual(a.json?["error"]?["type"]?.stringValue, "invalid_request_error")
                XCTAssertEqual(a.json?["request_id"]?.stringValue, a.headers[first: "request-id"])
            }
        }
    }

    func testALongPollIsAnsweredAsSoonAsASessionIsEnqueued() async throws {
        let started = ContinuousClock.now
        let client = self.client!, emulator = self.emulator!, target = "\(work)/poll?block_ms=999&beta=true", key = env
        async let answer = client.send(.GET, target, credential: key)
        // Wait until the poll is parked (its waiter registered), then enqueue.
        await assertEventually { emulator.waitingPolls(environmentID: "env_test") == 1 }
        let created = try emulator.createSession(metadata: ["k": "v"])
        let a = await answer
        XCTAssertEqual(a.json?["id"]?.stringValue, created.workID)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }

    func testALongPollOnAnEmptyQueueWaitsAboutBlockMs() async {
        let started = ContinuousClock.now
        let a = await client.send(.GET, "\(work)/poll?block_ms=300", credential: env)
        let waited = ContinuousClock.now - started
        XCTAssertEqual(a.text, "null")
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(280))
        XCTAssertLessThan(waited, .seconds(3))
    }

    func testALongPollTakesOverAPendingItemAsSoonAsItBecomesReclaimable() async throws {
        let created = try emulator.createSession()
        let first = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(first.json?["id"]?.stringValue, created.workID)
        let started = ContinuousClock.now
        let second = await client.send(.GET, "\(work)/poll?block_ms=999&reclaim_older_than_ms=200", credential: env)
        let waited = ContinuousClock.now - started
        XCTAssertEqual(second.json?["id"]?.stringValue, created.workID, "§2.2 reclaim of an un-acked item")
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(150))
        XCTAssertLessThan(waited, .milliseconds(900), "woken at the reclaim time, not at the end of block_ms")
    }

    /// Long polls wait on continuations, not threads: 64 concurrent 300 ms polls on a
    /// two-thread cooperative pool finish in about 300 ms, not 64 × 300 ms.
    func testManyConcurrentLongPollsDoNotHoldThreads() async {
        let client = self.client!, target = "\(work)/poll?block_ms=300", key = env
        let started = ContinuousClock.now
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<64 { group.addTask { await client.send(.GET, target, credential: key).status } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 64))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(4))
    }

    func testXAPIKeyIsAcceptedLikeBearer() async {
        let a = await client.send(.GET, "\(work)/stats", headers: [("x-api-key", env), ("anthropic-version", "2023-06-01")])
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.json?["type"]?.stringValue, "work_queue_stats")
    }

    func testCredentialErrorsUseTheEnvelope() async {
        let table: [(String?, Int, String)] = [
            (nil, 401, "authentication_error"),
            ("sk-ant-oat01-WRONG", 401, "authentication_error"),
            (AnthropicTestKeys.otherEnvironmentKey, 403, "permission_error"),
            (AnthropicTestKeys.apiKey, 403, "permission_error"),
        ]
        for (credential, status, type) in table {
            let a = await client.send(.GET, "\(work)/poll", credential: credential)
            XCTAssertEqual(a.status, status)
            XCTAssertEqual(a.json?["error"]?["type"]?.stringValue, type)
            XCTAssertNotNil(a.headers[first: "request-id"])
            XCTAssertFalse(a.text.contains(credential ?? "\u{0}"), "error bodies never echo the credential")
        }
    }

    func testHeartbeatWithoutExpectedValueIs400AndMismatchIs412WithDetails() async throws {
        let created = try emulator.createSession()
        _ = await client.send(.POST, "\(work)/\(created.workID)/ack", credential: env)
        let missing = await client.send(.POST, "\(work)/\(created.workID)/heartbeat", credential: env)
        XCTAssertEqual(missing.status, 400)
        let first = await client.send(.POST, "\(work)/\(created.workID)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", credential: env)
        XCTAssertEqual(first.status, 200)
        let stamp = try XCTUnwrap(first.json?["last_heartbeat"]?.stringValue)
        let wrong = await client.send(.POST, "\(work)/\(created.workID)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", credential: env)
        XCTAssertEqual(wrong.status, 412)
        XCTAssertEqual(wrong.json?["error"]?["details"]?["error_code"]?.stringValue, "heartbeat_precondition_failed")
        XCTAssertEqual(wrong.json?["error"]?["details"]?["current_state"]?["last_heartbeat"]?.stringValue, stamp)
        let encoded = PercentDecoding.encode(stamp)
        let echo = await client.send(.POST, "\(work)/\(created.workID)/heartbeat?expected_last_heartbeat=\(encoded)", credential: env)
        XCTAssertEqual(echo.status, 200)
        XCTAssertEqual(echo.json?["state"]?.stringValue, "active")
    }

    func testSecondStopIs409WithShouldRetryFalse() async throws {
        let created = try emulator.createSession()
        let first = await client.send(.POST, "\(work)/\(created.workID)/stop", body: "{\"force\":true}", credential: env)
        XCTAssertEqual(first.json?["state"]?.stringValue, "stopped")
        let second = await client.send(.POST, "\(work)/\(created.workID)/stop", body: "{}", credential: env)
        XCTAssertEqual(second.status, 409)
        XCTAssertEqual(second.headers[first: "x-should-retry"], "false")
    }

    func testInjectedAckFaultDoesNotAckAndIsRecorded() async throws {
        let created = try emulator.createSession()
        let set = await client.send(.POST, "/_emulator/faults",
                                    body: #"{"error_rate":1.0,"statuses":[500],"routes":["ack"]}"#)
        XCTAssertEqual(set.status, 200)
        XCTAssertEqual(set.json?["faults"]?["routes"], .array([.string("ack")]))
        let faulted = await client.send(.POST, "\(work)/\(created.workID)/ack", credential: env)
        XCTAssertEqual(faulted.status, 500)
        XCTAssertEqual(faulted.json?["error"]?["type"]?.stringValue, "api_error")
        XCTAssertEqual(emulator.snapshot.items[created.workID]?.state, .queued, "a faulted ack must not ack")
        // Polls are not in the plan's routes.
        let poll = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(poll.json?["id"]?.stringValue, created.workID)

        let cleared = await client.send(.DELETE, "/_emulator/faults")
        XCTAssertEqual(cleared.text, #"{"faults":null}"#)
        let ok = await client.send(.POST, "\(work)/\(created.workID)/ack", credential: env)
        XCTAssertEqual(ok.json?["state"]?.stringValue, "starting")

        let view = await client.send(.GET, "/_emulator/work/\(created.workID)")
        let calls = view.json?["calls"]?.arrayValue ?? []
        XCTAssertEqual(calls.map { $0["call"]?.stringValue ?? "" }, ["ack", "poll", "ack"])
        XCTAssertEqual(calls.map { $0["status"]?.intValue ?? 0 }, [500, 200, 200])
        XCTAssertEqual(calls.map { $0["injected"]?.boolValue ?? false }, [true, false, false])
        XCTAssertEqual(view.json?["secret"], .null)
    }

    func testInjected429CarriesRetryAfterAndLimitedPlansRunOut() async throws {
        _ = await client.send(.POST, "/_emulator/faults",
                              body: #"{"error_rate":1,"statuses":[429],"routes":"work","remaining":1,"retry_after_seconds":2}"#)
        let limited = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.headers[first: "retry-after"], "2")
        XCTAssertEqual(limited.json?["error"]?["type"]?.stringValue, "rate_limit_error")
        let next = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(next.status, 200)
    }

    func testInvalidFaultPlansAreRejectedNamingTheKey() async {
        for body in [#"{"error_rate":2}"#, #"{"statuses":[200]}"#, #"{"routes":5}"#, #"{"latency_ms":-1}"#, "[]"] {
            let a = await client.send(.POST, "/_emulator/faults", body: body)
            XCTAssertEqual(a.status, 400, body)
        }
    }

    func testControlSurfaceCreatesSessionsAndShowsPostedEvents() async throws {
        let created = await client.send(.POST, "/_emulator/sessions", body: #"""
            {"metadata":{"superserve.sandbox_id":"sbx-1"},"tool_calls":[{"name":"bash","input":{"command":"echo hello"}}],"end":"terminate"}
            """#)
        XCTAssertEqual(created.status, 200)
        let sid = try XCTUnwrap(created.json?["session_id"]?.stringValue)
        let wid = try XCTUnwrap(created.json?["work_id"]?.stringValue)
        XCTAssertEqual(created.json?.objectValue?.map(\.0), ["session_id", "work_id"])

        let session = await client.send(.GET, "/v1/sessions/\(sid)", credential: env)
        XCTAssertEqual(session.json?["type"]?.stringValue, "session")
        XCTAssertEqual(session.json?["status"]?.stringValue, "running")
        XCTAssertEqual(session.json?["metadata"]?["superserve.sandbox_id"]?.stringValue, "sbx-1")
        XCTAssertEqual(session.json?["resources"], .array([]))
        XCTAssertEqual(session.json?["agent"]?["skills"], .array([]))

        let history = await client.send(.GET, "/v1/sessions/\(sid)/events?limit=1000", credential: env)
        let tool = try XCTUnwrap(history.json?["data"]?.arrayValue?.first)
        XCTAssertEqual(history.json?["next_page"], .null)
        XCTAssertEqual(tool["type"]?.stringValue, "agent.tool_use")
        let toolID = try XCTUnwrap(tool["id"]?.stringValue)

        let posted = await client.send(.POST, "/v1/sessions/\(sid)/events", body: """
            {"events":[{"type":"user.tool_result","tool_use_id":"\(toolID)","is_error":false,"content":[{"type":"text","text":"hello"}]}]}
            """, credential: env)
        XCTAssertEqual(posted.status, 200)
        XCTAssertNotNil(posted.json?["data"]?.arrayValue?.first?["processed_at"]?.stringValue)

        let view = await client.send(.GET, "/_emulator/sessions/\(sid)")
        let events = view.json?["events"]?.arrayValue ?? []
        XCTAssertEqual(events.map { $0["type"]?.stringValue ?? "" }, ["agent.tool_use", "user.tool_result", "session.status_terminated"])
        XCTAssertEqual(events[1]["content"]?.arrayValue?.first?["text"]?.stringValue, "hello")
        XCTAssertEqual(view.json?["work_id"]?.stringValue, wid)
        XCTAssertEqual(view.json?["status"]?.stringValue, "terminated")
    }

    func testControlSurfaceRejectsBadSessionBodies() async {
        for body in [#"{"metadata":{"k":1}}"#, #"{"tool_calls":[{"input":{}}]}"#, #"{"end":"explode"}"#,
                     #"{"environment_id":"env_nope"}"#, "not json"] {
            let a = await client.send(.POST, "/_emulator/sessions", body: body)
            XCTAssertTrue([400, 404].contains(a.status), body)
        }
    }

    func testEventStreamSendsToolCallsOneAtATimeAndEndsAfterTermination() async throws {
        let created = try emulator.createSession(toolCalls: [
            AnthropicScriptedToolCall(name: "bash", input: .object([("command", .string("echo one"))])),
        ])
        let token = try sessionsToken(created.workID)
        let (response, writer) = await client.stream("/v1/sessions/\(created.sessionID)/events/stream", credential: token)
        XCTAssertEqual(response.headers[first: "Content-Type"], "text/event-stream")
        guard case .stream(let body) = response.body else { return XCTFail("not a stream") }
        let pump = Task { try await body(writer) }
        await assertEventually { writer.text.hasPrefix("event: ping\n") }

        let history = await client.send(.GET, "/v1/sessions/\(created.sessionID)/events", credential: token)
        let toolID = try XCTUnwrap(history.json?["data"]?.arrayValue?.first?["id"]?.stringValue)
        _ = await client.send(.POST, "/v1/sessions/\(created.sessionID)/events", body: """
            {"events":[{"type":"user.tool_result","tool_use_id":"\(toolID)","content":[{"type":"text","text":"one"}]}]}
            """, credential: token)
        try await pump.value   // ends by itself after the terminal event (EOF, §8)
        XCTAssertEqual(writer.events.map { $0["type"]?.stringValue ?? "" }, ["user.tool_result", "session.status_terminated"])
        for frame in writer.text.components(separatedBy: "\n\n") where !frame.isEmpty {
            XCTAssertTrue(frame.hasPrefix("event: "), "every frame has an event line: \(frame)")
            XCTAssertEqual(frame.split(separator: "\n").filter { $0.hasPrefix("data: ") }.count, 1)
        }
    }

    func testEventStreamEndsWhenTheEmulatorShutsDown() async throws {
        let created = try emulator.createSession(end: .idle)
        let (response, writer) = await client.stream("/v1/sessions/\(created.sessionID)/events/stream", credential: env)
        guard case .stream(let body) = response.body else { return XCTFail("not a stream") }
        let pump = Task { try await body(writer) }
        await assertEventually { !writer.text.isEmpty }
        await emulator.shutdown()
        try await pump.value
    }

    /// §8: a runner that reconnects after the end must still see the terminal event.
    func testReconnectingToATerminatedSessionReplaysTheTerminalEventAndEnds() async throws {
        let created = try emulator.createSession()   // no tool calls: terminates at once
        let (response, writer) = await client.stream("/v1/sessions/\(created.sessionID)/events/stream", credential: env)
        guard case .stream(let body) = response.body else { return XCTFail("not a stream") }
        try await body(writer)
        XCTAssertEqual(writer.events.map { $0["type"]?.stringValue ?? "" }, ["session.status_terminated"])
    }

    func testSessionsTokenIsLimitedToItsOwnSession() async throws {
        let mine = try emulator.createSession()
        let theirs = try emulator.createSession()
        let token = try sessionsToken(mine.workID)
        let own = await client.send(.GET, "/v1/sessions/\(mine.sessionID)", credential: token)
        let other = await client.send(.GET, "/v1/sessions/\(theirs.sessionID)", credential: token)
        let stopOther = await client.send(.POST, "\(work)/\(theirs.workID)/stop", body: "{}", credential: token)
        let poll = await client.send(.GET, "\(work)/poll", credential: token)
        XCTAssertEqual([own.status, other.status, stopOther.status, poll.status], [200, 403, 403, 403])
    }

    func testUnknownPathsAndMethodsAnswerInTheEnvelope() async {
        let a = await client.send(.GET, "/v1/environments/env_test/nothing", credential: env)
        XCTAssertEqual(a.status, 404)
        XCTAssertEqual(a.json?["error"]?["type"]?.stringValue, "not_found_error")
        let b = await client.send(.DELETE, "\(work)/poll", credential: env)
        XCTAssertEqual(b.status, 405)
    }

    /// Style habit 6: secrets never reach logs, even across a full session.
    func testSecretsTokensAndKeysNeverAppearInLogs() async throws {
        var config = AnthropicTestKeys.configuration()
        config.webhookURL = URL(string: "http://127.0.0.1:9/hook")
        let transport = ScriptedTransport()
        transport.script("POST", "/hook", [.status(204)])
        let store = LogRecorder()
        let logger = store.logger()
        let emu = AnthropicEmulator(configuration: config, logger: logger, transport: transport)
        defer { Task { await emu.shutdown() } }
        let c = InProcessClient(router: emu.router)
        let created = try emu.createSession(toolCalls: [AnthropicScriptedToolCall(name: "bash", input: .object([]))])
        let polled = await c.send(.GET, "\(work)/poll", credential: env)
        let secret = try XCTUnwrap(polled.json?["secret"]?.stringValue)
        let token = try sessionsToken(fromSecret: secret)
        _ = await c.send(.POST, "\(work)/\(created.workID)/ack", credential: env)
        _ = await c.send(.POST, "\(work)/\(created.workID)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", credential: token)
        _ = await c.send(.GET, "/v1/sessions/\(created.sessionID)", credential: "sk-ant-oat01-WRONG")
        _ = await c.send(.POST, "\(work)/\(created.workID)/stop", body: #"{"force":true}"#, credential: token)
        await assertEventually { emu.webhookAttempts.count == 1 }
        let lines = store.all
        XCTAssertFalse(lines.isEmpty)
        for needle in [secret, token, AnthropicTestKeys.environmentKey, AnthropicTestKeys.apiKey, AnthropicTestKeys.signingKey,
                       "sk-ant-oat01-WRONG", String(AnthropicTestKeys.signingKey.dropFirst(6))] {
            XCTAssertFalse(lines.contains { $0.contains(needle) }, "a log line leaks \(needle.prefix(12))…")
        }
        // The signature header is a secret-derived value too; it is never logged.
        let signature = try XCTUnwrap(transport.requests.first?.header("webhook-signature"))
        XCTAssertFalse(lines.contains { $0.contains(signature) })
    }

    func testHealthcheckItemsCanBeEnqueuedAndListed() async throws {
        let answer = await client.send(.POST, "/_emulator/work", body: #"{"type":"healthcheck","metadata":{"probe":"1"}}"#)
        let id = try XCTUnwrap(answer.json?["work_id"]?.stringValue)
        let polled = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(polled.json?["id"]?.stringValue, id)
        XCTAssertEqual(polled.json?["data"], .object([("type", .string("healthcheck"))]))
        XCTAssertEqual(polled.json?["secret"], .null)
        XCTAssertEqual(polled.json?["metadata"]?["probe"]?.stringValue, "1")
        let listed = await client.send(.GET, "/_emulator/work")
        XCTAssertEqual(listed.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, [id])
        let faults = await client.send(.GET, "/_emulator/faults")
        XCTAssertEqual(faults.text, #"{"faults":null}"#)
    }

    func testWorkAndDataMetadataAreSentWhereRule11LooksForThem() async throws {
        let created = await client.send(.POST, "/_emulator/sessions",
                                        body: #"{"work_metadata":{"a":"1"},"data_metadata":{"superserve.sandbox_id":"sbx-9"}}"#)
        let polled = await client.send(.GET, "\(work)/poll", credential: env)
        XCTAssertEqual(polled.json?["id"], created.json?["work_id"])
        XCTAssertEqual(polled.json?["metadata"], .object([("a", .string("1"))]))
        XCTAssertEqual(polled.json?["data"]?["metadata"], .object([("superserve.sandbox_id", .string("sbx-9"))]))
    }

    // MARK: helpers

    func sessionsToken(_ workID: String) throws -> String {
        var s = emulator.snapshot
        let item = try XCTUnwrap(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 1, workerID: nil,
                                            now: Date().addingTimeInterval(3600)))
        XCTAssertEqual(item["id"]?.stringValue, workID)
        return try sessionsToken(fromSecret: try XCTUnwrap(item["secret"]?.stringValue))
    }

    func sessionsToken(fromSecret secret: String) throws -> String {
        var b64 = secret.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let json = try JSONValue.parse(Array(try XCTUnwrap(Data(base64Encoded: b64))))
        return try XCTUnwrap(json["sessions_token"]?.stringValue)
    }
}
