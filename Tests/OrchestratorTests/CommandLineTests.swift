import Emulators
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
        var env = Self.baseEnvironment()
        env["CMA_LOG_FORMAT"] = "json"
        env["CMA_EMULATOR_PYTHON_BIN"] = "/usr/bin"
        env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = ["serve", "--port", "0", "--emulated"]
        process.currentDirectoryURL = SDKPython.packageRoot
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        let output = LockedBox("")
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The listening line carries the bound address.
        var address: String?
        let deadline = Date().addingTimeInterval(30)
        while address == nil, Date() < deadline {
            for line in output.withLock({ $0 }).split(separator: "\n") where line.contains("\"server.listening\"") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                    address = object["http.address"] as? String
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let base = try XCTUnwrap(address, output.withLock { $0 })

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

        kill(process.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < stopDeadline { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertFalse(process.isRunning, "still running 20 s after SIGTERM")
        process.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(process.terminationStatus, 0, output.withLock { $0 })
        XCTAssertTrue(output.withLock { $0 }.contains("shutdown.finished"))
    }

    /// The README's "run it" command and its demo: `serve --emulated` as a process, then
    /// `demo`, which must print the bash tool's output that the real runner produced.
    func testTheDemoPrintsTheToolOutputFromTheRealRunner() async throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-demo-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: sandboxes) }
        var env = Self.baseEnvironment()
        env["CMA_LOG_FORMAT"] = "json"
        env["CMA_EMULATOR_PYTHON_BIN"] = try Harness.sdkPythonBin().path
        env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = ["serve", "--port", "0", "--emulated"]
        process.currentDirectoryURL = SDKPython.packageRoot
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        let output = LockedBox("")
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGTERM); process.waitUntilExit() }
            out.fileHandleForReading.readabilityHandler = nil
        }
        var address: String?
        let deadline = Date().addingTimeInterval(60)
        while address == nil, Date() < deadline {
            for line in output.withLock({ $0 }).split(separator: "\n") where line.contains("\"server.listening\"") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                    address = object["http.address"] as? String
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let base = try XCTUnwrap(address, output.withLock { $0 })
        XCTAssertTrue(output.withLock { $0 }.contains("demo --server \(base)"), "serve --emulated prints how to start a demo")

        let demo = try LifecycleProcess.run(try Self.binary(), ["demo", "--server", base, "--timeout", "90"],
                                            environment: Self.baseEnvironment(), timeout: 120)
        XCTAssertEqual(demo.status, 0, demo.output + "\n--- server:\n" + output.withLock { $0 })
        XCTAssertTrue(demo.output.contains("hello from the sandbox"), demo.output)
        XCTAssertTrue(demo.output.contains("Linux"), demo.output)

        // Against a server that is not emulated (nothing listens), demo fails visibly.
        let nobody = try LifecycleProcess.run(try Self.binary(), ["demo", "--server", "http://127.0.0.1:9", "--timeout", "5"],
                                              environment: Self.baseEnvironment(), timeout: 60)
        XCTAssertEqual(nobody.status, 1, nobody.output)
        XCTAssertTrue(nobody.output.contains("cannot reach"), nobody.output)
    }
}
