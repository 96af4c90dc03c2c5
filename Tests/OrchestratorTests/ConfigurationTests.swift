import Foundation
import Orchestrator
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
            ("ANTHROPIC_WEBHOOK_SIGNING_KEY", "SECRETnotwhsec"),
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

    func testEmulatedModeNeedsNoCredentials() throws {
        let c = try load([:], overrides: CommandLineOverrides(emulated: true))
        XCTAssertTrue(c.emulated)
        XCTAssertEqual(c.environmentID, "env_emulated")
    }

    func testTheRunnerHooksReachTheRunnersEnvironmentOnly() throws {
        var env = Self.valid
        env["CMA_RUNNER_ENTRY"] = "/tmp/fake.py"
        env["CMA_RUNNER_PYTHON"] = "sh"
        let c = try load(env)
        XCTAssertEqual(c.launcher.runnerExtraEnvironment, ["CMA_RUNNER_ENTRY": "/tmp/fake.py", "CMA_PYTHON": "sh"])
    }
}
