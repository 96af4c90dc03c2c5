import APIClient
import Foundation
import Orchestrator
import TestSupport
import Webhooks
import WorkQueue
import XCTest

/// Issue 3's end to end: the Anthropic emulator, the server's webhook route and the
/// drain, with a recording handler in place of the launcher.
final class QueueEndToEndTests: XCTestCase {
    /// 50 sessions while 20% of the emulator's API answers fail with 429/500/503:
    /// every item is acked exactly once, handed over exactly once, none left queued.
    func testFiftySessionsUnderInjectedFailuresAreEachAckedAndHandedOverOnce() async throws {
        let handler = RecordingHandler()
        let running = try await Harness.start(environment: ["CMA_DRAIN_INTERVAL_SECONDS": "2"], workHandler: handler)
        try await running.scoped {
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            let plan = try await running.call("POST", "/_emulator/faults",
                                              json: #"{"error_rate":0.2,"statuses":[429,500,503],"retry_after_seconds":0}"#)
            XCTAssertEqual(plan.status, 200, plan.body)
            var workIDs: [String] = []
            for _ in 0..<50 {
                let created = try await running.object("POST", "/_emulator/sessions", json: "{}")
                workIDs.append(try XCTUnwrap(created["work_id"] as? String))
            }
            try await running.eventually("50 hand-offs", timeout: .seconds(180), interval: .milliseconds(250)) {
                handler.handled.count >= 50
            }
            _ = try await running.call("DELETE", "/_emulator/faults")
            // One whole drain after the faults end, then check nothing came twice: drains
            // run one at a time, so the second start from here means the first one ended.
            let started = try await running.drainsStarted()
            try await running.eventually("a whole timer drain", timeout: .seconds(30)) {
                try await running.drainsStarted() >= started + 2
            }
            let handled = handler.handled.map(\.id)
            XCTAssertEqual(handled.count, 50, "every item handed over exactly once")
            XCTAssertEqual(Set(handled), Set(workIDs))
            for id in workIDs {
                let item = try await running.object("GET", "/_emulator/work/\(id)")
                let calls = item["calls"] as? [[String: Any]] ?? []
                let acks = calls.filter { $0["call"] as? String == "ack" && ($0["status"] as? Int) == 200 }
                XCTAssertEqual(acks.count, 1, "\(id): \(calls)")
                XCTAssertNotEqual(item["state"] as? String, "queued", id)
                XCTAssertFalse(calls.contains { $0["call"] as? String == "stop" }, "a handed-off item is never stopped (rule 9)")
            }
            let status = try await running.object("GET", "/status")
            XCTAssertEqual((status["webhooks"] as? [String: Any])?["queued"] as? Int ?? 0 > 0, true)
        }
    }

    /// Rule 38: a delivery signed with another key is refused and claims nothing.
    func testAForgedWebhookIsRefusedAndClaimsNothing() async throws {
        let handler = RecordingHandler()
        let running = try await Harness.start(environment: ["CMA_DRAIN_INTERVAL_SECONDS": "3600"], workHandler: handler)
        try await running.scoped {
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            // Enqueue without a webhook: the emulator's sender is pointed elsewhere.
            running.emulators?.anthropic.webhookURL = nil
            let created = try await running.object("POST", "/_emulator/sessions", json: "{}")
            let sessionID = try XCTUnwrap(created["session_id"] as? String)
            let workID = try XCTUnwrap(created["work_id"] as? String)
            let forgedKey = "whsec_" + Data(repeating: 0x42, count: 32).base64EncodedString()
            let result = try await WebhookTrigger.send(url: running.base.appendingPathComponent("webhooks"),
                                                       signingKey: forgedKey, type: "session.status_run_started",
                                                       sessionID: sessionID)
            XCTAssertEqual(result.status, 401)
            XCTAssertEqual(result.body, #"{"error":"invalid webhook signature"}"#)
            // The route triggers drains inline, before it answers: a trigger the forged
            // delivery had caused would already be counted.
            let triggersAfterForgery = try await running.drainTriggers()
            XCTAssertEqual(triggersAfterForgery, 0)
            XCTAssertTrue(handler.handled.isEmpty)
            let item = try await running.object("GET", "/_emulator/work/\(workID)")
            XCTAssertEqual(item["state"] as? String, "queued")

            // The same trigger with the right key drains it.
            let key = try XCTUnwrap(running.emulators?.signingKey)
            let good = try await WebhookTrigger.send(url: running.base.appendingPathComponent("webhooks"), signingKey: key,
                                                     type: "session.status_run_started", sessionID: sessionID)
            XCTAssertEqual(good.body, #"{"status":"queued"}"#)
            let triggersAfterGood = try await running.drainTriggers()
            XCTAssertEqual(triggersAfterGood, 1)
            try await running.eventually("the hand-off") { handler.handled.map(\.id) == [workID] }
        }
    }

    /// Rule 2: the always-on loop (`poll`) takes the same items without any webhook.
    func testThePollModeTakesWorkWithoutWebhooks() async throws {
        let handler = RecordingHandler()
        let running = try await Harness.start(mode: .poll, workHandler: handler)
        try await running.scoped {
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            XCTAssertNil(running.emulators?.anthropic.webhookURL, "poll mode has no webhook route")
            var workIDs: Set<String> = []
            for _ in 0..<5 {
                let created = try await running.object("POST", "/_emulator/sessions", json: "{}")
                workIDs.insert(try XCTUnwrap(created["work_id"] as? String))
            }
            try await running.eventually("5 hand-offs", timeout: .seconds(60)) { Set(handler.handled.map(\.id)) == workIDs }
            let webhook = try await running.call("POST", "/webhooks", json: "{}")
            XCTAssertTrue([404, 405].contains(webhook.status), "no webhook route in poll mode: \(webhook.status)")
            let status = try await running.object("GET", "/status")
            XCTAssertEqual(status["mode"] as? String, "poll")
        }
        XCTAssertEqual(handler.handled.count, 5)
    }
}
