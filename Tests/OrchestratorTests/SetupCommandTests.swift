import Foundation
import TestSupport
import XCTest

/// `setup environment|agent|template` and `prepare` through the built binary against
/// the emulators, as an operator runs them against the real APIs.
final class SetupCommandTests: XCTestCase {
    func run(_ arguments: [String], _ environment: [String: String], timeout: TimeInterval = 120) async throws -> LifecycleProcess.Result {
        try await ConfigFileCommandTests.runBinary(arguments, environment: environment, timeout: timeout)
    }

    /// The first stdout-looking line of the output that starts with `prefix`.
    func line(_ output: String, prefix: String) -> String? {
        output.split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }
    }

    func testSetupEnvironmentAndAgentCreateThemWithTheAPIKeyAndPrintTheirIds() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_setup", environmentKey: "sk-ant-oat01-SETUPKEY", template: "cma-runner")
        defer { Task { await upstreams.close() } }
        let env = ["ANTHROPIC_API_KEY": UpstreamEmulators.apiKey, "ANTHROPIC_BASE_URL": upstreams.anthropicURL]

        let created = try await run(["setup", "environment", "--name", "ops-team"], env)
        XCTAssertEqual(created.status, 0, created.output)
        let environmentID = try XCTUnwrap(line(created.output, prefix: "env_"), created.output)
        let agent = try await run(["setup", "agent", "--name", "coder", "--model", "claude-opus-5-5", "--system", "Be terse."], env)
        XCTAssertEqual(agent.status, 0, agent.output)
        let agentID = try XCTUnwrap(line(agent.output, prefix: "agent_"), agent.output)

        let recorded = try await upstreams.object("GET", upstreams.anthropicURL + "/_emulator/environments")
        let environments = recorded["environments"] as? [[String: Any]] ?? []
        XCTAssertEqual(environments.first?["id"] as? String, environmentID)
        XCTAssertEqual(environments.first?["name"] as? String, "ops-team")
        XCTAssertEqual((environments.first?["config"] as? [String: Any])?["type"] as? String, "self_hosted")
        let agents = recorded["agents"] as? [[String: Any]] ?? []
        XCTAssertEqual(agents.first?["id"] as? String, agentID)
        XCTAssertEqual((agents.first?["model"] as? [String: Any])?["id"] as? String, "claude-opus-5-5")
        XCTAssertEqual(agents.first?["system"] as? String, "Be terse.")
        XCTAssertFalse(created.output.contains(UpstreamEmulators.apiKey) || agent.output.contains(UpstreamEmulators.apiKey))

        // Without the API key: exit 2 naming it; with the environment key: the API's 403, exit 1.
        let missing = try await run(["setup", "environment", "--name", "x"], ["ANTHROPIC_BASE_URL": upstreams.anthropicURL])
        XCTAssertEqual(missing.status, 2, missing.output)
        XCTAssertTrue(missing.output.contains("ANTHROPIC_API_KEY: is required"), missing.output)
        let refused = try await run(["setup", "environment", "--name", "x"],
                                    ["ANTHROPIC_API_KEY": "sk-ant-oat01-SETUPKEY", "ANTHROPIC_BASE_URL": upstreams.anthropicURL])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("HTTP 403"), refused.output)
        XCTAssertFalse(refused.output.contains("SETUPKEY"), refused.output)
    }

    /// Transient answers are retried: three injected 503s, then the create goes through.
    func testSetupRetriesTransientAnswers() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_setup", environmentKey: "sk-ant-oat01-SETUPKEY", template: "cma-runner")
        defer { Task { await upstreams.close() } }
        _ = try await upstreams.object("POST", upstreams.anthropicURL + "/_emulator/faults",
                                       json: #"{"error_rate":1,"statuses":[503],"routes":["setup"],"remaining":3}"#)
        let created = try await run(["setup", "environment", "--name", "after-503s"],
                                    ["ANTHROPIC_API_KEY": UpstreamEmulators.apiKey, "ANTHROPIC_BASE_URL": upstreams.anthropicURL])
        XCTAssertEqual(created.status, 0, created.output)
        XCTAssertNotNil(line(created.output, prefix: "env_"), created.output)
    }

    /// `setup template --environment E` builds that environment's template from the
    /// file, streams the build log, fails visibly, and rebuilds the failed template on
    /// the next run instead of stopping at the 409 a second create would get.
    func testSetupTemplateStreamsTheLogAndRebuildsAFailedTemplate() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_setup", environmentKey: "sk-ant-oat01-SETUPKEY", template: "cma-runner")
        defer { Task { await upstreams.close() } }
        let file = try temporaryFile("""
            superserve:
              api_key: {env: SS_KEY}
            environments:
              - id: env_other
                key: {env: ENV_KEY}
              - id: env_bench
                key: {env: ENV_KEY}
                template: bench-tpl
                workdir: /bench
            """)
        let env = ["SS_KEY": UpstreamEmulators.superserveKey, "ENV_KEY": "sk-ant-oat01-SETUPKEY",
                   "SUPERSERVE_BASE_URL": upstreams.superserveURL]
        _ = try await upstreams.object("POST", upstreams.superserveURL + "/_emulator/superserve/builds/fail",
                                       json: #"{"count":1,"error":"step_failed: apt-get exited 100"}"#)
        // Two transient answers first: retried with backoff, then the create goes through.
        _ = try await upstreams.object("POST", upstreams.superserveURL + "/_emulator/superserve/faults",
                                       json: #"{"error_rate":1,"statuses":[429],"routes":["templates.list"],"remaining":2,"retry_after_seconds":0}"#)
        let failed = try await run(["setup", "template", "--config", file.path, "--environment", "env_bench"], env)
        XCTAssertEqual(failed.status, 1, failed.output)
        XCTAssertEqual(failed.output.components(separatedBy: "setup.retry").count - 1, 2, failed.output)
        XCTAssertTrue(failed.output.contains("template bench-tpl created"), failed.output)
        XCTAssertTrue(failed.output.contains("[stdout] Step 2/6: RUN apt-get update && apt-get install -y --no-install-recommends curl git jq procps"),
                      failed.output)
        XCTAssertTrue(failed.output.contains("[stdout] Step 3/6: RUN pip install --no-cache-dir 'anthropic==2.10.0'"), failed.output)
        // The runner bundle is baked in with its version (rule 24 as amended): launches from
        // this template carry no bundle.
        XCTAssertTrue(failed.output.contains("| base64 -d | tar -xf - -C /srv/cma && printf"), failed.output)
        XCTAssertTrue(failed.output.contains("mkdir -p /srv/cma /bench /mnt/session/outputs"), failed.output)
        XCTAssertTrue(failed.output.contains("step_failed: apt-get exited 100"), failed.output)

        let rebuilt = try await run(["setup-template", "--config", file.path, "--environment", "env_bench"], env)
        XCTAssertEqual(rebuilt.status, 0, rebuilt.output)
        XCTAssertTrue(rebuilt.output.contains("failed its last build"), rebuilt.output)
        XCTAssertTrue(rebuilt.output.contains("[system] build ready"), rebuilt.output)
        XCTAssertTrue(rebuilt.output.contains("template bench-tpl (tpl-"), rebuilt.output)
        XCTAssertTrue(rebuilt.output.contains(") is ready"), rebuilt.output)

        let again = try await run(["setup", "template", "--config", file.path, "--environment", "env_bench"], env)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("template bench-tpl is ready"), again.output)
        let calls = try await upstreams.object("GET", upstreams.superserveURL + "/_emulator/superserve/calls")
        let counts = calls["calls"] as? [String: Int] ?? [:]
        XCTAssertEqual(counts["templates.create"], 1, "one create; the failed template was rebuilt, not created again")
        XCTAssertEqual(counts["templates.builds.create"], 1)
    }

    /// `prepare` makes a sandbox the launcher adopts (rules 11, 12): the session whose
    /// metadata carries the printed id runs in it and sees the uploaded file and the
    /// prepared state, while a sandbox without the `cma.prepared_for` tag is refused
    /// and its item ends visibly.
    func testAPreparedSandboxIsAdoptedWhileAnUntaggedOneIsRefused() async throws {
        let environmentID = "env_prepare"
        let key = "sk-ant-oat01-PREPAREKEY"
        let upstreams = try UpstreamEmulators(environmentID: environmentID, environmentKey: key, template: "cma-runner",
                                              pythonBin: try Harness.sdkPythonBin())
        let local = try temporaryFile("dataset v3\n", name: "dataset.txt")
        var env = upstreams.variables
        env["ANTHROPIC_ENVIRONMENT_ID"] = environmentID
        env["ANTHROPIC_ENVIRONMENT_KEY"] = key

        let prepared = try await run(["prepare", "--environment", environmentID, "--file", "\(local.path):/workspace/data/dataset.txt",
                                      "--run", "echo warmed > /workspace/warm.txt", "--run", "mkdir -p /workspace/cache", "--pause"], env)
        XCTAssertEqual(prepared.status, 0, prepared.output)
        let metadataLine = try XCTUnwrap(line(prepared.output, prefix: #"{"superserve.sandbox_id":"#), prepared.output)
        let metadata = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(metadataLine.utf8)) as? [String: String])
        let sandboxID = try XCTUnwrap(metadata["superserve.sandbox_id"])
        XCTAssertNotNil(line(prepared.output, prefix: sandboxID), "the id is printed on its own line: \(prepared.output)")
        let before = try await upstreams.sandbox(sandboxID)
        XCTAssertEqual(before["status"] as? String, "paused")
        XCTAssertEqual((before["metadata"] as? [String: String])?["cma.prepared_for"], environmentID)
        XCTAssertEqual((before["network"] as? [String: Any])?["deny_out"] as? [String], ["0.0.0.0/0"], "rule 22 from the start")

        // A sandbox made by hand without the tag.
        let untagged = try await upstreams.object("POST", upstreams.superserveURL + "/sandboxes",
                                                  json: #"{"name":"by-hand","from_template":"cma-runner","metadata":{}}"#,
                                                  headers: [("X-API-Key", UpstreamEmulators.superserveKey)])
        let untaggedID = try XCTUnwrap(untagged["id"] as? String)

        let serve = try await ServeProcess(arguments: ["serve", "--port", "0"], environment: env)
        do {
            let adopted = try await upstreams.createSession(environmentID: environmentID, command: "cat data/dataset.txt warm.txt",
                                                            metadata: metadata)
            let result = try await upstreams.toolResult(adopted)
            XCTAssertEqual(result, "dataset v3\nwarmed")
            let after = try await upstreams.sandbox(sandboxID)
            XCTAssertEqual((after["metadata"] as? [String: String])?["cma.session_id"], adopted, "rule 18: tagged with its session")

            let refused = try await upstreams.createSession(environmentID: environmentID, command: "true",
                                                            metadata: ["superserve.sandbox_id": untaggedID])
            let deadline = Date().addingTimeInterval(60)
            var state = ""
            while state != "stopped", Date() < deadline {
                let items = try await upstreams.workItems()
                state = items.first { ($0["data"] as? [String: Any])?["id"] as? String == refused }?["state"] as? String ?? ""
                if state != "stopped" { try await Task.sleep(for: .milliseconds(200)) }
            }
            XCTAssertEqual(state, "stopped", "the item of the untagged sandbox is force-stopped")
            let status = try await RunningInstance.call("GET", URL(string: serve.base + "/status")!)
            XCTAssertTrue(status.body.contains("cma.prepared_for is missing"), status.body)
            let untouched = try await upstreams.sandbox(untaggedID)
            XCTAssertNil((untouched["metadata"] as? [String: String])?["cma.session_id"], "never adopted")
        } catch {
            serve.stop()
            await upstreams.close()
            throw error
        }
        XCTAssertTrue(serve.stop())
        await upstreams.close()
    }

    /// A failing `--run` deletes the half-prepared sandbox and exits 1 with the command's stderr.
    func testAFailingPrepareStepDeletesTheSandbox() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_prepare", environmentKey: "sk-ant-oat01-PREPAREKEY", template: "cma-runner")
        defer { Task { await upstreams.close() } }
        let result = try await run(["prepare", "--environment", "env_prepare", "--run", "echo broken >&2; exit 3"], upstreams.variables)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.output.contains("exited 3: broken"), result.output)
        let answer = try await upstreams.call("GET", upstreams.superserveURL + "/sandboxes", headers: [("X-API-Key", UpstreamEmulators.superserveKey)])
        let boxes = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]] ?? []
        XCTAssertTrue(boxes.allSatisfy { $0["status"] as? String == "deleted" || $0["status"] as? String == "deleting" }, "\(boxes)")

        let bad = try await run(["prepare", "--environment", "env_prepare", "--file", "/nonexistent:/workspace/x"], upstreams.variables)
        XCTAssertEqual(bad.status, 2, bad.output)
        let noEnv = try await run(["prepare"], upstreams.variables)
        XCTAssertEqual(noEnv.status, 2, noEnv.output)
        XCTAssertTrue(noEnv.output.contains("--environment: is required"), noEnv.output)
    }
}
