import APIClient
import SuperserveEmulator
import Foundation
import HTTPServer
import Logging
import Orchestrator
import TestSupport
import XCTest

/// The probes, metrics and status page of a running instance, on real sockets.
final class InstanceProbeTests: XCTestCase {
    func testProbesMetricsStatusAndTheStatusPageAnswer() async throws {
        let running = try await Harness.start()
        try await running.scoped {
            let health = try await running.call("GET", "/healthz")
            XCTAssertEqual(health.status, 200)
            try await running.eventually("ready") { try await running.call("GET", "/readyz").status == 200 }
            let ready = try await running.call("GET", "/readyz")
            XCTAssertEqual(ready.body, #"{"ready":true}"#)

            let status = try await running.object("GET", "/status")
            XCTAssertEqual(status["service"] as? String, "cma-orchestrator")
            XCTAssertEqual(status["mode"] as? String, "webhook")
            XCTAssertEqual(status["emulated"] as? Bool, true)
            XCTAssertEqual((status["template"] as? [String: Any])?["status"] as? String, "ready")
            for key in ["drain", "launches", "webhooks", "recent", "uptime_seconds", "not_ready_reasons"] {
                XCTAssertNotNil(status[key], key)
            }

            let page = try await running.call("GET", "/", headers: [("Accept-Encoding", "gzip")])
            XCTAssertEqual(page.status, 200)
            XCTAssertTrue(page.headers.first { $0.key.lowercased() == "content-type" }?.value.hasPrefix("text/html") ?? false)
            XCTAssertNotNil(page.headers.first { $0.key.lowercased() == "etag" })

            // An unknown path carrying an id must not become a label.
            _ = try await running.call("GET", "/no/such/sesn_0123456789")
            let metrics = try await running.call("GET", "/metrics")
            XCTAssertEqual(metrics.status, 200)
            XCTAssertTrue(metrics.body.contains(#"cma_http_requests_total{route="/healthz",method="GET",status="2xx"}"#), metrics.body)
            XCTAssertTrue(metrics.body.contains("cma_http_request_duration_seconds_bucket"))
            XCTAssertTrue(metrics.body.contains("cma_http_open_connections"))
            // The static-file prefix route answered the unknown path: its pattern is the label.
            XCTAssertTrue(metrics.body.contains(#"cma_http_requests_total{route="/",method="GET",status="4xx"}"#))
            XCTAssertFalse(metrics.body.contains("sesn_0123456789"), "an id reached a metric label")
        }
    }

    /// A poll-mode instance wired to a standalone Superserve emulator (whose ready
    /// template is `template`) and to an Anthropic base URL where nothing listens.
    struct DeadAnthropicFixture {
        let superserve: SuperserveEmulator
        let emulatorServer: ServerHarness
        let running: RunningInstance

        init(template: String) async throws {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("cma-probe-\(UUID())")
            let key = "ss_live_use_testplaceholder"
            var emulatorConfiguration = SuperserveEmulatorConfiguration(apiKey: key, sandboxesRoot: root)
            emulatorConfiguration.templateName = template
            superserve = SuperserveEmulator(configuration: emulatorConfiguration, logger: Harness.quietLogger())
            emulatorServer = try ServerHarness(router: superserve.router)
            // A port nothing listens on: bind, read the port, close.
            let closed = try ServerHarness(router: Router())
            let deadPort = closed.port
            await closed.stop()
            let env: [String: String] = [
                "ANTHROPIC_ENVIRONMENT_ID": "env_probe",
                "ANTHROPIC_ENVIRONMENT_KEY": "sk-ant-oat01-probe",
                "ANTHROPIC_BASE_URL": "http://127.0.0.1:\(deadPort)",
                "SUPERSERVE_API_KEY": key,
                "SUPERSERVE_BASE_URL": "http://127.0.0.1:\(emulatorServer.port)",
                "SUPERSERVE_SANDBOX_URL": "http://127.0.0.1:\(emulatorServer.port)",
            ]
            let configuration = try Configuration.load(mode: .poll, environment: env,
                                                       overrides: CommandLineOverrides(host: "127.0.0.1", port: 0),
                                                       workingDirectory: Harness.packageRoot)
            let instance = try await OrchestratorApp.start(configuration: configuration, logger: Harness.quietLogger())
            running = RunningInstance(instance: instance, sandboxes: root)
        }

        func stop() async {
            await running.stop()
            await superserve.shutdown()
            await emulatorServer.stop()
        }

        /// Runs `body`, then stops everything whether or not `body` threw.
        func scoped(_ body: () async throws -> Void) async throws {
            do { try await body() } catch {
                await stop()
                throw error
            }
            await stop()
        }
    }

    /// Rule 47 and issue 3's configuration bullet: a missing template leaves the
    /// server serving probes, with /readyz naming why, and nothing is claimed.
    func testAMissingTemplateKeepsProbesAnsweringAndReadyzSaysWhy() async throws {
        let f = try await DeadAnthropicFixture(template: "some-other-template")
        let running = f.running
        try await f.scoped {
            try await running.eventually("the template reason on /readyz") {
                let r = try await running.call("GET", "/readyz")
                return r.status == 503 && r.body.contains("template cma-runner does not exist")
            }
            let health = try await running.call("GET", "/healthz")
            XCTAssertEqual(health.status, 200)
            // No work is claimed before the template passes, so the poll loop never
            // reached the dead Anthropic port; the status says it is not ready.
            let status = try await running.object("GET", "/status")
            XCTAssertEqual(status["ready"] as? Bool, false)
            XCTAssertEqual(status["mode"] as? String, "poll")
            XCTAssertEqual((status["drain"] as? [String: Any])?["last_error"] as? NSNull, NSNull())
            let text = String(describing: status)
            XCTAssertFalse(text.contains("sk-ant-oat01-probe"))
            XCTAssertFalse(text.contains("ss_live_use_test"))
        }
    }

    /// Issue 3: an unreachable Anthropic API does not stop the server; /readyz names it.
    /// Rule 47 as amended: an unreachable work queue is upstream trouble, shown on
    /// /status; /readyz stays 200 (every replica would see it and leave at once).
    func testAnUnreachableWorkQueueIsNamedOnStatusWhileReadyzStays200() async throws {
        let f = try await DeadAnthropicFixture(template: "cma-runner")
        let live = f.running
        try await f.scoped {
            try await live.eventually("the failing work queue on /status") {
                let status = try await live.object("GET", "/status")
                let anthropic = (status["upstreams"] as? [String: Any])?["anthropic"] as? [String: Any]
                return anthropic?["failing_since"] is String && (status["drain"] as? [String: Any])?["last_error"] is String
            }
            let readyz = try await live.call("GET", "/readyz")
            XCTAssertEqual(readyz.status, 200, readyz.body)
            let health = try await live.call("GET", "/healthz")
            let metrics = try await live.call("GET", "/metrics")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(metrics.status, 200)
        }
    }
}
