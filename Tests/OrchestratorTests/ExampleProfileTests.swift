import Foundation
import Orchestrator
import TestSupport
import XCTest

/// The three recipe profiles under `deploy/examples/`, each served by the built
/// binary (`serve --config <example>`) against both emulators with the real runner:
/// the sandbox of a session is created from the profile's template with its egress,
/// and the agent's bash tool sees the profile's runner variables.
final class ExampleProfileTests: XCTestCase {
    static let examples = SDKPython.packageRoot.appendingPathComponent("deploy/examples")

    struct Served {
        let upstreams: UpstreamEmulators
        let serve: ServeProcess
    }

    /// Serves `example` (whose only environment is `environmentID` with `template`).
    func serve(_ example: String, environmentID: String, template: String, secrets: [String: String]) async throws -> Served {
        let key = "sk-ant-oat01-EXAMPLEKEY"
        let upstreams = try UpstreamEmulators(environmentID: environmentID, environmentKey: key, template: template,
                                              pythonBin: try Harness.sdkPythonBin())
        var env = upstreams.variables
        env.merge(secrets) { _, new in new }
        let path = Self.examples.appendingPathComponent(example).path
        do {
            let serve = try await ServeProcess(arguments: ["serve", "--port", "0", "--config", path], environment: env)
            return Served(upstreams: upstreams, serve: serve)
        } catch {
            await upstreams.close()
            throw error
        }
    }

    func finish(_ served: Served, secrets: [String]) async {
        XCTAssertTrue(served.serve.stop())
        XCTAssertEqual(served.serve.process.terminationStatus, 0, served.serve.text)
        for secret in secrets { XCTAssertFalse(served.serve.text.contains(secret), "a secret reached the logs") }
        await served.upstreams.close()
    }

