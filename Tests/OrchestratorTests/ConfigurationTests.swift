import Foundation
import Orchestrator
import SandboxLifecycle
import XCTest

/// Style habit 13: configuration is read once, validated at start, and errors name
/// the variable and what is wrong, never the value.
final class ConfigurationTests: XCTestCase {
    static let key = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
    static let valid: [String: String] = [
        "ANTHROPIC_ENVIRONMENT_ID": "env_0123abc",
        "ANTHROPIC_ENVIRONMENT_KEY": "sk-ant-oat01-SECRETVALUE",
        "ANTHROPIC_WEBHOOK_SIGNING_KEY": key,
        "SUPERSERVE_API_KEY": "ss_live_use_SECRETplaceholder",
    ]
    let root = Harness.packageRoot

    func load(_ env: [String: String], mode: Configuration.Mode = .webhook,
              overrides: CommandLineOverrides = CommandLineOverrides()) throws -> Configuration {
        try Configuration.load(mode: mode, environment: env, overrides: overrides, workingDirectory: root)
    }

    func error(_ env: [String: String], mode: Configuration.Mode = .webhook) -> Configuration.Error? {
        do throws(Configuration.Error) {
            _ = try Configuration.load(mode: mode, environment: env, overrides: CommandLineOverrides(), workingDirectory: root)
            return nil
        } catch {
            return error
        }
    }

    func testAValidEnvironmentLoadsWithTheDocumentedDefaults() throws {
        let c = try load(Self.valid)
        XCTAssertEqual(c.server.host, "127.0.0.1")
        XCTAssertEqual(c.server.port, 8080)
        XCTAssertEqual(c.webhookPath, "/webhooks")
        XCTAssertEqual(c.webhookMaxBodyBytes, 1 << 20)
        XCTAssertEqual(c.webhookDedupeSeconds, 600)
        XCTAssertEqual(c.drainInterval, .seconds(30))
        XCTAssertEqual(c.launchSlots, 16)
        XCTAssertEqual(c.idlePause, .seconds(300))
        XCTAssertEqual(c.launcher.template, "cma-runner")
        XCTAssertEqual(c.anthropicBaseURL.absoluteString, "https://api.anthropic.com")
        XCTAssertEqual(c.superserveControlURL.absoluteString, "https://api.superserve.ai")
        XCTAssertEqual(c.superserveDataURL.absoluteString, "https://sandbox.superserve.ai")
        XCTAssertEqual(c.webhookSigningKeys, [Self.key])
        XCTAssertNotNil(c.runnerSourceDirectory)
    }

    func testEveryRequiredVariableIsNamedWhenMissing() {
        for name in Self.valid.keys.sorted() {
            var env = Self.valid
            env[name] = nil
            let e = error(env)
            XCTAssertEqual(e?.variable, name, "missing \(name)")
            XCTAssertEqual(e?.problem.contains("required"), true, "\(name): \(String(describing: e))")
        }
    }

    func testPollModeDoesNotNeedASigningKey() throws {
        var env = Self.valid
        env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = nil
        XCTAssertNoThrow(try load(env, mode: .poll))
    }

    func testMalformedValuesAreRejectedNamingTheVariableNeverTheValue() {
        let cases: [(String, String)] = [
            ("ANTHROPIC_ENVIRONMENT_ID", "prod-environment"),
            ("ANTHROPIC_ENVIRONMENT_KEY", "not-a-key-SECRET"),
            ("ANTHROPIC_WEBHOOK_SIGNING_KEY", "whsec_SECRET!notbase64"),
            ("ANTHROPIC_WEBHOOK_SIGNING_KEY", "whsec_!!!SECRET!!!"),
            ("ANTHROPIC_BASE_URL", "ftp://SECRET.example"),
            ("SUPERSERVE_BASE_URL", "not a url SECRET"),
            ("SUPERSERVE_API_KEY", "ss live SECRET"),
            ("CMA_PORT", "80808"),
            ("CMA_LAUNCH_SLOTS", "0"),
            ("CMA_IDLE_PAUSE_SECONDS", "-5"),
            ("CMA_DRAIN_INTERVAL_SECONDS", "soon"),
            ("CMA_WEBHOOK_PATH", "webhooks"),
            ("CMA_LOG_FORMAT", "xml"),
            ("CMA_LOG_LEVEL", "loud"),
            ("CMA_PAUSE_ON_IDLE", "maybe"),
            ("CMA_RUNNER_DIR", "/nonexistent/runner"),
        ]
        for (name, value) in cases {
            var env = Self.valid
            env[name] = value
            guard let e = error(env) else { return XCTFail("\(name)=\(value) was accepted") }
            XCTAssertEqual(e.variable, name, "\(name)=\(value): \(e)")
            XCTAssertFalse(e.description.contains("SECRET"), "\(name): the value leaked: \(e)")
            if value.count >= 5 { XCTAssertFalse(e.description.contains(value), "\(name): the value leaked: \(e)") }
        }
    }

    func testTheUpstreamGuidesSecretNameIsAFallbackAndSeveralKeysAllowRotation() throws {
        var env = Self.valid
        env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = nil
        let second = "whsec_" + Data(repeating: 9, count: 32).base64EncodedString()
        env["ANTHROPIC_WEBHOOK_SECRET"] = "\(Self.key) \(second)"
        XCTAssertEqual(try load(env).webhookSigningKeys, [Self.key, second])
    }

