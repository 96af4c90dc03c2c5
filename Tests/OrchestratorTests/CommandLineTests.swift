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

    /// Rule 38: start-up accepts every key form the verifier accepts. `serve` (not
    /// emulated; the upstreams point at a closed port) starts with a key that has no
    /// `whsec_` prefix and no base64 padding, and verifies a delivery `trigger` signs
    /// with that same key, while a different key stays 401.
    func testServeStartsWithAnUnprefixedUnpaddedKeyAndVerifiesDeliveriesSignedWithIt() async throws {
        let padded = Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        XCTAssertTrue(padded.hasSuffix("="), "the fixture must need padding")
        let key = String(padded.prefix { $0 != "=" })
        let closed = "http://127.0.0.1:9"
        let serve = try await ServeProcess(arguments: ["serve", "--port", "0"], environment: [
            "ANTHROPIC_ENVIRONMENT_ID": "env_cli", "ANTHROPIC_ENVIRONMENT_KEY": "sk-ant-oat01-cli",
            "ANTHROPIC_WEBHOOK_SIGNING_KEY": key, "SUPERSERVE_API_KEY": "ss_live_use_cli",
            "ANTHROPIC_BASE_URL": closed, "SUPERSERVE_BASE_URL": closed, "SUPERSERVE_SANDBOX_URL": closed,
        ])
        defer { serve.stop() }
        var triggerEnv = ServeProcess.baseEnvironment()
        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = key
        let signed = try LifecycleProcess.run(try ServeProcess.binary(), ["trigger", "--url", "\(serve.base)/webhooks", "--type", "session.status_idled"],
                                              environment: triggerEnv, timeout: 30)
        XCTAssertEqual(signed.status, 0, signed.output + "\n--- server:\n" + serve.text)
        XCTAssertTrue(signed.output.contains(#"{"status":"ignored"}"#), signed.output)

        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = Data(repeating: 1, count: 32).base64EncodedString()
        let forged = try LifecycleProcess.run(try ServeProcess.binary(), ["trigger", "--url", "\(serve.base)/webhooks"],
                                              environment: triggerEnv, timeout: 30)
        XCTAssertEqual(forged.status, 1, forged.output)
        XCTAssertTrue(forged.output.contains("401"), forged.output)
        XCTAssertFalse(serve.text.contains(key), "the key reached the logs")
    }

    /// `--emulated` serves unauthenticated emulator routes, so a non-loopback `--host`
    /// stops start-up with exit 2 naming the flag that allows it; with that flag, and
    /// on every loopback form, it starts.
    func testEmulatedModeRefusesANonLoopbackHostUnlessDeliberatelyAllowed() async throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-remote-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: sandboxes) }
        var env = ServeProcess.baseEnvironment()
        env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
        for host in ["0.0.0.0", "::", "192.0.2.1"] {
            let refused = try LifecycleProcess.run(try ServeProcess.binary(), ["serve", "--port", "0", "--emulated", "--host", host],
                                                   directory: SDKPython.packageRoot, environment: env, timeout: 30)
            XCTAssertEqual(refused.status, 2, "\(host): \(refused.output)")
            XCTAssertTrue(refused.output.contains("--emulated-allow-remote"), refused.output)
        }
        for arguments in [["--host", "0.0.0.0", "--emulated-allow-remote"], ["--host", "127.0.0.2"]] {
            let serve = try await ServeProcess(arguments: ["serve", "--port", "0", "--emulated"] + arguments, environment: [
                "CMA_EMULATOR_PYTHON_BIN": "/usr/bin", "CMA_EMULATOR_SANDBOXES": sandboxes.path,
            ])
            XCTAssertTrue(serve.stop(), "\(arguments): still running after SIGTERM")
            XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        }
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
