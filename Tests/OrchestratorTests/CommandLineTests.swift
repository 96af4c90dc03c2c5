import AnthropicEmulator
import Foundation
import TestSupport
import XCTest

/// The built `cma-orchestrator` binary as users run it: configuration errors exit 2
/// naming the variable, `serve --emulated` answers and `trigger` reaches it, and
/// SIGTERM ends it with exit 0.
final class CommandLineTests: XCTestCase {
    func testAMissingVariableStopsStartUpWithExit2NamingIt() throws {
        let result = try LifecycleProcess.run(try ServeProcess.binary(), ["serve", "--port", "0"],
                                              directory: SDKPython.packageRoot, environment: ServeProcess.baseEnvironment(), timeout: 30)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("ANTHROPIC_ENVIRONMENT_ID"), result.output)
    }

    func testAMalformedSecretIsNamedButNeverPrinted() throws {
        var env = ServeProcess.baseEnvironment()
        env["ANTHROPIC_ENVIRONMENT_ID"] = "env_cli"
        env["ANTHROPIC_ENVIRONMENT_KEY"] = "live-TOPSECRETVALUE"
        let result = try LifecycleProcess.run(try ServeProcess.binary(), ["poll", "--port", "0"],
                                              directory: SDKPython.packageRoot, environment: env, timeout: 30)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("ANTHROPIC_ENVIRONMENT_KEY"), result.output)
        XCTAssertFalse(result.output.contains("TOPSECRET"), result.output)
    }

    func testServeEmulatedAnswersTakesATriggerAndExitsZeroOnSIGTERM() async throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-cli-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: sandboxes) }
        let serve = try await ServeProcess(pythonBin: "/usr/bin", sandboxes: sandboxes)
        defer { serve.stop() }
        let base = serve.base
        let health = try await RunningInstance.call("GET", URL(string: "\(base)/healthz")!)
        XCTAssertEqual(health.body, "ok\n")

        var triggerEnv = ServeProcess.baseEnvironment()
        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = AnthropicEmulatorConfiguration().webhookSigningKey
        let trigger = try LifecycleProcess.run(try ServeProcess.binary(), ["trigger", "--url", "\(base)/webhooks", "--type", "session.status_idled"],
                                               environment: triggerEnv, timeout: 30)
        XCTAssertEqual(trigger.status, 0, trigger.output)
        XCTAssertTrue(trigger.output.contains(#"{"status":"ignored"}"#), trigger.output)

        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        let forged = try LifecycleProcess.run(try ServeProcess.binary(), ["trigger", "--url", "\(base)/webhooks"],
                                              environment: triggerEnv, timeout: 30)
        XCTAssertEqual(forged.status, 1, forged.output)
        XCTAssertTrue(forged.output.contains("401"), forged.output)

        XCTAssertTrue(serve.stop(), "still running 20 s after SIGTERM")
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        XCTAssertTrue(serve.text.contains("shutdown.finished"))
    }

    /// The access log is written in batches off the connections' path; SIGTERM flushes
    /// what is waiting, so every answered request has its line when the process exits 0.
    func testEveryAccessLineIsWrittenBeforeExitOnSIGTERM() async throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-cli-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: sandboxes) }
        let serve = try await ServeProcess(pythonBin: "/usr/bin", sandboxes: sandboxes)
        defer { serve.stop() }
        let ids = (0..<200).map { "sigterm-\($0)" }
        for id in ids {
            let answer = try await RunningInstance.call("GET", URL(string: "\(serve.base)/status")!, headers: [("X-Request-Id", id)])
            XCTAssertEqual(answer.status, 200)
        }
        XCTAssertTrue(serve.stop(), "still running 20 s after SIGTERM")
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        let logged = Set(serve.logLines(message: "request").compactMap { $0["request.id"] as? String })
        XCTAssertEqual(Set(ids).subtracting(logged), [], "access lines lost at shutdown")
    }

    /// The README's "run it" command and its demo: `serve --emulated` as a process, then
    /// `demo`, which must print the bash tool's output that the real runner produced.
    func testTheDemoPrintsTheToolOutputFromTheRealRunner() async throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-demo-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: sandboxes) }
        let serve = try await ServeProcess(pythonBin: try Harness.sdkPythonBin().path, sandboxes: sandboxes)
        defer { serve.stop() }
        let base = serve.base
        XCTAssertTrue(serve.text.contains("demo --server \(base)"), "serve --emulated prints how to start a demo")

        let demo = try LifecycleProcess.run(try ServeProcess.binary(), ["demo", "--server", base, "--timeout", "90"],
                                            environment: ServeProcess.baseEnvironment(), timeout: 120)
        XCTAssertEqual(demo.status, 0, demo.output + "\n--- server:\n" + serve.text)
        XCTAssertTrue(demo.output.contains("hello from the sandbox"), demo.output)
        XCTAssertTrue(demo.output.contains("Linux"), demo.output)

        // Against a server that is not emulated (nothing listens), demo fails visibly.
        let nobody = try LifecycleProcess.run(try ServeProcess.binary(), ["demo", "--server", "http://127.0.0.1:9", "--timeout", "5"],
                                              environment: ServeProcess.baseEnvironment(), timeout: 60)
        XCTAssertEqual(nobody.status, 1, nobody.output)
        XCTAssertTrue(nobody.output.contains("cannot reach"), nobody.output)
    }
}