    func testFlagsOverrideTheEnvironmentAndTheKeysRegionPicksTheHosts() throws {
        var env = Self.valid
        env["CMA_PORT"] = "9000"
        env["SUPERSERVE_API_KEY"] = "ss_live_usw_placeholder"
        let c = try load(env, overrides: CommandLineOverrides(host: "0.0.0.0", port: 7000))
        XCTAssertEqual(c.server.host, "0.0.0.0")
        XCTAssertEqual(c.server.port, 7000)
        XCTAssertEqual(c.superserveControlURL.absoluteString, "https://api-usw.superserve.ai")
        XCTAssertEqual(c.superserveDataURL.absoluteString, "https://usw-sandbox.superserve.ai")
        env["SUPERSERVE_BASE_URL"] = "http://127.0.0.1:9999"
        env["SUPERSERVE_SANDBOX_URL"] = "http://127.0.0.1:9998"
        let overridden = try load(env)
        XCTAssertEqual(overridden.superserveControlURL.absoluteString, "http://127.0.0.1:9999")
        XCTAssertEqual(overridden.superserveDataURL.absoluteString, "http://127.0.0.1:9998")
    }

    /// superserve.md §1: the data-plane default follows the control-plane URL as the
    /// SDK derives it (any other host → the default sandbox host), never the key's
    /// region on its own; `SUPERSERVE_SANDBOX_URL` still wins.
    func testTheDataPlaneDefaultFollowsTheControlPlaneAsTheSDKDerivesIt() throws {
        // (API key, SUPERSERVE_BASE_URL, SUPERSERVE_SANDBOX_URL, expected control, expected data)
        let cases: [(String, String?, String?, String, String)] = [
            ("ss_live_use_k", nil, nil, "https://api.superserve.ai", "https://sandbox.superserve.ai"),
            ("ss_live_usw_k", nil, nil, "https://api-usw.superserve.ai", "https://usw-sandbox.superserve.ai"),
            ("ss_live_legacykey", nil, nil, "https://api.superserve.ai", "https://sandbox.superserve.ai"),
            ("ss_live_usw_k", "https://api.superserve.ai", nil, "https://api.superserve.ai", "https://sandbox.superserve.ai"),
            ("ss_live_use_k", "https://api-usw.superserve.ai", nil, "https://api-usw.superserve.ai", "https://usw-sandbox.superserve.ai"),
            ("ss_live_use_k", "https://API-STAGING.superserve.ai/", nil, "https://API-STAGING.superserve.ai/", "https://staging-sandbox.superserve.ai"),
            ("ss_live_usw_k", "http://127.0.0.1:9999", nil, "http://127.0.0.1:9999", "https://sandbox.superserve.ai"),
            ("ss_live_usw_k", "https://api-usw.superserve.ai", "http://127.0.0.1:9998", "https://api-usw.superserve.ai", "http://127.0.0.1:9998"),
        ]
        for (key, base, sandbox, control, data) in cases {
            var env = Self.valid
            env["SUPERSERVE_API_KEY"] = key
            env["SUPERSERVE_BASE_URL"] = base
            env["SUPERSERVE_SANDBOX_URL"] = sandbox
            let c = try load(env)
            let name = "\(key) \(base ?? "-") \(sandbox ?? "-")"
            XCTAssertEqual(c.superserveControlURL.absoluteString, control, name)
            XCTAssertEqual(c.superserveDataURL.absoluteString, data, name)
        }
    }

    func testEmulatedModeNeedsNoCredentials() throws {
        let c = try load([:], overrides: CommandLineOverrides(emulated: true))
        XCTAssertTrue(c.emulated)
        XCTAssertEqual(c.environmentID, "env_emulated")
    }

    /// Rule 27, along the real path: environment variables → `Configuration.load` →
    /// the launcher settings the pipeline uses → the runner's exec environment.
    /// The default base URL is the work client's only; a configured one reaches the
    /// runner (and its host becomes the sandbox's Anthropic egress, rule 22).
    func testTheAnthropicBaseURLReachesTheRunnerOnlyWhenConfigured() throws {
        let request = LaunchRequest(workID: "work_1", sessionID: "sesn_1", environmentID: "env_0123abc",
                                    workSecret: "secret", sessionsTokenPresent: true)
        let cases: [(String, String?, String?, String)] = [
            ("unset", nil, nil, "api.anthropic.com"),
            ("blank", "  ", nil, "api.anthropic.com"),
            ("configured", "http://127.0.0.1:4010", "http://127.0.0.1:4010", "127.0.0.1"),
            ("configured to the default", "https://api.anthropic.com", "https://api.anthropic.com", "api.anthropic.com"),
        ]
        for (name, value, expected, egress) in cases {
            var env = Self.valid
            env["ANTHROPIC_BASE_URL"] = value
            let c = try load(env)
            let runner = try RunnerEnvironment.make(for: request, configuration: c.launcherSettings).get()
            XCTAssertEqual(runner["ANTHROPIC_BASE_URL"], expected, name)
            XCTAssertEqual(c.launcherSettings.networkPolicy.allowOut.first, egress, name)
            XCTAssertEqual(c.anthropicBaseURL.absoluteString, expected ?? "https://api.anthropic.com", "\(name): the work client's URL")
        }
    }

    func testTheRunnerHooksReachTheRunnersEnvironmentOnly() throws {
        var env = Self.valid
        env["CMA_RUNNER_ENTRY"] = "/tmp/fake.py"
        env["CMA_RUNNER_PYTHON"] = "sh"
        let c = try load(env)
        XCTAssertEqual(c.launcher.runnerExtraEnvironment, ["CMA_RUNNER_ENTRY": "/tmp/fake.py", "CMA_PYTHON": "sh"])
    }
}
