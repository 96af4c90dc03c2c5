import Foundation
import TestSupport
import XCTest

/// The built binary with its default configuration bounds the request bytes it
/// buffers: `GET` probes refuse a body (413), webhook bodies past the default budget
/// (`CMA_HTTP_BUFFER_BUDGET_BYTES`, 32 MiB) get 503 with `Retry-After` while `/healthz`
/// answers, `/metrics` shows the buffered bytes and the refusals, and everything held is
/// released when the clients go.
final class BufferBudgetProcessTests: XCTestCase {
    private static let defaultBudget = 32 << 20

    private func startServe() async throws -> ServeProcess {
        // Not emulated: every default as deployed; the upstreams point at a closed port
        // (nothing here needs them).
        let closed = "http://127.0.0.1:9"
        return try await ServeProcess(arguments: ["serve", "--port", "0"], environment: [
            "ANTHROPIC_ENVIRONMENT_ID": "env_budget", "ANTHROPIC_ENVIRONMENT_KEY": "sk-ant-oat01-budget",
            "ANTHROPIC_WEBHOOK_SIGNING_KEY": "whsec_" + Data(repeating: 3, count: 32).base64EncodedString(),
            "SUPERSERVE_API_KEY": "ss_live_budget",
            "ANTHROPIC_BASE_URL": closed, "SUPERSERVE_BASE_URL": closed, "SUPERSERVE_SANDBOX_URL": closed,
        ])
    }

    /// One metric's value from `/metrics` (the sample line starting with `series`).
    private func metric(_ serve: ServeProcess, _ series: String) throws -> Double? {
        let c = try RawClient(port: serve.port)
        try c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = try c.readResponse().bodyText
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    private func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("timed out waiting for \(what)")
    }

    private func healthz(_ serve: ServeProcess) throws -> Int {
        let c = try RawClient(port: serve.port)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return try c.readResponse().status
    }

    /// The setting is validated at start like every other: exit 2 naming it.
    func testABudgetTooSmallToReadARequestStopsStartUpWithExit2() throws {
        var env = ServeProcess.baseEnvironment()
        env["ANTHROPIC_ENVIRONMENT_ID"] = "env_budget"
        env["ANTHROPIC_ENVIRONMENT_KEY"] = "sk-ant-oat01-budget"
        env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = "whsec_" + Data(repeating: 3, count: 32).base64EncodedString()
        env["SUPERSERVE_API_KEY"] = "ss_live_budget"
        env["CMA_HTTP_BUFFER_BUDGET_BYTES"] = "1000"
        let result = try LifecycleProcess.run(try ServeProcess.binary(), ["serve", "--port", "0"],
                                              directory: SDKPython.packageRoot, environment: env, timeout: 30)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("CMA_HTTP_BUFFER_BUDGET_BYTES"), result.output)
    }

    func testTheDefaultBudgetBoundsHeldWebhookBodiesWhileProbesAnswer() async throws {
        let serve = try await startServe()
        defer { serve.stop() }

        // A probe route takes no body.
        let withBody = try RawClient(port: serve.port)
        try withBody.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        let refusedBody = try withBody.readResponse()
        XCTAssertEqual(refusedBody.status, 413)
        XCTAssertEqual(refusedBody.header("Connection"), "close")

        // The webhook route keeps its cap: a body under it is read and verified (401
        // unsigned), one over it is 413.
        let unsigned = try RawClient(port: serve.port)
        let json = "{\"type\":\"event\",\"pad\":\"" + String(repeating: "a", count: 200_000) + "\"}"
        try unsigned.send("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n" + json)
        XCTAssertEqual(try unsigned.readResponse().status, 401)
        let oversized = try RawClient(port: serve.port)
        try oversized.send("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: \((1 << 20) + 1)\r\n\r\n")
        XCTAssertEqual(try oversized.readResponse().status, 413)

        // 40 clients each hold a webhook body one byte short of 1 MiB: the budget takes
        // at most 32 of them; the others get 503 (at their head, or while their body
        // grows: which ones depends on how the reads interleave).
        let head = Array("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(1 << 20)\r\n\r\n".utf8)
        let body = [UInt8](repeating: 0x61, count: (1 << 20) - 1)
        let budgetRejections = "cma_http_rejected_requests_total{reason=\"budget\"}"
        var held: [RawClient] = []
        for _ in 0..<40 {
            let c = try RawClient(port: serve.port)
            held.append(c)
            try c.send(head)
            try? c.send(body, timeout: .seconds(10))   // a refused client may be closed while sending
        }
        // Settled: each admitted body holds exactly its 1 MiB, each refused one nothing.
        try await eventually("every body held or refused") {
            let refusedCount = try metric(serve, budgetRejections) ?? 0
            let bytes = try metric(serve, "cma_http_buffered_bytes") ?? 0
            return refusedCount >= 8 && bytes + refusedCount * Double(1 << 20) == Double(40 << 20)
        }

        // Then one client at a time, each once the last is held or refused, until one
        // is refused: its answer is the budget's 503.
        var refused: RawResponse?
        for _ in 0..<33 where refused == nil {
            let before = try metric(serve, budgetRejections) ?? 0
            let heldBefore = try metric(serve, "cma_http_buffered_bytes") ?? 0
            let c = try RawClient(port: serve.port)
            held.append(c)
            try c.send(head)
            try? c.send(body, timeout: .seconds(10))
            var wasRefused = false
            try await eventually("the last client held or refused") {
                wasRefused = (try metric(serve, budgetRejections) ?? 0) > before
                let bytes = try metric(serve, "cma_http_buffered_bytes") ?? 0
                return wasRefused || bytes >= heldBefore + Double(1 << 20)
            }
            if wasRefused { refused = try c.readResponse() }
        }
        XCTAssertEqual(refused?.status, 503)
        XCTAssertEqual(refused?.header("Retry-After"), "1")
        XCTAssertEqual(refused?.header("Connection"), "close")
        try await eventually("the buffered bytes near the budget") {
            let b = try metric(serve, "cma_http_buffered_bytes") ?? 0
            return b > Double(Self.defaultBudget - (1 << 20)) && b <= Double(Self.defaultBudget)
        }
        for _ in 0..<5 { XCTAssertEqual(try healthz(serve), 200, "probe while the budget is spent") }

        for c in held { c.close() }
        try await eventually("everything released") { try metric(serve, "cma_http_buffered_bytes") == 0 }
        XCTAssertEqual(try healthz(serve), 200)
        XCTAssertTrue(serve.stop(), "still running 20 s after SIGTERM")
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
    }
}
