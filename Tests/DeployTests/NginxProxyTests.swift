import Foundation
import XCTest

/// `deploy/nginx.conf` with Debian's nginx in front of the built orchestrator: signed
/// deliveries over TLS, whose X-Forwarded-For is believed, the body cap, what /readyz
/// shows outside, and kept-alive upstream connections closed by the orchestrator.
final class NginxProxyTests: XCTestCase {
    func testASignedWebhookThroughNginxIsQueuedAndCountedAndAForgedOneIsRefused() async throws {
        let stack = try await ProxiedOrchestrator(self)
        defer { stack.stop() }
        let queued = #"cma_webhooks_total{outcome="queued"}"#
        let before = try stack.curl.metric(stack.direct, queued) ?? -1

        let webhook = try SignedWebhook()
        let answer = try stack.curl.send("\(stack.proxy)/webhooks", headers: webhook.headers, body: webhook.body)
        XCTAssertEqual(answer.status, 200, answer.body)
        XCTAssertEqual(answer.body, #"{"status":"queued"}"#)
        XCTAssertTrue(answer.headers.contains("Strict-Transport-Security: max-age=31536000"), answer.headers)
        XCTAssertEqual(try stack.curl.metric(stack.direct, queued), before + 1)

        // The same bytes signed with another key: nginx passes them on unchanged and the
        // orchestrator's check (rule 38) refuses them.
        let forged = try SignedWebhook(key: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString())
        let refused = try stack.curl.send("\(stack.proxy)/webhooks", headers: forged.headers, body: forged.body)
        XCTAssertEqual(refused.status, 401, refused.body)
        XCTAssertEqual(try stack.curl.metric(stack.direct, #"cma_webhooks_total{outcome="rejected"}"#), 1)

        // Only POST reaches the webhook route, and unknown paths stop at nginx.
        XCTAssertEqual(try stack.curl.send("\(stack.proxy)/webhooks").status, 403)
        XCTAssertEqual(try stack.curl.send("\(stack.proxy)/_emulator/sessions").status, 404)
    }

    /// nginx replaces the client's X-Forwarded-For with the address it saw, and the
    /// orchestrator believes the header from the proxy (127.0.0.1) only. 127.0.0.2 is a
    /// client that is not the proxy.
    func testOnlyTheProxysForwardedForIsBelievedAndAForgedOneNeverReachesTheLog() async throws {
        let stack = try await ProxiedOrchestrator(self)
        defer { stack.stop() }

        let webhook = try SignedWebhook()
        let proxied = try stack.curl.send("\(stack.proxy)/webhooks",
                                          headers: webhook.headers + ["X-Forwarded-For: 203.0.113.7", "X-Request-Id: deploy-via-proxy"],
                                          body: webhook.body, from: "127.0.0.2")
        XCTAssertEqual(proxied.status, 200, proxied.body)
        XCTAssertEqual(try stack.accessLine(requestID: "deploy-via-proxy")["client.address"] as? String, "127.0.0.2")

        // Straight to the orchestrator from a peer that is not a trusted proxy: its
        // header is ignored. (`/status`: probes stay out of the access log by default.)
        let untrusted = try stack.curl.send("\(stack.direct)/status",
                                            headers: ["X-Forwarded-For: 203.0.113.9", "X-Request-Id: deploy-untrusted"],
                                            from: "127.0.0.2")
        XCTAssertEqual(untrusted.status, 200)
        XCTAssertEqual(try stack.accessLine(requestID: "deploy-untrusted")["client.address"] as? String, "127.0.0.2")

        // The control: from the trusted address the header is believed, so the two
        // checks above would have seen a forged address had it got through.
        let trusted = try stack.curl.send("\(stack.direct)/status",
                                          headers: ["X-Forwarded-For: 198.51.100.4", "X-Request-Id: deploy-trusted"],
                                          from: "127.0.0.1")
        XCTAssertEqual(trusted.status, 200)
        XCTAssertEqual(try stack.accessLine(requestID: "deploy-trusted")["client.address"] as? String, "198.51.100.4")

        XCTAssertFalse(stack.serve.text.contains("203.0.113."), "a forged X-Forwarded-For reached the log")
    }

    /// The orchestrator caps webhook bodies at 1 MiB, and nginx refuses larger ones
    /// itself, before they use an upstream connection.
    func testA2MiBPostIsRefusedWith413ByNginxWhileA1MBDeliveryPasses() async throws {
        let stack = try await ProxiedOrchestrator(self)
        defer { stack.stop() }

        let large = try SignedWebhook(padding: 2 * 1024 * 1024)
        let refused = try stack.curl.send("\(stack.proxy)/webhooks", headers: large.headers + ["X-Request-Id: deploy-2mib"],
                                          body: large.body)
        XCTAssertEqual(refused.status, 413)
        XCTAssertTrue(refused.body.contains("413 Request Entity Too Large") && refused.body.contains("nginx"),
                      "not nginx's own 413 page: \(refused.body)")

        let fits = try SignedWebhook(padding: 1_000_000)
        let accepted = try stack.curl.send("\(stack.proxy)/webhooks", headers: fits.headers + ["X-Request-Id: deploy-1mb"],
                                           body: fits.body)
        XCTAssertEqual(accepted.status, 200, accepted.body)
        // The orchestrator saw the delivery that fits, and never the one nginx refused.
        XCTAssertEqual(try stack.accessLine(requestID: "deploy-1mb")["http.status"] as? String, "200")
        XCTAssertFalse(stack.serve.logLines(message: "request").contains { $0["request.id"] as? String == "deploy-2mib" })
    }

    /// Through the proxy /readyz keeps its status but not the reasons, which internal
    /// clients read from the orchestrator itself. Upstream trouble leaves it 200 (rule 47
    /// as amended); a shutdown with a launch still in flight makes it 503.
    func testReadyzThroughNginxAnswersTheStatusWithoutTheReasons() async throws {
        let stack = try await ProxiedOrchestrator(self)
        defer { stack.stop() }
        try eventually("the orchestrator to be ready") { try stack.curl.send("\(stack.direct)/readyz").status == 200 }
        let ready = try stack.curl.send("\(stack.proxy)/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.body, #"{"ready":true}"#)

        // Every work-queue call fails; the next drain (a webhook's) records it on /status,
        // and readiness stays as it was.
        let faults = try stack.curl.send("\(stack.direct)/_emulator/faults", method: "POST",
                                         body: Array(#"{"error_rate":1.0,"statuses":[500],"routes":"all"}"#.utf8))
        XCTAssertEqual(faults.status, 200, faults.body)
        let webhook = try SignedWebhook()
        XCTAssertEqual(try stack.curl.send("\(stack.direct)/webhooks", headers: webhook.headers, body: webhook.body).status, 200)
        try eventually("/status to show the failed poll") {
            try stack.curl.send("\(stack.direct)/status").body.contains(#""last_error":"anthropic HTTP 500"#)
        }
        XCTAssertEqual(try stack.curl.send("\(stack.direct)/readyz").status, 200)
        XCTAssertEqual(try stack.curl.send("\(stack.direct)/_emulator/faults", method: "DELETE").status, 200)

        // A launch held in a slow create keeps the stopping process serving, and not ready.
        let slow = try stack.curl.send("\(stack.direct)/_emulator/superserve/faults", method: "POST",
                                       body: Array(#"{"latency_ms":60000,"routes":"sandboxes.create"}"#.utf8))
        XCTAssertEqual(slow.status, 200, slow.body)
        XCTAssertEqual(try stack.curl.send("\(stack.direct)/_emulator/sessions", method: "POST", body: Array("{}".utf8)).status, 200)
        let again = try SignedWebhook()
        XCTAssertEqual(try stack.curl.send("\(stack.direct)/webhooks", headers: again.headers, body: again.body).status, 200)
        try eventually("a launch to be in flight") {
            try stack.curl.send("\(stack.direct)/status").body.contains(#""in_flight":1"#)
        }
        kill(stack.serve.process.processIdentifier, SIGTERM)
        var inside = Curl.Answer(status: 0, headers: "", body: "")
        try eventually("/readyz to answer 503") {
            inside = try stack.curl.send("\(stack.direct)/readyz")
            return inside.status == 503
        }
        XCTAssertTrue(inside.body.contains(#""reasons":["shutting down"]"#), inside.body)

        let outside = try stack.curl.send("\(stack.proxy)/readyz")
        XCTAssertEqual(outside.status, 503)
        XCTAssertEqual(outside.body, "{\"ready\":false}\n")
        XCTAssertTrue(outside.headers.lowercased().contains("content-type: application/json"), outside.headers)
    }

    /// nginx keeps upstream connections alive for 50 s (`keepalive_timeout` in the
    /// upstream block); here the orchestrator's idle timeout is 2 s, so the orchestrator
    /// closes them first. A delivery after that close must be answered, never 502.
    func testAKeptAliveUpstreamConnectionClosedByTheIdleTimeoutLosesNoWebhook() async throws {
        let stack = try await ProxiedOrchestrator(self, environment: ["CMA_IDLE_TIMEOUT_SECONDS": "2"])
        defer { stack.stop() }
        for round in 1...3 {
            // Far sooner than nginx's own 50 s: these closes are the orchestrator's.
            try eventually("the orchestrator to close nginx's idle upstream connections (round \(round))", within: 10) {
                try stack.upstreamConnectionsHeldByNginx() == 0
            }
            let webhook = try SignedWebhook()
            let answer = try stack.curl.send("\(stack.proxy)/webhooks", headers: webhook.headers, body: webhook.body)
            XCTAssertEqual(answer.status, 200, "round \(round): \(answer.body)\n\(stack.errorLog)")
            XCTAssertEqual(answer.body, #"{"status":"queued"}"#, "round \(round)")
            // nginx kept that upstream connection open after the answer.
            XCTAssertEqual(try stack.upstreamConnectionsHeldByNginx(), 1, "round \(round)")
        }
    }
}
