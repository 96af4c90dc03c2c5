import APIClient
import Foundation
import HTTPServer
import Logging
@testable import Orchestrator
import TestSupport
import Webhooks
import WorkQueue
import XCTest

/// Rules 38–43 on a real socket: verify first, answer at once, coalesce into the
/// drain trigger, dedupe after verification, 503 while stopping, and never echo or
/// log a secret or an expected MAC.
final class WebhookEndpointTests: XCTestCase {
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    static let rotated = "whsec_" + Data(repeating: 0xAB, count: 32).base64EncodedString()

    final class Fixture: @unchecked Sendable {
        /// The real scheduler, never run: `triggersReceived` counts what deliveries asked for.
        let scheduler = DrainScheduler(interval: .seconds(3600)) {}
        let pauses = Locked<[String]>([])
        let stop = StopFlag()
        let capture = LogRecorder()
        let metrics = OrchestratorMetrics()
        var server: ServerHarness!
        var now: Int64 = 1_800_000_000
    }

    func makeFixture(pauseOnIdle: Bool = false) throws -> Fixture {
        let f = Fixture()
        let now = f.now
        let verifier = try WebhookVerifier(secrets: [Self.secret, Self.rotated])
        var schedulePause: (@Sendable (String) -> Void)?
        if pauseOnIdle { schedulePause = { session in f.pauses.withLock { $0.append(session) } } }
        let endpoint = WebhookEndpoint(
            verifier: verifier,
            dedupe: DeliveryDedupe(windowSeconds: 600),
            scheduler: f.scheduler,
            schedulePause: schedulePause,
            stop: f.stop,
            metrics: f.metrics, activity: ActivityLog(), logger: f.capture.logger(), now: { now })
        var router = Router()
        router.add(.POST, "/webhooks", maxBodyBytes: 1 << 20, .sync { endpoint.handle($0) })
        f.server = try ServerHarness(router: router)
        return f
    }

    static func body(type: String = "session.status_run_started", session: String = "sesn_011CZkZ") -> [UInt8] {
        Array(#"{"type":"event","id":"wevt_1","created_at":"2026-12-01T00:00:00Z","data":{"type":"\#(type)","id":"\#(session)","organization_id":"org_1","workspace_id":"wrkspc_1"}}"#.utf8)
    }

    func post(_ f: Fixture, body: [UInt8], headers: [(String, String)]) async throws -> (Int, String) {
        let r = try await URLSessionTransport().send(OutboundRequest(
            method: "POST", url: URL(string: "http://127.0.0.1:\(f.server.port)/webhooks")!,
            headers: headers + [("Content-Type", "application/json")], body: Data(body), timeout: .seconds(5)))
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    func signed(_ body: [UInt8], id: String = "msg_1", timestamp: Int64, secret: String = secret) throws -> [(String, String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)),
         ("webhook-signature", try WebhookSigner.signature(secret: secret, id: id, timestamp: timestamp, body: body))]
    }

