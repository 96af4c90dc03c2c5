import APIClient
import AnthropicEmulator
import Foundation
import Synchronization
import TestSupport
import Webhooks
import XCTest

/// Outbound webhooks (anthropic.md §7.1, §7.4, §8.1): signed, 3 attempts, one
/// `webhook-id` per event with a fresh timestamp and signature per attempt.
final class AnthropicWebhookSenderTests: XCTestCase {
    /// A clock the test moves: each attempt happens at a later whole second.
    final class SteppingClock: Sendable {
        let seconds = Mutex<Double>(1_793_534_400)
        func now() -> Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
        func advance(_ s: Double) { seconds.withLock { $0 += s } }
    }

    func makeEmulator(transport: ScriptedTransport, sleeper: ManualSleeper, clock: SteppingClock) -> AnthropicEmulator {
        var config = AnthropicTestKeys.configuration()
        config.webhookURL = URL(string: "http://127.0.0.1:9/hooks/anthropic")
        return AnthropicEmulator(configuration: config, logger: LogRecorder().logger(), transport: transport,
                                 sleeper: sleeper, now: { clock.now() })
    }

    func testRetriesReuseTheWebhookIDWithFreshTimestampsAndSignaturesUntilA2xx() async throws {
        let transport = ScriptedTransport(), sleeper = ManualSleeper(), clock = SteppingClock()
        transport.script("POST", "/hooks/anthropic", [.status(500), .error(.timedOut), .status(204)])
        let emulator = makeEmulator(transport: transport, sleeper: sleeper, clock: clock)
        let created = try emulator.createSession()

        for _ in 0..<2 {
            let parked = await sleeper.waitForSleepers(1)
            XCTAssertTrue(parked, "the sender backs off between attempts")
            clock.advance(7)
            sleeper.advanceToNextDeadline()
        }
        await assertEventually { emulator.webhookAttempts.count == 3 }

        let requests = transport.requests("POST", "/hooks/anthropic")
        XCTAssertEqual(requests.count, 3)
        let ids = Set(requests.compactMap { $0.header("webhook-id") })
        XCTAssertEqual(ids.count, 1, "one webhook-id per event, reused on every attempt")
        XCTAssertEqual(Set(requests.compactMap { $0.header("webhook-timestamp") }).count, 3, "fresh timestamp per attempt")
        XCTAssertEqual(Set(requests.compactMap { $0.header("webhook-signature") }).count, 3)
        let verifier = try WebhookVerifier(secrets: [AnthropicTestKeys.signingKey])
        for request in requests {
            let body = Array(try XCTUnwrap(request.body))
            let ts = try XCTUnwrap(Int64(try XCTUnwrap(request.header("webhook-timestamp"))))
            let result = verifier.verify(body: body, header: { request.header($0) }, now: ts)
            guard case .success(let delivery) = result else { return XCTFail("signature does not verify: \(result)") }
            XCTAssertEqual(delivery.webhookID, ids.first)
            XCTAssertEqual(request.header("content-type"), "application/json")
            let envelope = try XCTUnwrap(WebhookEnvelope.decode(body))
            XCTAssertEqual(envelope.type, "event")
            XCTAssertEqual(envelope.dataType, "session.status_run_started")
            XCTAssertEqual(envelope.sessionID, created.sessionID)
            XCTAssertNotEqual(envelope.id, delivery.webhookID, "§7.3: envelope id and webhook-id are independent")
        }
        let attempts = emulator.webhookAttempts
        XCTAssertEqual(attempts.map(\.attempt), [1, 2, 3])
        XCTAssertEqual(attempts.map(\.status), [500, nil, 204])
        XCTAssertEqual(attempts[1].error, "request timed out")
        // Backoff between attempts (base 0.5 s doubling, jittered into (0.5, 1]).
        let sleeps = sleeper.requestedSleeps
        XCTAssertEqual(sleeps.count, 2)
        XCTAssertTrue(sleeps[0] > .milliseconds(250) && sleeps[0] <= .milliseconds(500), "\(sleeps)")
        XCTAssertTrue(sleeps[1] > .milliseconds(500) && sleeps[1] <= .seconds(1), "\(sleeps)")
        await emulator.shutdown()
    }

