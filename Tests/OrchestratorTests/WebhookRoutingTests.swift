import APIClient
import Foundation
import HTTPServer
@testable import Orchestrator
import TestSupport
import Webhooks
import WorkQueue
import XCTest

/// Rule 42 with several environments: a delivery names no environment, so the key that
/// verified it picks the environments to drain. Each distinct key is verified once.
final class WebhookRoutingTests: XCTestCase {
    static let shared = "whsec_" + Data(repeating: 0x11, count: 32).base64EncodedString()
    static let alphaOnly = "whsec_" + Data(repeating: 0x22, count: 32).base64EncodedString()
    static let gammaOnly = "whsec_" + Data(repeating: 0x33, count: 32).base64EncodedString()

    func testAKeySharedByEnvironmentsIsOneKeyDrainingAllOfThem() throws {
        // env 0: its own key and the shared one; env 1: the shared one (written without
        // the prefix and padding, the same key); env 2: its own.
        let bare = String(Self.shared.dropFirst(6)).replacingOccurrences(of: "=", with: "")
        let routing = try WebhookRouting(keysByEnvironment: [[Self.alphaOnly, Self.shared], [bare], [Self.gammaOnly]])
        XCTAssertEqual(routing.distinctKeys, 3, "the shared key is verified once, whichever way it is written")
        XCTAssertEqual(routing.environments(matching: 0b001), 0b001, "env 0's own key")
        XCTAssertEqual(routing.environments(matching: 0b010), 0b011, "the shared key drains env 0 and env 1")
        XCTAssertEqual(routing.environments(matching: 0b100), 0b100, "env 2's own key")
        XCTAssertEqual(routing.environments(matching: 0b110), 0b111, "a delivery signed with two keys drains both sets")
        XCTAssertEqual(routing.environments(matching: 0), 0)
    }