    func testARunStartedDeliveryIsQueuedAndTriggersOneDrain() async throws {
        let f = try makeFixture()
        defer { Task { await f.server.stop() } }
        let body = Self.body()
        let (status, text) = try await post(f, body: body, headers: try signed(body, timestamp: f.now))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(text, #"{"status":"queued"}"#)
        XCTAssertEqual(f.scheduler.triggersReceived, 1)
    }

    func testARotatedKeyIsAcceptedAndARepeatedWebhookIDIsADuplicate() async throws {
        let f = try makeFixture()
        defer { Task { await f.server.stop() } }
        let body = Self.body()
        let headers = try signed(body, id: "msg_rot", timestamp: f.now, secret: Self.rotated)
        let first = try await post(f, body: body, headers: headers)
        let second = try await post(f, body: body, headers: headers)
        XCTAssertEqual(first.1, #"{"status":"queued"}"#)
        XCTAssertEqual(second.0, 200)
        XCTAssertEqual(second.1, #"{"status":"duplicate"}"#)
        XCTAssertEqual(f.scheduler.triggersReceived, 1, "a duplicate schedules no drain")
    }

    func testOtherVerifiedTypesAreIgnoredAndIdleEventsSchedulePausesWhenEnabled() async throws {
        let f = try makeFixture()
        let g = try makeFixture(pauseOnIdle: true)
        defer { Task { await f.server.stop(); await g.server.stop() } }
        let idled = Self.body(type: "session.status_idled", session: "sesn_idle")
        let a = try await post(f, body: idled, headers: try signed(idled, id: "msg_a", timestamp: f.now))
        XCTAssertEqual(a.1, #"{"status":"ignored"}"#)
        let b = try await post(g, body: idled, headers: try signed(idled, id: "msg_b", timestamp: g.now))
        XCTAssertEqual(b.1, #"{"status":"pause_scheduled"}"#)
        XCTAssertEqual(g.pauses.withLock { $0 }, ["sesn_idle"])
        XCTAssertEqual(f.scheduler.triggersReceived + g.scheduler.triggersReceived, 0)
    }

    func testEveryVerificationFailureIs401WithAFixedBodyAndNoDrain() async throws {
        let f = try makeFixture()
        defer { Task { await f.server.stop() } }
        let body = Self.body()
        let good = try signed(body, timestamp: f.now)
        let signature = good[2].1
        var tampered = body
        tampered[tampered.count - 3] ^= 0x01
        let wrongKey = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        let cases: [(String, [UInt8], [(String, String)])] = [
            ("timestamp +301 s", body, try signed(body, timestamp: f.now + 301)),
            ("timestamp -301 s", body, try signed(body, timestamp: f.now - 301)),
            ("float timestamp", body, [good[0], ("webhook-timestamp", "\(f.now).5"), good[2]]),
            ("non-numeric timestamp", body, [good[0], ("webhook-timestamp", "soon"), good[2]]),
            ("missing id", body, [good[1], good[2]]),
            ("missing timestamp", body, [good[0], good[2]]),
            ("missing signature", body, [good[0], good[1]]),
            ("no v1 prefix", body, [good[0], good[1], ("webhook-signature", "v2," + signature.dropFirst(3))]),
            ("entry without comma", body, [good[0], good[1], ("webhook-signature", "v1" + signature.dropFirst(3))]),
            ("malformed entry after the match", body, [good[0], good[1], ("webhook-signature", signature + " v1")]),
            ("wrong key", body, try signed(body, timestamp: f.now, secret: wrongKey)),
            ("one changed body byte", tampered, good),
            ("empty signature list", body, [good[0], good[1], ("webhook-signature", "")]),
        ]
        for (name, payload, headers) in cases {
            let (status, text) = try await post(f, body: payload, headers: headers)
            XCTAssertEqual(status, 401, name)
            XCTAssertEqual(text, #"{"error":"invalid webhook signature"}"#, name)
        }
        XCTAssertEqual(f.scheduler.triggersReceived, 0, "no failure may trigger work")

        // Nothing secret in the logs: not the keys, not their base64 body, not the expected MAC.
        let logs = f.capture.text
        XCTAssertTrue(logs.contains("webhook.rejected"))
        for secret in [Self.secret, String(Self.secret.dropFirst(6)), Self.rotated, String(Self.rotated.dropFirst(6)),
                       String(signature.dropFirst(3))] {
            XCTAssertFalse(logs.contains(secret), "a secret or MAC reached the logs")
        }
    }

    /// Rule 39 (amended): a verified body that is not a readable envelope is ignored
    /// with a 200 (a non-2xx would only cause retries), counted as malformed, and
    /// still schedules a drain; the same bytes unsigned or badly signed stay 401.
    func testAVerifiedUnreadableBodyIsIgnoredCountedAsMalformedAndDrains() async throws {
        let f = try makeFixture()
        defer { Task { await f.server.stop() } }
        let wrongKey = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        let bodies: [(String, [UInt8])] = [
            ("non-UTF-8 bytes", [0xFF, 0xFE, 0x00, 0x7B]),
            ("JSON without data", Array(#"{"type":"event","id":"wevt_1"}"#.utf8)),
            ("truncated JSON", Array(Self.body().dropLast(5))),
        ]
        for (k, (name, body)) in bodies.enumerated() {
            let unsigned = try await post(f, body: body, headers: [])
            XCTAssertEqual(unsigned.0, 401, "\(name), unsigned")
            let forged = try await post(f, body: body, headers: try signed(body, id: "msg_f\(k)", timestamp: f.now, secret: wrongKey))
            XCTAssertEqual(forged.0, 401, "\(name), wrong key")
            XCTAssertEqual(f.scheduler.triggersReceived, k, "\(name): a rejected body drains nothing")

            let (status, text) = try await post(f, body: body, headers: try signed(body, id: "msg_m\(k)", timestamp: f.now))
            XCTAssertEqual(status, 200, name)
            XCTAssertEqual(text, #"{"status":"ignored"}"#, name)
            XCTAssertEqual(f.scheduler.triggersReceived, k + 1, "\(name): schedules a drain")
            XCTAssertEqual(f.metrics.webhooks(.malformed), k + 1, name)
        }
        XCTAssertEqual(f.metrics.webhooks(.ignored), 0, "counted as malformed, not as an ignored event")
        XCTAssertEqual(f.metrics.webhooks(.rejected), 2 * bodies.count)
    }

    func testWhileStoppingAVerifiedDeliveryGets503AndAForgedOneStill401() async throws {
        let f = try makeFixture()
        defer { Task { await f.server.stop() } }
        f.stop.set()
        let body = Self.body()
        let (status, _) = try await post(f, body: body, headers: try signed(body, timestamp: f.now))
        XCTAssertEqual(status, 503)
        let forged = try await post(f, body: body, headers: try signed(body, timestamp: f.now, secret: "whsec_" + Data(repeating: 3, count: 32).base64EncodedString()))
        XCTAssertEqual(forged.0, 401)
        XCTAssertEqual(f.scheduler.triggersReceived, 0)
    }
}
