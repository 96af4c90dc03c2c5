import Foundation
import XCTest
@testable import SandboxLifecycle

final class RunnerEnvironmentTests: XCTestCase {
    func request(secret: String?, tokenPresent: Bool) -> LaunchRequest {
        LaunchRequest(workID: "work_1", sessionID: "sesn_1", environmentID: "env_1", workSecret: secret,
                      sessionsTokenPresent: tokenPresent)
    }

    func testCredentialChoiceFollowsRule26() {
        var config = LauncherConfiguration()
        config.environmentKey = "env-key-TEST"
        // (secret, decodes, requireWorkSecret, expected credential variable or failure)
        let cases: [(String?, Bool, Bool, String?)] = [
            ("secret-TEST", true, false, "ANTHROPIC_WORK_SECRET"),
            ("secret-TEST", false, false, "ANTHROPIC_ENVIRONMENT_KEY"),
            (nil, false, false, "ANTHROPIC_ENVIRONMENT_KEY"),
            ("secret-TEST", true, true, "ANTHROPIC_WORK_SECRET"),
            ("secret-TEST", false, true, nil),
        ]
        for (secret, decodes, require, expected) in cases {
            config.requireWorkSecret = require
            let result = RunnerEnvironment.make(for: request(secret: secret, tokenPresent: decodes), configuration: config)
            switch (result, expected) {
            case (.success(let env), let name?):
                XCTAssertNotNil(env[name], "\(secret ?? "nil") \(decodes) \(require)")
                let other = name == "ANTHROPIC_WORK_SECRET" ? "ANTHROPIC_ENVIRONMENT_KEY" : "ANTHROPIC_WORK_SECRET"
                XCTAssertNil(env[other], "never both credentials (rule 26)")
                XCTAssertEqual(env["ANTHROPIC_WORK_ID"], "work_1")
                XCTAssertEqual(env["ANTHROPIC_SESSION_ID"], "sesn_1")
                XCTAssertEqual(env["ANTHROPIC_ENVIRONMENT_ID"], "env_1")
            case (.failure(let failure), nil):
                XCTAssertFalse(failure.reason.contains("secret-TEST"))
            default:
                XCTFail("unexpected \(result) for \(secret ?? "nil") \(decodes) \(require)")
            }
        }
    }

    func testNoEnvironmentKeyAndNoTokenFails() {
        let result = RunnerEnvironment.make(for: request(secret: nil, tokenPresent: false), configuration: LauncherConfiguration())
        guard case .failure = result else { return XCTFail("expected failure") }
    }

