import Foundation
import Logging
@testable import Orchestrator
@testable import SandboxLifecycle
import TestSupport
import XCTest

/// The wiring of several environments in one process, in-process against the
/// emulators on their own ports: what is shared (one Superserve client, so one token
/// bucket, rule 35), what is per environment (template check, janitor scope, drainer),
/// readiness across environments, and the start-up refusals.
final class MultiEnvironmentInstanceTests: XCTestCase {
    static let file = """
        superserve:
          api_key: {env: SS_KEY}
        anthropic:
          webhook_signing_keys: [{env: SIGNING_KEY}]
        environments:
          - id: env_one
            key: {env: ONE_KEY}
            template: cma-one
          - id: env_two
            key: {env: TWO_KEY}
            template: cma-two
            idle_pause_seconds: 42
        """

    func environments(_ upstreams: UpstreamEmulators, mode: Configuration.Mode = .webhook) throws -> [Configuration] {
        var env = upstreams.variables
        env["SS_KEY"] = UpstreamEmulators.superserveKey
        env["SIGNING_KEY"] = UpstreamEmulators.signingKey
        env["ONE_KEY"] = "sk-ant-oat01-ONE"
        env["TWO_KEY"] = "sk-ant-oat01-TWO"
        let file = try ConfigFile.parse(Self.file, path: "multi.yaml", environment: env,
                                        directory: FileManager.default.temporaryDirectory)
        return try Configuration.loadEnvironments(mode: mode, file: file, environmentID: nil, environment: env,
                                                  overrides: CommandLineOverrides(host: "127.0.0.1", port: 0),
                                                  workingDirectory: Harness.packageRoot).map(\.0)
    }

    func testEachEnvironmentGetsItsOwnPipelineOnOneSharedSuperserveClient() async throws {
        // Only cma-one exists: env_two's template is missing.
        let upstreams = try UpstreamEmulators(environmentID: "env_one", environmentKey: "sk-ant-oat01-ONE", template: "cma-one",
                                              additionalEnvironments: ["env_two": "sk-ant-oat01-TWO"])
        let configurations = try environments(upstreams)
        XCTAssertEqual(configurations.map(\.environmentID), ["env_one", "env_two"])
        XCTAssertEqual(configurations.map(\.launcher.template), ["cma-one", "cma-two"])
        let app = try await OrchestratorApp.start(environments: configurations, logger: Harness.quietLogger())
        let running = RunningInstance(instance: app, sandboxes: upstreams.sandboxes)
        do {
            let pipelines = app.pipelines.all
            XCTAssertEqual(pipelines.map(\.environmentID), ["env_one", "env_two"])
            XCTAssertTrue(pipelines[0].superserve === pipelines[1].superserve, "one client: one token bucket (rule 35)")
            XCTAssertFalse(pipelines[0].drainer === pipelines[1].drainer)
            XCTAssertEqual(pipelines.map(\.janitor.configuration.environmentID), ["env_one", "env_two"])
            XCTAssertEqual(pipelines[1].janitor.configuration.idleTimeout, .seconds(42))
            XCTAssertEqual(pipelines.map(\.templateCheck.templateName), ["cma-one", "cma-two"])

            try await running.eventually("env_one ready, env_two failing") {
                let status = try await running.object("GET", "/status")
                let states = (status["environments"] as? [[String: Any]] ?? []).map { $0["state"] as? String ?? "" }
                return states == ["ready", "failing"]
            }
            let ready = try await running.call("GET", "/readyz")
            XCTAssertEqual(ready.status, 200, "one ready environment makes the process ready")
            let metrics = try await running.call("GET", "/metrics").body
            XCTAssertTrue(metrics.contains("cma_ready 1"), metrics)
            XCTAssertTrue(metrics.contains(#"cma_environment_ready{environment="env_two"} 0"#), metrics)
        } catch {
            await running.stop()
            await upstreams.close()
            throw error
        }
        await running.stop()
        await upstreams.close()
    }

    func testTheProcessIsNotReadyWhileNoEnvironmentsTemplateIsReadyAndSaysWhichIsWhy() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_one", environmentKey: "sk-ant-oat01-ONE", template: "cma-other",
                                              additionalEnvironments: ["env_two": "sk-ant-oat01-TWO"])
        let app = try await OrchestratorApp.start(environments: try environments(upstreams, mode: .poll),
                                                  logger: Harness.quietLogger())
        let running = RunningInstance(instance: app, sandboxes: upstreams.sandboxes)
        try await running.scoped {
            try await running.eventually("both templates reported missing") {
                let r = try await running.call("GET", "/readyz")
                return r.status == 503 && r.body.contains("env_one: template cma-one does not exist")
                    && r.body.contains("env_two: template cma-two does not exist")
            }
            let metrics = try await running.call("GET", "/metrics").body
            XCTAssertTrue(metrics.contains("cma_ready 0"), metrics)
        }
        await upstreams.close()
    }

    func testStartRefusesTheSameEnvironmentTwiceAndEmulatorsWithSeveral() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_one", environmentKey: "sk-ant-oat01-ONE", template: "cma-one")
        let configurations = try environments(upstreams)
        do {
            _ = try await OrchestratorApp.start(environments: [configurations[0], configurations[0]], logger: Harness.quietLogger())
            XCTFail("the same environment twice was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("each environment may be served once"), "\(error)")
        }
        var emulated = configurations
        emulated[0].emulated = true
        do {
            _ = try await OrchestratorApp.start(environments: emulated, logger: Harness.quietLogger())
            XCTFail("emulated mode with several environments was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("--emulated"), "\(error)")
        }
        await upstreams.close()
    }
}
