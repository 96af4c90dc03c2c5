import AnthropicEmulator
import Foundation
import JSON
import XCTest

/// The work-queue state machine (anthropic.md §2.2, §2.3, §8.1) on a manual clock.
final class AnthropicEmulatorStateTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_793_534_400)   // 2026-11-01T12:00:00Z

    func makeState() -> AnthropicEmulatorState { AnthropicEmulatorState(configuration: AnthropicTestKeys.configuration()) }

    func apiStatus(_ body: () throws(AnthropicEmulatorError) -> Void) -> Int? {
        do { try body(); return nil } catch {
            if case .api(let f) = error { return f.status }
            return -1
        }
    }

    func failure(_ body: () throws(AnthropicEmulatorError) -> Void) -> AnthropicAPIFailure? {
        do { try body(); return nil } catch {
            if case .api(let f) = error { return f }
            return nil
        }
    }

    func testEmptyQueuePollsNil() throws {
        var s = makeState()
        XCTAssertNil(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 5000, workerID: "w1", now: t0))
    }

    func testPollHandsOutTheOldestItemWithASecretThatDecodesToItsSessionsToken() throws {
        var s = makeState()
        let first = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0.addingTimeInterval(1))
        let item = try XCTUnwrap(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 5000, workerID: nil, now: t0))
        XCTAssertEqual(item["id"]?.stringValue, first.workID)
        XCTAssertEqual(item["state"]?.stringValue, "queued")
        XCTAssertEqual(item["data"]?["id"]?.stringValue, first.sessionID)
        XCTAssertEqual(item["data"]?["type"]?.stringValue, "session")
        XCTAssertEqual(item["metadata"], .object([]))
        let secret = try XCTUnwrap(item["secret"]?.stringValue)
        XCTAssertFalse(secret.contains("=") || secret.contains("+") || secret.contains("/"), "URL-safe base64 without padding (§3.1)")
        var b64 = secret.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let decoded = try JSONValue.parse(Array(try XCTUnwrap(Data(base64Encoded: b64))))
        let token = try XCTUnwrap(decoded["sessions_token"]?.stringValue)
        XCTAssertTrue(token.hasPrefix("sk-ant-req-"))
        XCTAssertEqual(try s.authenticate(token), .sessionsToken(sessionID: first.sessionID))
        // §3: the secret appears only in poll answers.
        XCTAssertEqual(try s.retrieve(environmentID: "env_test", workID: first.workID)["secret"], .null)
    }

    /// §2.2: a pending item is invisible until it is older than the next poll's reclaim age.
    func testPendingItemsAreReclaimedOnlyAfterTheReclaimAge() throws {
        let table: [(age: TimeInterval, reclaimMs: Int, reclaimed: Bool)] = [
            (0.5, 2000, false), (1.999, 2000, false), (2.5, 2000, true), (4.0, 5000, false), (5.1, 5000, true), (0.2, 100, true),
        ]
        for row in table {
            var s = makeState()
            let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
            XCTAssertNotNil(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: row.reclaimMs, workerID: "a", now: t0))
            let again = try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: row.reclaimMs, workerID: "b",
                                   now: t0.addingTimeInterval(row.age))
            XCTAssertEqual(again?["id"]?.stringValue, row.reclaimed ? created.workID : nil, "age \(row.age) reclaim \(row.reclaimMs)")
        }
    }

    func testAckedItemsAreNeverReclaimedAndASecondAckConflicts() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 2000, workerID: nil, now: t0)
        let acked = try s.ack(environmentID: "env_test", workID: created.workID, now: t0)
        XCTAssertEqual(acked["state"]?.stringValue, "starting")
        XCTAssertNotNil(acked["acknowledged_at"]?.stringValue)
        XCTAssertEqual(acked["secret"], .null)
        XCTAssertNil(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 1, workerID: nil, now: t0.addingTimeInterval(60)))
        let second = failure { () throws(AnthropicEmulatorError) in _ = try s.ack(environmentID: "env_test", workID: created.workID, now: t0) }
        XCTAssertEqual(second?.status, 409)
        XCTAssertEqual(second?.shouldRetry, false)
        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try s.ack(environmentID: "env_test", workID: "work_missing", now: t0) }, 404)
    }

    /// §2.3 and §8.1: NO_HEARTBEAT claims, later beats echo byte for byte, anything else is 412.
    func testHeartbeatPreconditionTable() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        let work = created.workID
        func beat(_ expected: String?, at seconds: TimeInterval) throws(AnthropicEmulatorError) -> JSONValue {
            try s.heartbeat(environmentID: "env_test", workID: work, expected: expected, desiredTTLSeconds: nil,
                            now: t0.addingTimeInterval(seconds))
        }
        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try beat("NO_HEARTBEAT", at: 0) }, 409, "not acked yet")
        _ = try s.ack(environmentID: "env_test", workID: work, now: t0)
        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try beat(nil, at: 0) }, 400)

        let first = try beat("NO_HEARTBEAT", at: 0.123456)
        XCTAssertEqual(first["type"]?.stringValue, "work_heartbeat")
        XCTAssertEqual(first["last_heartbeat"]?.stringValue, "2026-11-01T12:00:00.123456Z")
        XCTAssertEqual(first["lease_extended"]?.boolValue, true)
        XCTAssertEqual(first["state"]?.stringValue, "active")
        XCTAssertEqual(first["ttl_seconds"]?.intValue, 60)
        let stamp = try XCTUnwrap(first["last_heartbeat"]?.stringValue)

        for wrong in ["NO_HEARTBEAT", "2026-11-01T12:00:00Z", "2026-11-01T12:00:00.123457Z", ""] {
            let f = failure { () throws(AnthropicEmulatorError) in _ = try beat(wrong, at: 1) }
            XCTAssertEqual(f?.status, 412, wrong)
            XCTAssertEqual(f?.details?["error_code"]?.stringValue, "heartbeat_precondition_failed")
            XCTAssertEqual(f?.details?["current_state"]?["state"]?.stringValue, "active")
            XCTAssertEqual(f?.details?["current_state"]?["last_heartbeat"]?.stringValue, stamp)
            XCTAssertEqual(f?.details?["current_state"]?["lease_extended"]?.boolValue, false)
            XCTAssertEqual(f?.details?["current_state"]?["ttl_seconds"]?.intValue, 60)
        }
        let second = try beat(stamp, at: 2)
        XCTAssertEqual(second["last_heartbeat"]?.stringValue, "2026-11-01T12:00:02.000000Z")

        // Graceful stop: no comparison any more, lease not extended (§2.3).
        _ = try s.stop(environmentID: "env_test", workID: work, force: false, now: t0.addingTimeInterval(3))
        let stopping = try beat("anything", at: 4)
        XCTAssertEqual(stopping["state"]?.stringValue, "stopping")
        XCTAssertEqual(stopping["lease_extended"]?.boolValue, false)
        XCTAssertEqual(stopping["last_heartbeat"]?.stringValue, "2026-11-01T12:00:02.000000Z")
    }

    func testA412BeforeAnyHeartbeatReportsNullLastHeartbeat() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.ack(environmentID: "env_test", workID: created.workID, now: t0)
        let f = failure { () throws(AnthropicEmulatorError) in
            _ = try s.heartbeat(environmentID: "env_test", workID: created.workID, expected: "2026-11-01T12:00:00Z",
                                desiredTTLSeconds: nil, now: t0)
        }
        XCTAssertEqual(f?.status, 412)
        XCTAssertEqual(f?.details?["current_state"]?["last_heartbeat"], .null)
        XCTAssertEqual(f?.details?["current_state"]?["state"]?.stringValue, "starting")
    }

    func testStopGracefulThenForceThenConflict() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.ack(environmentID: "env_test", workID: created.workID, now: t0)
        let graceful = try s.stop(environmentID: "env_test", workID: created.workID, force: false, now: t0)
        XCTAssertEqual(graceful["state"]?.stringValue, "stopping")
        XCTAssertNotNil(graceful["stop_requested_at"]?.stringValue)
        let forced = try s.stop(environmentID: "env_test", workID: created.workID, force: true, now: t0)
        XCTAssertEqual(forced["state"]?.stringValue, "stopped")
        XCTAssertNotNil(forced["stopped_at"]?.stringValue)
        let again = failure { () throws(AnthropicEmulatorError) in
            _ = try s.stop(environmentID: "env_test", workID: created.workID, force: true, now: t0)
        }
        XCTAssertEqual(again?.status, 409)
        XCTAssertEqual(again?.shouldRetry, false, "§2.4: one request, not three")
    }

    func testStoppingAQueuedItemTakesItOffTheQueue() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.stop(environmentID: "env_test", workID: created.workID, force: true, now: t0)
        XCTAssertNil(try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 1, workerID: nil, now: t0))
    }

    func testStatsCountDepthPendingOldestAndRecentWorkers() throws {
        var s = makeState()
        var stats = try s.stats(environmentID: "env_test", now: t0)
        XCTAssertEqual(stats["oldest_queued_at"], .null)
        _ = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        _ = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0.addingTimeInterval(1))
        _ = try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 5000, workerID: "w-old", now: t0)
        _ = try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 5000, workerID: "w-new", now: t0.addingTimeInterval(20))
        _ = try s.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 5000, workerID: "w-new", now: t0.addingTimeInterval(21))
        stats = try s.stats(environmentID: "env_test", now: t0.addingTimeInterval(40))
        XCTAssertEqual(stats["type"]?.stringValue, "work_queue_stats")
        XCTAssertEqual(stats["depth"]?.intValue, 0)
        XCTAssertEqual(stats["pending"]?.intValue, 2)
        XCTAssertEqual(stats["oldest_queued_at"]?.stringValue, "2026-11-01T12:00:00.000000Z")
        XCTAssertEqual(stats["workers_polling"]?.intValue, 1, "w-old was last seen 40 s ago (window 30 s)")
    }

    func testUpdateMergesStringsAndDeletesNulls() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate,
                                          workMetadata: ["keep": "1", "gone": "2"], now: t0)
        let updated = try s.update(environmentID: "env_test", workID: created.workID, metadata: [("gone", nil), ("new", "3")])
        XCTAssertEqual(updated["metadata"], .object([("keep", .string("1")), ("new", .string("3"))]))
    }

    func testListPagesWithOpaqueCursors() throws {
        var s = makeState()
        var ids: [String] = []
        for i in 0..<5 {
            ids.append(try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate,
                                           now: t0.addingTimeInterval(Double(i))).workID)
        }
        var seen: [String] = []
        var page: String?
        repeat {
            let answer = try s.list(environmentID: "env_test", limit: 2, page: page)
            seen += answer["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            page = answer["next_page"]?.stringValue
        } while page != nil
        XCTAssertEqual(seen, ids)
        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try s.list(environmentID: "env_test", limit: 2, page: "bogus") }, 400)
    }

    /// §8.1: one tool call at a time, each after the previous result, then the end.
    func testScriptEmitsToolCallsOneAtATimeThenTerminates() throws {
        var s = makeState()
        let calls = [AnthropicScriptedToolCall(name: "bash", input: .object([("command", .string("echo one"))])),
                     AnthropicScriptedToolCall(name: "bash", input: .object([("command", .string("echo two"))]))]
        let created = try s.createSession(environmentID: nil, metadata: ["k": "v"], toolCalls: calls, end: .terminate, now: t0)
        func events() -> [JSONValue] { s.sessions[created.sessionID]?.events ?? [] }
        XCTAssertEqual(events().map { $0["type"]?.stringValue }, ["agent.tool_use"])
        let firstID = try XCTUnwrap(events()[0]["id"]?.stringValue)
        XCTAssertEqual(try s.session(created.sessionID)["status"]?.stringValue, "running")

        // An unrelated event does not advance the script.
        _ = try s.appendEvents(sessionID: created.sessionID, [.object([("type", .string("user.message"))])], now: t0)
        XCTAssertEqual(events().count, 2)

        let stored = try s.appendEvents(sessionID: created.sessionID, [.object([
            ("type", .string("user.tool_result")), ("tool_use_id", .string(firstID)), ("is_error", .bool(false)),
            ("content", .array([.object([("type", .string("text")), ("text", .string("one"))])])),
        ])], now: t0)
        XCTAssertNotNil(stored.first?["id"]?.stringValue)
        XCTAssertNotNil(stored.first?["processed_at"]?.stringValue)
        XCTAssertEqual(events().map { $0["type"]?.stringValue }, ["agent.tool_use", "user.message", "user.tool_result", "agent.tool_use"])
        let secondID = try XCTUnwrap(events()[3]["id"]?.stringValue)
        XCTAssertEqual(events()[3]["input"]?["command"]?.stringValue, "echo two")

        _ = try s.appendEvents(sessionID: created.sessionID, [.object([
            ("type", .string("user.tool_result")), ("tool_use_id", .string(secondID)),
            ("content", .array([])),
        ])], now: t0)
        XCTAssertEqual(events().last?["type"]?.stringValue, "session.status_terminated")
        XCTAssertEqual(try s.session(created.sessionID)["status"]?.stringValue, "terminated")
    }

    func testIdleEndEmitsEndTurn() throws {
        var s = makeState()
        let created = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .idle, now: t0)
        let last = try XCTUnwrap(s.sessions[created.sessionID]?.events.last)
        XCTAssertEqual(last["type"]?.stringValue, "session.status_idle")
        XCTAssertEqual(last["stop_reason"]?["type"]?.stringValue, "end_turn")
        XCTAssertEqual(try s.session(created.sessionID)["status"]?.stringValue, "idle")
    }

    /// §1, §2, §3.1, §8: which credential may call what.
    func testAuthorizationTable() throws {
        var s = makeState()
        let mine = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        let theirs = try s.createSession(environmentID: nil, metadata: [:], toolCalls: [], end: .terminate, now: t0)
        let other = try s.createSession(environmentID: "env_other", metadata: [:], toolCalls: [], end: .terminate, now: t0)
        let myToken = try XCTUnwrap(s.sessions[mine.sessionID].flatMap { _ in tokenOf(s, mine.workID, t0) })
        let env = AnthropicTestKeys.environmentKey, otherEnv = AnthropicTestKeys.otherEnvironmentKey, api = AnthropicTestKeys.apiKey

        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try s.authenticate(nil) }, 401)
        XCTAssertEqual(apiStatus { () throws(AnthropicEmulatorError) in _ = try s.authenticate("sk-ant-oat01-WRONG") }, 401)

        let table: [(credential: String, access: AnthropicAccess, env: String, work: String?, session: String?, status: Int?)] = [
            (env, .environmentKey, "env_test", nil, nil, nil),
            (otherEnv, .environmentKey, "env_test", nil, nil, 403),
            (api, .environmentKey, "env_test", nil, nil, 403),
            (myToken, .environmentKey, "env_test", nil, nil, 403),
            (env, .environmentKey, "env_unknown", nil, nil, 404),
            (api, .environmentKeyOrAPIKey, "env_test", nil, nil, nil),
            (env, .environmentKeyOrAPIKey, "env_test", nil, nil, nil),
            (api, .apiKey, "env_test", mine.workID, nil, nil),
            (env, .apiKey, "env_test", mine.workID, nil, 403),
            (myToken, .apiKey, "env_test", mine.workID, nil, 403),
            (myToken, .workItem(allowAPIKey: false), "env_test", mine.workID, nil, nil),
            (myToken, .workItem(allowAPIKey: false), "env_test", theirs.workID, nil, 403),
            (myToken, .workItem(allowAPIKey: false), "env_test", "work_missing", nil, 404),
            (env, .workItem(allowAPIKey: false), "env_test", theirs.workID, nil, nil),
            (otherEnv, .workItem(allowAPIKey: false), "env_test", mine.workID, nil, 403),
            (api, .workItem(allowAPIKey: false), "env_test", mine.workID, nil, 403),
            (api, .workItem(allowAPIKey: true), "env_test", mine.workID, nil, nil),
            (myToken, .session, "", nil, mine.sessionID, nil),
            (myToken, .session, "", nil, theirs.sessionID, 403),
            (env, .session, "", nil, theirs.sessionID, nil),
            (env, .session, "", nil, other.sessionID, 403),
            (otherEnv, .session, "", nil, other.sessionID, nil),
            (api, .session, "", nil, mine.sessionID, nil),
            (env, .session, "", nil, "sesn_missing", 404),
        ]
        for (i, row) in table.enumerated() {
            let status = apiStatus { () throws(AnthropicEmulatorError) in
                let c = try s.authenticate(row.credential)
                try s.authorize(c, row.access, environmentID: row.env.isEmpty ? nil : row.env, workID: row.work, sessionID: row.session)
            }
            XCTAssertEqual(status, row.status, "row \(i): \(row.access)")
        }
    }

    private func tokenOf(_ s: AnthropicEmulatorState, _ workID: String, _ now: Date) -> String? {
        var copy = s
        guard let item = try? copy.poll(environmentID: "env_test", reclaimOlderThanMilliseconds: 1, workerID: nil, now: now),
              item["id"]?.stringValue == workID, var b64 = item["secret"]?.stringValue else { return nil }
        b64 = b64.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { return nil }
        return (try? JSONValue.parse(Array(data)))?["sessions_token"]?.stringValue
    }

    func testRFC3339FormatterPrintsMicrosecondsAndWholeSeconds() {
        XCTAssertEqual(RFC3339.format(t0), "2026-11-01T12:00:00.000000Z")
        XCTAssertEqual(RFC3339.format(t0, fractionDigits: 0), "2026-11-01T12:00:00Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 951_782_400.25)), "2000-02-29T00:00:00.250000Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000000Z")
    }

    func testConfigurationValidationNamesTheBadField() {
        XCTAssertNoThrow(try AnthropicEmulatorConfiguration().validate())
        XCTAssertNoThrow(try AnthropicTestKeys.configuration().validate())
        let table: [(String, (inout AnthropicEmulatorConfiguration) -> Void)] = [
            ("environmentKey", { $0.environmentKey = "" }),
            ("webhookSigningKey", { $0.webhookSigningKey = "not-whsec" }),
            ("webhookSigningKey", { $0.webhookSigningKey = "whsec_%%%" }),
            ("heartbeatTTLSeconds", { $0.heartbeatTTLSeconds = 0 }),
            ("defaultReclaimOlderThanMilliseconds", { $0.defaultReclaimOlderThanMilliseconds = 0 }),
            ("webhookMaxAttempts", { $0.webhookMaxAttempts = 0 }),
            ("ssePingInterval", { $0.ssePingInterval = .zero }),
            ("apiKey", { $0.apiKey = $0.environmentKey }),
            ("additionalEnvironments", { $0.additionalEnvironments = [$0.environmentID: "sk-ant-oat01-X"] }),
        ]
        for (field, mutate) in table {
            var c = AnthropicEmulatorConfiguration()
            mutate(&c)
            XCTAssertThrowsError(try c.validate(), field) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error) should name \(field)")
                XCTAssertFalse("\(error)".contains("EMULATOR"), "no key values in the message")
            }
        }
    }
}