    /// The agent gets its own Superserve key and may reach the Superserve planes.
    func testTheParallelBenchmarkProfileGivesTheAgentASuperserveKeyAndEgressToSuperserve() async throws {
        let benchKey = "placeholder-benchmark-agent-key"
        let served = try await serve("parallel-benchmark-agent.yaml", environmentID: "env_01BENCHMARKAGENT", template: "cma-bench",
                                     secrets: ["BENCH_ENVIRONMENT_KEY": "sk-ant-oat01-EXAMPLEKEY", "BENCH_SUPERSERVE_API_KEY": benchKey])
        do {
            let session = try await served.upstreams.createSession(
                environmentID: "env_01BENCHMARKAGENT", command: #"echo "$SUPERSERVE_API_KEY parallelism=$BENCHMARK_PARALLELISM""#)
            let result = try await served.upstreams.toolResult(session)
            XCTAssertEqual(result, "\(benchKey) parallelism=16")
            let boxes = try await served.upstreams.sandboxes(session: session)
            let sandbox = try XCTUnwrap(boxes.first)
            let network = try XCTUnwrap(sandbox["network"] as? [String: Any])
            let allow = Set(network["allow_out"] as? [String] ?? [])
            XCTAssertTrue(allow.isSuperset(of: ["api.superserve.ai", "sandbox.superserve.ai", "*.sandbox.superserve.ai",
                                                "api-usw.superserve.ai", "usw-sandbox.superserve.ai"]), "\(allow)")
            XCTAssertTrue(allow.contains("127.0.0.1"), "rule 22: the Anthropic host (here the emulator's) is always allowed")
            XCTAssertEqual(network["deny_out"] as? [String], ["0.0.0.0/0"])
            XCTAssertEqual(sandbox["timeout_seconds"] as? Int, 3600)
            XCTAssertEqual(sandbox["auto_delete_seconds"] as? Int, 86400)
            // Rule 28: the key is in the exec env of the runner, not the sandbox's env_vars.
            XCTAssertNil((sandbox["env_vars"] as? [String: Any])?["SUPERSERVE_API_KEY"])
        } catch {
            await finish(served, secrets: [])
            throw error
        }
        await finish(served, secrets: [benchKey, "EXAMPLEKEY"])
    }

    func testThePersistentDevProfileAllowsThePackageHostsAndGivesGitItsIdentity() async throws {
        let served = try await serve("persistent-dev-environment.yaml", environmentID: "env_01DEVENVIRONMENT", template: "cma-dev",
                                     secrets: ["DEV_ENVIRONMENT_KEY": "sk-ant-oat01-EXAMPLEKEY", "DEV_GITHUB_TOKEN": "placeholder-github-token"])
        do {
            let session = try await served.upstreams.createSession(
                environmentID: "env_01DEVENVIRONMENT", command: #"echo "$GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL> token=${#GITHUB_TOKEN}""#)
            let result = try await served.upstreams.toolResult(session)
            XCTAssertEqual(result, "Claude (dev environment) <dev-agent@example.com> token=\("placeholder-github-token".count)")
            let boxes = try await served.upstreams.sandboxes(session: session)
            let sandbox = try XCTUnwrap(boxes.first)
            let network = try XCTUnwrap(sandbox["network"] as? [String: Any])
            let allow = Set(network["allow_out"] as? [String] ?? [])
            XCTAssertTrue(allow.isSuperset(of: ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org", "deb.debian.org",
                                                "github.com", "*.github.com", "*.githubusercontent.com"]), "\(allow)")
            XCTAssertFalse(allow.contains("api.superserve.ai"))
            XCTAssertEqual(network["deny_out"] as? [String], ["0.0.0.0/0"])
            XCTAssertNil(sandbox["auto_delete_seconds"] as? Int, "a persistent sandbox is never deleted automatically")
        } catch {
            await finish(served, secrets: [])
            throw error
        }
        await finish(served, secrets: ["placeholder-github-token", "EXAMPLEKEY"])
    }

    /// `egress: open`: created with no rules at all (superserve.md §5).
    func testTheResearchProfileIsTheOnlyOneWithOpenEgress() async throws {
        let served = try await serve("research-agent.yaml", environmentID: "env_01RESEARCHAGENT", template: "cma-research",
                                     secrets: ["RESEARCH_ENVIRONMENT_KEY": "sk-ant-oat01-EXAMPLEKEY"])
        do {
            let session = try await served.upstreams.createSession(environmentID: "env_01RESEARCHAGENT",
                                                                   command: #"echo "notes in /mnt/${RESEARCH_NOTES_DIR##*/mnt/}""#)
            let result = try await served.upstreams.toolResult(session)
            // (The emulator maps absolute paths in env values into the sandbox's folder.)
            XCTAssertEqual(result, "notes in /mnt/session/outputs/notes")
            let boxes = try await served.upstreams.sandboxes(session: session)
            let sandbox = try XCTUnwrap(boxes.first)
            let network = sandbox["network"] as? [String: Any]
            XCTAssertEqual(network?["allow_out"] as? [String] ?? [], [])
            XCTAssertEqual(network?["deny_out"] as? [String] ?? [], [])
            XCTAssertEqual(sandbox["auto_delete_seconds"] as? Int, 604800)
        } catch {
            await finish(served, secrets: [])
            throw error
        }
        await finish(served, secrets: ["EXAMPLEKEY"])
    }

    /// Every example parses with only its secrets set, and only the research one is open.
    func testEveryExampleLoadsAndOnlyTheResearchOneIsOpen() throws {
        let secrets = ["SUPERSERVE_API_KEY": "ss_x", "ANTHROPIC_WEBHOOK_SIGNING_KEY": UpstreamEmulators.signingKey,
                       "DEV_ENVIRONMENT_KEY": "sk-ant-oat01-A", "DEV_GITHUB_TOKEN": "t", "BENCH_ENVIRONMENT_KEY": "sk-ant-oat01-B",
                       "BENCH_SUPERSERVE_API_KEY": "ss_y", "RESEARCH_ENVIRONMENT_KEY": "sk-ant-oat01-C"]
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(names, ["parallel-benchmark-agent.yaml", "persistent-dev-environment.yaml", "research-agent.yaml"])
        for name in names {
            let file = try ConfigFile.load(path: Self.examples.appendingPathComponent(name).path, environment: secrets)
            XCTAssertEqual(file.environments.count, 1, name)
            XCTAssertEqual(file.environments[0].egress == .open, name == "research-agent.yaml", name)
        }
    }
}