    func testDeliveryGivesUpAfterThreeFailedAttempts() async throws {
        let transport = ScriptedTransport(), sleeper = ManualSleeper(), clock = SteppingClock()
        transport.script("POST", "/hooks/anthropic", [.status(503)], repeatLast: true)
        let emulator = makeEmulator(transport: transport, sleeper: sleeper, clock: clock)
        try emulator.createSession()
        for _ in 0..<2 {
            let parked = await sleeper.waitForSleepers(1)
            XCTAssertTrue(parked)
            sleeper.advanceToNextDeadline()
        }
        await assertEventually { emulator.webhookAttempts.count == 3 }
        await emulator.shutdown()   // waits for the delivery task: no fourth attempt can follow
        XCTAssertEqual(transport.requests.count, 3)
        XCTAssertEqual(sleeper.requestedSleeps.count, 2)
    }

    func testARedirectEndsTheEventWithoutRetries() async throws {
        let transport = ScriptedTransport(), sleeper = ManualSleeper(), clock = SteppingClock()
        transport.script("POST", "/hooks/anthropic", [.status(301)], repeatLast: true)
        let emulator = makeEmulator(transport: transport, sleeper: sleeper, clock: clock)
        try emulator.createSession()
        await assertEventually { emulator.webhookAttempts.count == 1 }
        await emulator.shutdown()
        XCTAssertEqual(transport.requests.count, 1)
        XCTAssertTrue(sleeper.requestedSleeps.isEmpty)
    }

    func testCreatingASessionNeverWaitsForTheDelivery() async throws {
        let transport = ScriptedTransport(), sleeper = ManualSleeper(), clock = SteppingClock()
        transport.script("POST", "/hooks/anthropic", [.hang])
        let emulator = makeEmulator(transport: transport, sleeper: sleeper, clock: clock)
        let client = InProcessClient(router: emulator.router)
        let answer = await client.send(.POST, "/_emulator/sessions", body: "{}")
        XCTAssertEqual(answer.status, 200)
        XCTAssertNotNil(answer.json?["work_id"]?.stringValue)
        await assertEventually { transport.requests.count == 1 }
        await emulator.shutdown()   // cancels the hanging attempt
        let listed = await client.send(.GET, "/_emulator/webhooks")
        XCTAssertEqual(listed.json?["data"], .array([]), "a cancelled attempt is not recorded")
    }

    func testNoWebhookURLMeansNoDeliveriesUntilOneIsSet() async throws {
        let transport = ScriptedTransport()
        transport.script("POST", "/late/hook", [.status(202)])
        let emulator = AnthropicEmulator(configuration: AnthropicTestKeys.configuration(),
                                         logger: LogRecorder().logger(), transport: transport)
        try emulator.createSession()
        XCTAssertNil(emulator.deliverWebhook(eventType: "session.status_idled", sessionID: "sesn_x"))
        XCTAssertTrue(transport.requests.isEmpty)
        emulator.webhookURL = URL(string: "http://127.0.0.1:9/late/hook")
        let created = try emulator.createSession()
        await assertEventually { emulator.webhookAttempts.count == 1 }
        await emulator.shutdown()
        XCTAssertEqual(transport.requests.count, 1)
        XCTAssertEqual(emulator.webhookAttempts.first?.sessionID, created.sessionID)
        XCTAssertEqual(emulator.webhookAttempts.first?.status, 202)
    }

    func testControlSurfaceSendsAnyEventTypeForASession() async throws {
        let transport = ScriptedTransport(), sleeper = ManualSleeper(), clock = SteppingClock()
        transport.script("POST", "/hooks/anthropic", [.status(200)], repeatLast: true)
        let emulator = makeEmulator(transport: transport, sleeper: sleeper, clock: clock)
        let client = InProcessClient(router: emulator.router)
        let created = try emulator.createSession()
        let answer = await client.send(.POST, "/_emulator/sessions/\(created.sessionID)/webhooks", body: #"{"type":"session.status_idled"}"#)
        let id = try XCTUnwrap(answer.json?["webhook_id"]?.stringValue)
        await assertEventually { emulator.webhookAttempts.count == 2 }
        let listed = await client.send(.GET, "/_emulator/webhooks")
        let entries = listed.json?["data"]?.arrayValue ?? []
        XCTAssertEqual(Set(entries.compactMap { $0["type"]?.stringValue }), ["session.status_run_started", "session.status_idled"])
        XCTAssertTrue(entries.contains { $0["webhook_id"]?.stringValue == id && $0["status"]?.intValue == 200 && $0["attempt"]?.intValue == 1 })
        let missing = await client.send(.POST, "/_emulator/sessions/sesn_missing/webhooks", body: "{}")
        XCTAssertEqual(missing.status, 404)
        await emulator.shutdown()
    }
}