    func testVerificationNamesTheKeysThatMatched() throws {
        let verifier = try WebhookVerifier(secrets: [Self.alphaOnly, Self.shared, Self.gammaOnly])
        let body = Array(#"{"type":"event"}"#.utf8)
        let now: Int64 = 1_800_000_000
        let one = try WebhookSigner.signature(secret: Self.shared, id: "msg_1", timestamp: now, body: body)
        let two = try WebhookSigner.signature(secret: Self.gammaOnly, id: "msg_1", timestamp: now, body: body)
        func keys(_ signature: String) -> UInt64? {
            var id = "msg_1", ts = String(now), sig = signature
            return id.withUTF8 { i in ts.withUTF8 { t in sig.withUTF8 { s in
                try? verifier.verifyMatching(body: body, id: UnsafeRawBufferPointer(i), timestamp: UnsafeRawBufferPointer(t),
                                             signature: UnsafeRawBufferPointer(s), now: now).get().keys
            } } }
        }
        XCTAssertEqual(keys(one), 0b010)
        XCTAssertEqual(keys(one + " " + two), 0b110)
        let stranger = try WebhookSigner.signature(secret: "whsec_" + Data(repeating: 0x44, count: 32).base64EncodedString(),
                                                   id: "msg_1", timestamp: now, body: body)
        XCTAssertNil(keys(stranger), "no key of ours: rejected")
    }

    func testEveryEnvironmentNeedsAKeyAndAtMost64Environments() {
        XCTAssertThrowsError(try WebhookRouting(keysByEnvironment: [[Self.shared], []]))
        XCTAssertThrowsError(try WebhookRouting(keysByEnvironment: Array(repeating: [Self.shared], count: 65)))
        XCTAssertThrowsError(try WebhookRouting(keysByEnvironment: [["whsec_not base64!"]]))
        XCTAssertNoThrow(try WebhookRouting(keysByEnvironment: Array(repeating: [Self.shared], count: 64)))
    }

    /// On a real socket: each delivery triggers the drains of its key's environments only.
    func testTheEndpointTriggersTheDrainsOfTheVerifyingKeysEnvironments() async throws {
        let routing = try WebhookRouting(keysByEnvironment: [[Self.alphaOnly, Self.shared], [Self.shared], [Self.gammaOnly]])
        // Real schedulers, never run: `triggersReceived` counts what deliveries asked for.
        let schedulers = (0..<3).map { _ in DrainScheduler(interval: .seconds(3600)) {} }
        let pauses = Locked<[Int]>([])
        let now: Int64 = 1_800_000_000
        let endpoint = WebhookEndpoint(
            routing: routing, dedupe: DeliveryDedupe(windowSeconds: 600), schedulers: schedulers,
            schedulePause: { environment, _ in pauses.withLock { $0.append(environment) } }, stop: StopFlag(),
            metrics: OrchestratorMetrics(environmentIDs: ["env_a", "env_b", "env_c"]), activity: ActivityLog(),
            logger: LogRecorder().logger(), now: { now })
        var router = Router()
        router.add(.POST, "/webhooks", maxBodyBytes: 1 << 20, .sync { endpoint.handle($0) })
        let server = try ServerHarness(router: router)
        func deliver(_ secret: String, id: String, type: String = "session.status_run_started") async throws -> Int {
            let body = Array(#"{"type":"event","id":"wevt_1","created_at":"2026-12-01T00:00:00Z","data":{"type":"\#(type)","id":"sesn_1","organization_id":"org_1","workspace_id":"wrkspc_1"}}"#.utf8)
            let signature = try WebhookSigner.signature(secret: secret, id: id, timestamp: now, body: body)
            let response = try await URLSessionTransport().send(OutboundRequest(
                method: "POST", url: URL(string: "http://127.0.0.1:\(server.port)/webhooks")!,
                headers: [("Content-Type", "application/json"), ("webhook-id", id), ("webhook-timestamp", String(now)),
                          ("webhook-signature", signature)],
                body: Data(body), timeout: .seconds(5)))
            return response.status
        }
        do {
            func counts() -> [Int] { schedulers.map(\.triggersReceived) }
            let sharedStatus = try await deliver(Self.shared, id: "msg_1")
            XCTAssertEqual(sharedStatus, 200)
            XCTAssertEqual(counts(), [1, 1, 0])
            let alphaStatus = try await deliver(Self.alphaOnly, id: "msg_2")
            XCTAssertEqual(alphaStatus, 200)
            XCTAssertEqual(counts(), [2, 1, 0])
            let gammaStatus = try await deliver(Self.gammaOnly, id: "msg_3")
            XCTAssertEqual(gammaStatus, 200)
            XCTAssertEqual(counts(), [2, 1, 1])
            let repeatStatus = try await deliver(Self.gammaOnly, id: "msg_3")
            XCTAssertEqual(repeatStatus, 200, "a duplicate is answered")
            XCTAssertEqual(counts(), [2, 1, 1], "…and drains nothing (rule 41)")
            let strangerStatus = try await deliver("whsec_" + Data(repeating: 0x55, count: 32).base64EncodedString(), id: "msg_4")
            XCTAssertEqual(strangerStatus, 401)
            XCTAssertEqual(counts(), [2, 1, 1])
            // Rule 43's pause (when enabled) is scheduled once, in the key's first environment.
            let idled = try await deliver(Self.gammaOnly, id: "msg_5", type: "session.status_idled")
            XCTAssertEqual(idled, 200)
            let shared = try await deliver(Self.shared, id: "msg_6", type: "session.status_idled")
            XCTAssertEqual(shared, 200)
            XCTAssertEqual(pauses.withLock { $0 }, [2, 0])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// With several environments the per-environment families carry an `environment`
    /// label bounded by the configured ids; with one they keep their unlabelled names.
    func testPerEnvironmentFamiliesAreLabelledOnlyWithSeveralEnvironments() {
        let several = OrchestratorMetrics(environmentIDs: ["env_a", "env_b"])
        several.scope("env_b").launch("launched", duration: .milliseconds(5))
        several.scope("env_b").workQueueCallFailed(.poll, .fatal)
        let text = String(decoding: several.exposition(), as: UTF8.self)
        XCTAssertTrue(text.contains(#"cma_sandbox_launches_total{environment="env_b",outcome="launched"} 1"#), text)
        XCTAssertTrue(text.contains(#"cma_sandbox_launches_total{environment="env_a",outcome="launched"} 0"#), text)
        XCTAssertTrue(text.contains(#"cma_work_queue_errors_total{environment="env_b",call="poll",class="fatal"} 1"#), text)
        XCTAssertTrue(text.contains(#"cma_drains_total{environment="env_a"} 0"#), text)
        XCTAssertFalse(text.contains("cma_drains_total 0"), "never labelled and unlabelled at once")
        XCTAssertEqual(several.scope("env_b").launches("launched"), 1)

        let one = OrchestratorMetrics(environmentIDs: ["env_a"])
        one.scope("env_a").launch("failed", duration: .milliseconds(5))
        let single = String(decoding: one.exposition(), as: UTF8.self)
        XCTAssertTrue(single.contains(#"cma_sandbox_launches_total{outcome="failed"} 1"#), single)
        XCTAssertTrue(single.contains("cma_drains_total 0"), single)
        XCTAssertFalse(single.contains("environment="), single)
    }
}