    func testBaseURLOnlyWhenConfiguredAndForbiddenVariablesNeverPassed() throws {
        var config = LauncherConfiguration()
        config.environmentKey = "env-key-TEST"
        config.runnerExtraEnvironment = ["CMA_RUNNER_ENTRY": "fake.py", "ANTHROPIC_API_KEY": "sk-ant-api03-TEST"]
        var env = try RunnerEnvironment.make(for: request(secret: "s", tokenPresent: true), configuration: config).get()
        XCTAssertNil(env["ANTHROPIC_BASE_URL"])
        XCTAssertEqual(env["CMA_RUNNER_ENTRY"], "fake.py")
        XCTAssertEqual(env["CMA_AGENT_WORKDIR"], "/workspace")
        XCTAssertEqual(env["CMA_MAX_IDLE"], "60")
        for name in RunnerEnvironment.forbidden { XCTAssertNil(env[name], name) }
        config.anthropicBaseURL = URL(string: "http://127.0.0.1:9999")
        env = try RunnerEnvironment.make(for: request(secret: "s", tokenPresent: true), configuration: config).get()
        XCTAssertEqual(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9999")
        XCTAssertThrowsError(try config.validate())   // ANTHROPIC_* in the extras is a configuration error
    }

    func testCommandsKeepPathsAbsoluteAndUnpackBeforeLaunching() {
        let command = RunnerEnvironment.launchCommand(runnerDirectory: "/srv/cma")
        XCTAssertTrue(command.hasPrefix("mkdir -p /srv/cma && cd /srv/cma && "), command)
        XCTAssertTrue(command.hasSuffix("unset CMA_RUNNER_BUNDLE; export CMA_BUNDLE_UNPACKED; exec sh /srv/cma/launch.sh"), command)
        XCTAssertEqual(RunnerEnvironment.probeCommand(runnerDirectory: "/srv/cma"), "sh /srv/cma/probe.sh")
    }

    /// Rule 24 as amended, in a real `/bin/sh`: the launch exec unpacks the bundle it
    /// carries only when the runner directory's version differs, refuses (exit 75,
    /// nothing touched) when it differs and no bundle came, and never hands the bundle
    /// to the runner.
    func testLaunchCommandUnpacksTheCarriedBundleOnlyWhenTheVersionDiffers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cma-launchcmd-\(UUID().uuidString.prefix(8))")
        let dir = root.appendingPathComponent("srv/cma").path
        defer { try? FileManager.default.removeItem(at: root) }
        let runner = Data("env > \"$(dirname \"$0\")/runner.env\"\n".utf8)
        let bundle = try RunnerBundle.load(from: RunnerBundleTests.runnerDirectory).adding(name: "fake.sh", contents: runner)
        let command = RunnerEnvironment.launchCommand(runnerDirectory: dir)
        func run(_ env: [String: String]) throws -> (status: Int32, stdout: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            process.environment = ["PATH": "/usr/bin:/bin", "ANTHROPIC_WORK_ID": "work_\(UUID().uuidString.prefix(6))",
                                   "CMA_PYTHON": "sh", "CMA_RUNNER_ENTRY": "fake.sh"].merging(env) { _, new in new }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let version = [RunnerEnvironment.versionVariable: bundle.version]
        let refused = try run(version)
        XCTAssertEqual(refused.status, Int32(RunnerVersions.versionMismatchExitCode))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/launch.sh"), "nothing unpacked")

        let first = try run(version.merging([RunnerEnvironment.bundleVariable: bundle.base64]) { _, new in new })
        XCTAssertEqual(first.status, 0, first.stdout)
        XCTAssertEqual(LaunchOutput.parse(first.stdout)?.unpacked, true, first.stdout)
        XCTAssertEqual(try String(contentsOfFile: dir + "/.bundle-version", encoding: .utf8), bundle.version + "\n")
        let seen = try XCTUnwrap(waitForFile(dir + "/runner.env"))
        XCTAssertFalse(seen.contains("CMA_RUNNER_BUNDLE"), "the bundle never reaches the runner's environment")

        let again = try run(version.merging([RunnerEnvironment.bundleVariable: bundle.base64]) { _, new in new })
        XCTAssertEqual(LaunchOutput.parse(again.stdout)?.unpacked, false, "same version: carried but not unpacked")
        let bare = try run(version)
        XCTAssertEqual(bare.status, 0, "same version: no bundle needed")
        XCTAssertEqual(LaunchOutput.parse(bare.stdout)?.unpacked, false)
        let other = try run([RunnerEnvironment.versionVariable: "0000000000000000"])
        XCTAssertEqual(other.status, Int32(RunnerVersions.versionMismatchExitCode), "another version without a bundle")
    }

    private func waitForFile(_ path: String) -> String? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text }
            usleep(10_000)
        }
        return nil
    }

    func testNetworkPolicyIsAnthropicHostPlusExtrasAndDenyAll() {
        var config = LauncherConfiguration()
        XCTAssertEqual(config.networkPolicy, NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: ["0.0.0.0/0"]))
        config.anthropicBaseURL = URL(string: "https://anthropic.example.test/v1")
        config.extraAllowOut = ["pypi.org", "anthropic.example.test"]
        XCTAssertEqual(config.networkPolicy, NetworkPolicy(allowOut: ["anthropic.example.test", "pypi.org"], denyOut: ["0.0.0.0/0"]))
    }

    func testSandboxNameIsTheFullSessionIdCutTo64Bytes() {
        XCTAssertEqual(SandboxLauncher.sandboxName(sessionID: "sesn_01JEXAMPLE"), "cma-sesn_01JEXAMPLE")
        let long = String(repeating: "x", count: 80)
        let name = SandboxLauncher.sandboxName(sessionID: long)
        XCTAssertEqual(name.utf8.count, 64)
        XCTAssertTrue(name.hasPrefix("cma-xxx"))
        XCTAssertLessThanOrEqual(SandboxLauncher.sandboxName(sessionID: String(repeating: "é", count: 40)).utf8.count, 64)
    }

    func testLaunchAndProbeOutputParsing() {
        XCTAssertEqual(LaunchOutput.parse("{\"pid\":12}\n"), LaunchOutput(pid: 12, alreadyRunning: false))
        XCTAssertEqual(LaunchOutput.parse("noise\n{\"pid\":12,\"already_running\":true}\n"), LaunchOutput(pid: 12, alreadyRunning: true))
        for bad in ["", "{\"pid\":null}", "{\"pid\":\"12\"}", "{\"pid\":true}", "{\"pid\":1.5}", "12", "{\"pid\":0}"] {
            XCTAssertNil(LaunchOutput.parse(bad), bad)
        }
        XCTAssertEqual(ProbeResult.parse("{\"state\":\"exited\",\"pid\":5,\"exit_code\":0}"),
                       ProbeResult(state: .exited, pid: 5, exitCode: 0))
        XCTAssertEqual(ProbeResult.parse("{\"state\":\"no_pidfile\",\"pid\":null,\"exit_code\":null}")?.state, .noPidfile)
        let healthy: [(ProbeResult.State, Int?, Bool)] = [(.running, nil, true), (.exited, 0, true), (.exited, 1, false),
                                                         (.dead, nil, false), (.noPidfile, nil, false)]
        for (state, code, expected) in healthy {
            XCTAssertEqual(ProbeResult(state: state, pid: 1, exitCode: code).isHealthy, expected, "\(state) \(code ?? -1)")
        }
    }

    func testMetadataMergeKeepsForeignKeysDropsPausedAtAndReservedKeys() {
        let merged = SandboxLauncher.mergedMetadata(
            ["team": "a", "cma.paused_at": "2026-01-01T00:00:00Z", "cma.work_id": "old", "superserve.x": "y"],
            own: ["cma.work_id": "new", "cma.session_id": "s"])
        XCTAssertEqual(merged, ["team": "a", "cma.work_id": "new", "cma.session_id": "s"])
    }
}
