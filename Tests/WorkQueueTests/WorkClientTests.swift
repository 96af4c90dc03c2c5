import Synchronization
import XCTest
import Foundation
import APIClient
import TestSupport
@testable import WorkQueue

final class WorkClientTests: XCTestCase {
    // anthropic.md §1, rule 3: exact headers per call
    func testHeadersAreExactPerCall() async throws {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [.json(200, Q.itemJSON("w1"))])
        transport.script("POST", Q.stopPath("w1"), [.json(200, Q.itemJSON("w1"))])
        transport.script("POST", Q.heartbeatPath("w1"), [.json(200, #"{"type":"work_heartbeat","last_heartbeat":"x","lease_extended":true,"state":"active","ttl_seconds":60}"#)])
        transport.script("GET", "/prefix/v1/sessions/sesn_1", [.json(200, #"{"id":"sesn_1","status":"idle","metadata":{"superserve.sandbox_id":"sbx"}}"#)])
        let client = Q.client(transport)
        _ = try await client.poll(blockMs: nil, reclaimOlderThanMs: 2000)
        try await client.ack(workID: "w1")
        _ = try await client.stop(workID: "w1", force: false)
        _ = try await client.heartbeat(workID: "w1", expectedLastHeartbeat: "NO_HEARTBEAT")
        _ = try await client.session(id: "sesn_1")
        XCTAssertEqual(transport.unscripted, [])
        let common = [("Authorization", "Bearer \(Q.key)"), ("anthropic-version", "2026-10-21"),
                      ("anthropic-beta", "managed-agents-2026-04-01"), ("Accept", "application/json")]
        let requests = transport.requests
        XCTAssertEqual(requests.count, 5)
        func names(_ r: OutboundRequest) -> [String] { r.headers.map { "\($0.0): \($0.1)" } }
        let base = common.map { "\($0.0): \($0.1)" }
        XCTAssertEqual(names(requests[0]), base + ["Anthropic-Worker-ID: \(Q.workerID)"])       // poll only
        for post in requests[1...3] {
            XCTAssertEqual(names(post), base + ["Content-Type: application/json"], post.url.path)
        }
        XCTAssertEqual(names(requests[4]), base)
        XCTAssertEqual(requests[1].body, Data())            // empty POST still has a body of 0 bytes
        XCTAssertEqual(Q.bodyText(requests[2]), "{}")
        XCTAssertEqual(Q.query(requests[3]), ["expected_last_heartbeat": "NO_HEARTBEAT"])
        XCTAssertNil(requests[0].body)
    }

    // rules 2, 4: block_ms omitted when nil, never 0; reclaim sent
    func testPollQueryTable() async throws {
        let cases: [(block: Int?, reclaim: Int?, query: [String: String], timeout: Duration)] = [
            (nil, 2000, ["reclaim_older_than_ms": "2000"], .seconds(5)),
            (0, 2000, ["reclaim_older_than_ms": "2000"], .seconds(5)),
            (999, 2000, ["block_ms": "999", "reclaim_older_than_ms": "2000"], .milliseconds(10_999)),
            (5000, nil, ["block_ms": "999"], .milliseconds(10_999)),
            (1, nil, ["block_ms": "1"], .milliseconds(10_001)),
        ]
        for c in cases {
            let transport = ScriptedTransport()
            transport.script("GET", Q.pollPath, [.json(200, "null")])
            _ = try await Q.client(transport).poll(blockMs: c.block, reclaimOlderThanMs: c.reclaim)
            let request = try XCTUnwrap(transport.requests.first)
            XCTAssertEqual(Q.query(request), c.query, "\(c)")
            XCTAssertEqual(request.timeout, c.timeout, "\(c)")
            XCTAssertGreaterThan(request.timeout, .milliseconds(c.block.map { min(max($0, 0), 999) } ?? 0))
        }
    }

    // rule 4: every "no work" shape
    func testNoWorkShapesReadAsNil() async throws {
        let answers: [(String, ScriptedTransport.Answer)] = [
            ("200 null", .json(200, "null")),
            ("200 null with whitespace", .json(200, " null\n")),
            ("204", .status(204)),
            ("200 empty body", .response(status: 200, body: "")),
            ("200 {}", .json(200, "{}")),
            ("object without id", .json(200, #"{"type":"work","state":"queued"}"#)),
            ("empty id", .json(200, #"{"id":""}"#)),
            ("numeric id", .json(200, #"{"id":5}"#)),
            ("array", .json(200, "[]")),
        ]
        for (name, answer) in answers {
            let transport = ScriptedTransport()
            transport.script("GET", Q.pollPath, [answer])
            let item = try await Q.client(transport).poll(blockMs: nil, reclaimOlderThanMs: 2000)
            XCTAssertNil(item, name)
        }
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w9"))])
        let item = try await Q.client(transport).poll(blockMs: nil, reclaimOlderThanMs: 2000)
        XCTAssertEqual(item?.id, "w9")
        XCTAssertEqual(item?.sessionID, "sesn_w9")
    }

    func testStopSendsForceBodyAndTreats409AsAlreadyStopped() async throws {
        let transport = ScriptedTransport()
        transport.script("POST", Q.stopPath("w1"), [.json(200, "{}"), .json(409, #"{"type":"error","error":{"type":"invalid_request_error","message":"already stopped"}}"#, headers: ["x-should-retry": "false"])])
        let client = Q.client(transport)
        let first = try await client.stop(workID: "w1", force: true)
        let second = try await client.stop(workID: "w1", force: true)
        XCTAssertEqual(first, .stopped)
        XCTAssertEqual(second, .alreadyStopped)
        XCTAssertEqual(transport.requests.map { Q.bodyText($0) }, [#"{"force":true}"#, #"{"force":true}"#])
    }

    func testStopRetriesTransientFailuresWithBackoffHonouringRetryAfter() async throws {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("POST", Q.stopPath("w1"), [.error(.timedOut), .json(429, "{}", headers: ["retry-after": "4"]), .json(200, "{}")])
        let client = Q.client(transport, sleeper: sleeper)
        let task = Task { try await client.stop(workID: "w1", force: true) }
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        sleeper.advanceToNextDeadline()
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        sleeper.advanceToNextDeadline()
        let outcome = try await task.value
        XCTAssertEqual(outcome, .stopped)
        XCTAssertEqual(sleeper.requestedSleeps, [.milliseconds(500), .seconds(4)])   // random pinned: factor 1
    }

    func testStopGivesUpAfterTheAttemptLimitAndOnFatal() async throws {
        let transport = ScriptedTransport()
        transport.script("POST", Q.stopPath("w1"), [.json(404, #"{"type":"error","error":{"type":"not_found_error","message":"x"}}"#)])
        do {
            _ = try await Q.client(transport).stop(workID: "w1", force: true)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.status, 404)
            XCTAssertEqual(error.description, "anthropic HTTP 404 not_found_error")
        }
        XCTAssertEqual(transport.requests.count, 1)
    }

    func testSessionReadReturnsMetadataAnd404IsNotFound() async throws {
        let transport = ScriptedTransport()
        transport.script("GET", "/prefix/v1/sessions/sesn_1", [.json(200, #"{"id":"sesn_1","status":"running","metadata":{"a":"b","n":3}}"#)])
        transport.script("GET", "/prefix/v1/sessions/sesn_2", [.json(404, #"{"type":"error","error":{"type":"not_found_error","message":"x"}}"#)])
        let client = Q.client(transport)
        let info = try await client.session(id: "sesn_1")
        XCTAssertEqual(info, SessionInfo(id: "sesn_1", status: "running", metadata: ["a": "b"]))
        do {
            _ = try await client.session(id: "sesn_2")
            XCTFail("expected 404")
        } catch {
            XCTAssertEqual(ErrorClassifier.disposition(of: error, for: .session), .notFound)
        }
    }

    // rule 36: at most 4 Anthropic calls in flight, one poll
    func testAtMostFourCallsAndOnePollInFlight() async throws {
        let transport = ScriptedTransport()
        let gate = AsyncSemaphore(value: 0)
        let held: ScriptedTransport.Answer = .dynamic { _ in
            try? await gate.wait()
            return InboundResponse(status: 200, headers: [:], body: Data("null".utf8))
        }
        for i in 0..<8 { transport.script("POST", Q.ackPath("w\(i)"), [held]) }
        transport.script("GET", Q.pollPath, Array(repeating: held, count: 3))
        let client = Q.client(transport)
        let done = Locked(0)
        let tasks = (0..<8).map { i in Task { try await client.ack(workID: "w\(i)"); done.withLock { $0 += 1 } } }
        do { let ok = await transport.waitUntil { $0.count == 4 }; XCTAssertTrue(ok) }
        XCTAssertEqual(transport.inFlight, 4)
        for _ in 0..<8 { gate.signal() }
        for t in tasks { try await t.value }
        XCTAssertEqual(transport.peakInFlight, 4)

        let polls = (0..<3).map { _ in Task { _ = try await client.poll(blockMs: nil, reclaimOlderThanMs: 2000) } }
        do { let ok = await transport.waitUntil { $0.count == 9 }; XCTAssertTrue(ok) }
        XCTAssertEqual(transport.inFlight, 1)
        for _ in 0..<3 { gate.signal() }
        for t in polls { try await t.value }
        XCTAssertEqual(transport.requests(("GET"), Q.pollPath).count, 3)
    }

    func testErrorsNeverContainTheKey() async throws {
        let transport = ScriptedTransport()
        transport.script("POST", Q.ackPath("w1"), [.json(401, #"{"type":"error","error":{"type":"sk-ant-oat01-TEST","message":"bad key sk-ant-oat01-TEST"},"request_id":"sk-ant-oat01-TEST"}"#)])
        transport.script("POST", Q.ackPath("w2"), [.error(.connectionFailed("cannot connect to host (-1004) talking to 127.0.0.1:9"))])
        let client = Q.client(transport)
        for id in ["w1", "w2"] {
            do {
                try await client.ack(workID: id)
                XCTFail("expected an error")
            } catch {
                for text in [error.description, String(reflecting: error), "\(error)"] {
                    XCTAssertFalse(text.contains("sk-ant"), text)
                }
            }
        }
        XCTAssertFalse(String(describing: Q.configuration()).contains(Q.key))
    }

    func testWorkerIDIsHostnameDashTwelveHexAndStable() {
        let id = AnthropicAPIConfiguration.processWorkerID
        XCTAssertEqual(id, AnthropicAPIConfiguration.processWorkerID)
        let suffix = id.split(separator: "-").last.map(String.init) ?? ""
        XCTAssertEqual(suffix.count, 12)
        XCTAssertTrue(suffix.allSatisfy { $0.isHexDigit })
        XCTAssertGreaterThan(id.count, 13)
    }
}
