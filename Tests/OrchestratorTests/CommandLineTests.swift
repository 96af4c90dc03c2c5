import AnthropicEmulator
import Foundation
import TestSupport
import XCTest

/// The built `cma-orchestrator` binary as users run it: configuration errors exit 2
/// naming the variable, `serve --emulated` answers and `trigger` reaches it, and
/// SIGTERM ends it with exit 0.
final class CommandLineTests: XCTestCase {
    static func binary() throws -> String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("cma-orchestrator"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("cma-orchestrator"),
            SDKPython.packageRoot.appendingPathComponent(".build/debug/cma-orchestrator"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw HarnessError("cma-orchestrator is not built next to the tests: \(candidates.map(\.path))")
        }
        return found.path
    }

    static func baseEnvironment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("ANTHROPIC_") || key.hasPrefix("SUPERSERVE_") || key.hasPrefix("CMA_") {
            env[key] = nil
        }
        return env
    }

    /// `serve --port 0 --emulated` as a process, its combined output collected, and
    /// the bound address read from its `server.listening` log line.
    final class ServeProcess: @unchecked Sendable {
        let process = Process()
        let output = Locked("")
        private let pipe = Pipe()
        private(set) var base = ""

        init(pythonBin: String, sandboxes: URL) async throws {
            var env = CommandLineTests.baseEnvironment()
            env["CMA_LOG_FORMAT"] = "json"
            env["CMA_EMULATOR_PYTHON_BIN"] = pythonBin
            env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
            process.executableURL = URL(fileURLWithPath: try CommandLineTests.binary())
            process.arguments = ["serve", "--port", "0", "--emulated"]
            process.currentDirectoryURL = SDKPython.packageRoot
            process.environment = env
            process.standardOutput = pipe
            process.standardError = pipe
            let output = self.output
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                output.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while base.isEmpty, Date() < deadline {
                for line in text.split(separator: "\n") where line.contains("\"server.listening\"") {
                    if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                        base = object["http.address"] as? String ?? ""
                    }
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if base.isEmpty {
                stop()
                throw HarnessError("serve --emulated did not log its address: \(text)")
            }
        }

        var text: String { output.withLock { $0 } }

        /// SIGTERM, then wait up to 20 s; returns whether it exited.
        @discardableResult
        func stop() -> Bool {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            let exited = !process.isRunning
            if exited { process.waitUntilExit() } else { process.terminate() }
            pipe.fileHandleForReading.readabilityHandler = nil
            return exited
        }
    }

    func testAMissingVariableStopsStartUpWithExit2NamingIt() throws {
        let result = try LifecycleProcess.run(try Self.binary(), ["serve", "--port", "0"],
                                              directory: SDKPython.packageRoot, environment: Self.baseEnvironment(), timeout: 30)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("ANTHROPIC_ENVIRONMENT_ID"), result.output)
    }

    func testAMalformedSecretIsNamedButNeverPrinted() throws {
        var env = Self.baseEnvironment()
        env["ANTHROPIC_ENVIRONMENT_ID"] = "env_cli"
        env["ANTHROPIC_ENVIRONMENT_KEY"] = "live-TOPSECRETVALUE"
        let result = try LifecycleProcess.run(try Self.binary(), ["poll", "--port", "0"],
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

        var triggerEnv = Self.baseEnvironment()
        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = AnthropicEmulatorConfiguration().webhookSigningKey
        let trigger = try LifecycleProcess.run(try Self.binary(), ["trigger", "--url", "\(base)/webhooks", "--type", "session.status_idled"],
                                               environment: triggerEnv, timeout: 30)
        XCTAssertEqual(trigger.status, 0, trigger.output)
        XCTAssertTrue(trigger.output.contains(#"{"status":"ignored"}"#), trigger.output)

        triggerEnv["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        let forged = try LifecycleProcess.run(try Self.binary(), ["trigger", "--url", "\(base)/webhooks"],
                                              environment: triggerEnv, timeout: 30)
        XCTAssertEqual(forged.status, 1, forged.output)
        XCTAssertTrue(forged.output.contains("401"), forged.output)

        XCTAssertTrue(serve.stop(), "still running 20 s after SIGTERM")
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        XCTAssertTrue(serve.text.contains("shutdown.finished"))
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

        let demo = try LifecycleProcess.run(try Self.binary(), ["demo", "--server", base, "--timeout", "90"],
                                            environment: Self.baseEnvironment(), timeout: 120)
        XCTAssertEqual(demo.status, 0, demo.output + "\n--- server:\n" + serve.text)
        XCTAssertTrue(demo.output.contains("hello from the sandbox"), demo.output)
        XCTAssertTrue(demo.output.contains("Linux"), demo.output)

        // Against a server that is not emulated (nothing listens), demo fails visibly.
        let nobody = try LifecycleProcess.run(try Self.binary(), ["demo", "--server", "http://127.0.0.1:9", "--timeout", "5"],
                                              environment: Self.baseEnvironment(), timeout: 60)
        XCTAssertEqual(nobody.status, 1, nobody.output)
        XCTAssertTrue(nobody.output.contains("cannot reach"), nobody.output)
    }
}
