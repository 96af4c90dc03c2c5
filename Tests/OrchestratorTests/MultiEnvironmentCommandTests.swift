import Foundation
import Orchestrator
import TestSupport
import XCTest

/// Several environments from one process, through the built binary against both
/// emulators with the real runner: each session launches in its own environment's
/// profile (template, egress, runner variables, timeout observed in the Superserve
/// emulator's sandbox records), a webhook drains the environments of the key that
/// signed it (rule 42), and one environment's revoked key or missing template leaves
/// the others serving (`/readyz` 200, the failing one named on `/status`, in metrics
/// and in the log).
final class MultiEnvironmentCommandTests: XCTestCase {
    static let alphaKey = "sk-ant-oat01-ALPHAENVKEY"
    static let betaKey = "sk-ant-oat01-BETAENVKEY"
    static let gammaKey = "sk-ant-oat01-GAMMAENVKEY"
    /// Signs deliveries of both environments (the file's top-level list).
    static let sharedSigningKey = UpstreamEmulators.signingKey
    /// Only env_alpha's.
    static let alphaSigningKey = "whsec_" + Data(repeating: 0x41, count: 32).base64EncodedString()
    /// Nobody's.
    static let strangerSigningKey = "whsec_" + Data(repeating: 0x5A, count: 32).base64EncodedString()

    static let twoEnvironments = """
        superserve:
          api_key: {env: SS_KEY}
        anthropic:
          webhook_signing_keys:
            - env: SHARED_SIGNING_KEY
        environments:
          - id: env_alpha
            key: {env: ALPHA_KEY}
            webhook_signing_keys:
              - env: ALPHA_SIGNING_KEY
              - env: SHARED_SIGNING_KEY
            template: cma-alpha
            egress:
              allow: [alpha.example.org]
            runner_env:
              PROFILE_MARKER: alpha-profile
            sandbox:
              timeout_seconds: 1800
          - id: env_beta
            key: {env: BETA_KEY}
            template: cma-beta
            egress:
              allow: [beta.example.org]
            runner_env:
              PROFILE_MARKER: beta-profile
            sandbox:
              timeout_seconds: 2400
        """

    /// The emulators with env_alpha (template cma-alpha: 2 vCPU) and env_beta (a second
    /// template, cma-beta, built with 4 vCPU so that its sandboxes tell it apart).
    func upstreams(extra: [String: String] = [:]) async throws -> UpstreamEmulators {
        var environments = ["env_beta": Self.betaKey]
        environments.merge(extra) { _, new in new }
        let upstreams = try UpstreamEmulators(environmentID: "env_alpha", environmentKey: Self.alphaKey, template: "cma-alpha",
                                              pythonBin: try Harness.sdkPythonBin(), additionalEnvironments: environments)
        let built = try await upstreams.call("POST", upstreams.superserveURL + "/templates", json: """
            {"name":"cma-beta","vcpu":4,"memory_mib":4096,"build_spec":{"from":"python:3.12-slim"}}
            """, headers: [("X-API-Key", UpstreamEmulators.superserveKey)])
        XCTAssertEqual(built.status, 202, built.body)
        return upstreams
    }

    func variables(_ upstreams: UpstreamEmulators) -> [String: String] {
        var env = upstreams.variables
        env["SUPERSERVE_API_KEY"] = nil
        env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = nil
        env["SS_KEY"] = UpstreamEmulators.superserveKey
        env["SHARED_SIGNING_KEY"] = Self.sharedSigningKey
        env["ALPHA_SIGNING_KEY"] = Self.alphaSigningKey
        env["ALPHA_KEY"] = Self.alphaKey
        env["BETA_KEY"] = Self.betaKey
        env["GAMMA_KEY"] = Self.gammaKey
        return env
    }

    // MARK: Reading the process

    func status(_ serve: ServeProcess) async throws -> [String: Any] {
        let answer = try await RunningInstance.call("GET", URL(string: serve.base + "/status")!)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any], answer.body)
    }

    func environment(_ serve: ServeProcess, _ id: String) async throws -> [String: Any] {
        let all = try await status(serve)["environments"] as? [[String: Any]] ?? []
        return try XCTUnwrap(all.first { $0["id"] as? String == id }, "no \(id) in /status environments")
    }

    func triggers(_ serve: ServeProcess, _ id: String) async throws -> Int {
        try await (environment(serve, id)["drain"] as? [String: Any])?["triggers"] as? Int ?? -1
    }

    func metrics(_ serve: ServeProcess) async throws -> String {
        try await RunningInstance.call("GET", URL(string: serve.base + "/metrics")!).body
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    func waitFor(_ what: String, timeout: TimeInterval = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out waiting for \(what)")
    }

    /// Runs a session of `environmentID` and checks it ran in that environment's profile:
    /// its runner variable, egress, timeout and template (vCPUs) in the sandbox record.
    func assertLaunchedInProfile(_ upstreams: UpstreamEmulators, environmentID: String, marker: String, host: String,
                                 timeout seconds: Int, vcpus: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let session = try await upstreams.createSession(environmentID: environmentID, command: #"echo "$PROFILE_MARKER""#)
        let result = try await upstreams.toolResult(session, timeout: 90)
        XCTAssertEqual(result, marker, file: file, line: line)
        let boxes = try await upstreams.sandboxes(session: session)
        let sandbox = try XCTUnwrap(boxes.first, file: file, line: line)
        let network = sandbox["network"] as? [String: Any] ?? [:]
        XCTAssertEqual(Set(network["allow_out"] as? [String] ?? []), ["127.0.0.1", host], file: file, line: line)
        XCTAssertEqual(network["deny_out"] as? [String], ["0.0.0.0/0"], file: file, line: line)
        XCTAssertEqual(sandbox["timeout_seconds"] as? Int, seconds, file: file, line: line)
        XCTAssertEqual(sandbox["vcpu_count"] as? Int, vcpus, "created from the environment's template", file: file, line: line)
        let metadata = sandbox["metadata"] as? [String: Any] ?? [:]
        XCTAssertEqual(metadata["cma.environment_id"] as? String, environmentID, file: file, line: line)
    }

    func revoke(_ upstreams: UpstreamEmulators, _ id: String, _ revoked: Bool) async throws {
        let answer = try await upstreams.call("POST", upstreams.anthropicURL + "/_emulator/environments/\(id)/\(revoked ? "revoke" : "restore")")
        XCTAssertEqual(answer.status, 200, answer.body)
    }

    // MARK: Tests

    /// `serve --config` with two environments: both launch in their own profile; a
    /// delivery signed with the shared key drains both, one signed with env_alpha's own
    /// key drains env_alpha only; env_beta's revoked key makes env_beta fail visibly
    /// while env_alpha keeps serving and `/readyz` stays 200; restored, env_beta recovers.
    func testServeRunsTwoEnvironmentsEachInItsProfileAndARevokedKeyStopsOnlyItsOwn() async throws {
        let upstreams = try await upstreams()
        let file = try temporaryFile(Self.twoEnvironments)
        let serve = try await ServeProcess(arguments: ["serve", "--port", "0", "--config", file.path],
                                           environment: variables(upstreams))
        do {
            try await waitFor("both environments ready") {
                let alpha = try await self.environment(serve, "env_alpha")["state"] as? String
                let beta = try await self.environment(serve, "env_beta")["state"] as? String
                return alpha == "ready" && beta == "ready"
            }
            let ready = try await RunningInstance.call("GET", URL(string: serve.base + "/readyz")!)
            XCTAssertEqual(ready.status, 200, ready.body)

            try await assertLaunchedInProfile(upstreams, environmentID: "env_alpha", marker: "alpha-profile",
                                              host: "alpha.example.org", timeout: 1800, vcpus: 2)
            try await assertLaunchedInProfile(upstreams, environmentID: "env_beta", marker: "beta-profile",
                                              host: "beta.example.org", timeout: 2400, vcpus: 4)

            // The status page names each launch's environment.
            let recent = try await status(serve)["recent"] as? [[String: Any]] ?? []
            let launchedIn = Set(recent.filter { $0["event"] as? String == "launched" }.compactMap { $0["environment_id"] as? String })
            XCTAssertEqual(launchedIn, ["env_alpha", "env_beta"], "\(recent)")

            // Rule 42: the key that verified a delivery picks the environments it drains.
            let hook = URL(string: serve.base + "/webhooks")!
            var before = (try await triggers(serve, "env_alpha"), try await triggers(serve, "env_beta"))
            let shared = try await WebhookTrigger.send(url: hook, signingKey: Self.sharedSigningKey,
                                                       type: "session.status_run_started", sessionID: "sesn_shared")
            XCTAssertEqual(shared.status, 200, shared.body)
            var after = (try await triggers(serve, "env_alpha"), try await triggers(serve, "env_beta"))
            XCTAssertEqual(after.0 - before.0, 1, "the shared key drains env_alpha")
            XCTAssertEqual(after.1 - before.1, 1, "the shared key drains env_beta")
            before = after
            let own = try await WebhookTrigger.send(url: hook, signingKey: Self.alphaSigningKey,
                                                    type: "session.status_run_started", sessionID: "sesn_own")
            XCTAssertEqual(own.status, 200, own.body)
            after = (try await triggers(serve, "env_alpha"), try await triggers(serve, "env_beta"))
            XCTAssertEqual(after.0 - before.0, 1, "env_alpha's own key drains env_alpha")
            XCTAssertEqual(after.1 - before.1, 0, "env_alpha's own key never drains env_beta")
            let stranger = try await WebhookTrigger.send(url: hook, signingKey: Self.strangerSigningKey,
                                                         type: "session.status_run_started", sessionID: "sesn_x")
            XCTAssertEqual(stranger.status, 401)

            // One environment's fatal error: env_beta's key is revoked (401 on its polls).
            try await revoke(upstreams, "env_beta", true)
            try await waitFor("env_beta failing on /status") {
                try await self.environment(serve, "env_beta")["state"] as? String == "failing"
            }
            let beta = try await environment(serve, "env_beta")
            XCTAssertTrue((beta["problem"] as? String ?? "").contains("401"), "\(beta)")
            let alphaState = try await environment(serve, "env_alpha")["state"] as? String
            XCTAssertEqual(alphaState, "ready")
            let stillReady = try await RunningInstance.call("GET", URL(string: serve.base + "/readyz")!)
            XCTAssertEqual(stillReady.status, 200, "one environment's revoked key never takes the process out: \(stillReady.body)")
            let exposed = try await metrics(serve)
            XCTAssertTrue(exposed.contains(#"cma_environment_ready{environment="env_beta"} 0"#), exposed)
            XCTAssertTrue(exposed.contains(#"cma_environment_ready{environment="env_alpha"} 1"#), exposed)
            XCTAssertTrue(exposed.contains(#"cma_work_queue_configuration_error{environment="env_beta"} 1"#), exposed)
            XCTAssertTrue(exposed.contains(#"cma_sandbox_launches_total{environment="env_alpha",outcome="launched"} 1"#), exposed)
            let fatal = serve.logLines(message: "queue.poll.fatal")
            XCTAssertFalse(fatal.isEmpty, "the refused poll is logged")
            XCTAssertTrue(fatal.allSatisfy { $0["environment.id"] as? String == "env_beta" }, "\(fatal)")
            // Deliveries of the shared key leave the refused environment to its timer drain.
            before = (try await triggers(serve, "env_alpha"), try await triggers(serve, "env_beta"))
            let whileRevoked = try await WebhookTrigger.send(url: hook, signingKey: Self.sharedSigningKey,
                                                             type: "session.status_run_started", sessionID: "sesn_shared2")
            XCTAssertEqual(whileRevoked.status, 200, whileRevoked.body)
            after = (try await triggers(serve, "env_alpha"), try await triggers(serve, "env_beta"))
            XCTAssertEqual(after.0 - before.0, 1, "env_alpha is drained as before")
            XCTAssertEqual(after.1 - before.1, 0, "env_beta's refused key is retried by its timer only")
            // env_alpha keeps serving meanwhile.
            try await assertLaunchedInProfile(upstreams, environmentID: "env_alpha", marker: "alpha-profile",
                                              host: "alpha.example.org", timeout: 1800, vcpus: 2)

            // A key fixed upstream recovers without a restart (the timer drain retries).
            try await revoke(upstreams, "env_beta", false)
            try await waitFor("env_beta ready again") {
                try await self.environment(serve, "env_beta")["state"] as? String == "ready"
            }
            try await assertLaunchedInProfile(upstreams, environmentID: "env_beta", marker: "beta-profile",
                                              host: "beta.example.org", timeout: 2400, vcpus: 4)
        } catch {
            serve.stop()
            await upstreams.close()
            throw error
        }
        XCTAssertTrue(serve.stop())
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        for secret in ["ALPHAENVKEY", "BETAENVKEY", UpstreamEmulators.superserveKey, Self.alphaSigningKey, Self.sharedSigningKey] {
            XCTAssertFalse(serve.text.contains(secret), "a secret reached the logs")
        }
        await upstreams.close()
    }

    /// `poll --config` with three environments, one of whose template does not exist:
    /// `/readyz` 200, the missing template named under its environment, the other two
    /// each polled by their own loop and launching in their own profile; env_alpha's
    /// revoked key then leaves env_beta serving.
    func testPollRunsEachEnvironmentsLoopAndAMissingTemplateOrRevokedKeyStopsOnlyItsOwn() async throws {
        let upstreams = try await upstreams(extra: ["env_gamma": Self.gammaKey])
        let text = Self.twoEnvironments + """

              - id: env_gamma
                key: {env: GAMMA_KEY}
                template: cma-missing
            """
        let file = try temporaryFile(text)
        var env = variables(upstreams)
        env["CMA_POLL_FATAL_RETRY_SECONDS"] = "1"
        let poll = try await ServeProcess(arguments: ["poll", "--port", "0", "--config", file.path], environment: env)
        do {
            try await waitFor("env_alpha and env_beta ready") {
                let alpha = try await self.environment(poll, "env_alpha")["state"] as? String
                let beta = try await self.environment(poll, "env_beta")["state"] as? String
                return alpha == "ready" && beta == "ready"
            }
            let ready = try await RunningInstance.call("GET", URL(string: poll.base + "/readyz")!)
            XCTAssertEqual(ready.status, 200, "a missing template of one environment never takes the process out: \(ready.body)")
            let gamma = try await environment(poll, "env_gamma")
            XCTAssertEqual(gamma["state"] as? String, "failing")
            XCTAssertTrue((gamma["problem"] as? String ?? "").contains("cma-missing does not exist"), "\(gamma)")
            let gammaNotReady = try await metrics(poll).contains(#"cma_environment_ready{environment="env_gamma"} 0"#)
            XCTAssertTrue(gammaNotReady)

            try await assertLaunchedInProfile(upstreams, environmentID: "env_beta", marker: "beta-profile",
                                              host: "beta.example.org", timeout: 2400, vcpus: 4)
            try await assertLaunchedInProfile(upstreams, environmentID: "env_alpha", marker: "alpha-profile",
                                              host: "alpha.example.org", timeout: 1800, vcpus: 2)

            try await revoke(upstreams, "env_alpha", true)
            try await waitFor("env_alpha failing on /status") {
                try await self.environment(poll, "env_alpha")["state"] as? String == "failing"
            }
            try await assertLaunchedInProfile(upstreams, environmentID: "env_beta", marker: "beta-profile",
                                              host: "beta.example.org", timeout: 2400, vcpus: 4)
            let readyAfter = try await RunningInstance.call("GET", URL(string: poll.base + "/readyz")!)
            XCTAssertEqual(readyAfter.status, 200, readyAfter.body)
            let fatal = poll.logLines(message: "queue.poll.fatal")
            XCTAssertTrue(!fatal.isEmpty && fatal.allSatisfy { $0["environment.id"] as? String == "env_alpha" }, "\(fatal)")
            // Every line of the missing template names its environment (env_beta's may
            // show too while cma-beta was still building).
            let missing = poll.logLines(message: "template.not_ready").filter { $0["template.name"] as? String == "cma-missing" }
            XCTAssertTrue(!missing.isEmpty && missing.allSatisfy { $0["environment.id"] as? String == "env_gamma" }, "\(missing)")
        } catch {
            poll.stop()
            await upstreams.close()
            throw error
        }
        XCTAssertTrue(poll.stop())
        XCTAssertEqual(poll.process.terminationStatus, 0, poll.text)
        XCTAssertFalse(poll.text.contains("ENVKEY"), "an environment key reached the logs")
        await upstreams.close()
    }

    /// The embedded emulators serve one environment: a file of several with `--emulated`
    /// needs `--environment` (exit 2, naming the file and the choice).
    func testEmulatedModeWithSeveralEnvironmentsAsksForOne() async throws {
        let file = try temporaryFile(Self.twoEnvironments)
        let result = try await ConfigFileCommandTests.runBinary(
            ["serve", "--port", "0", "--emulated", "--config", file.path],
            environment: ["SS_KEY": "ss_x", "SHARED_SIGNING_KEY": Self.sharedSigningKey, "ALPHA_SIGNING_KEY": Self.alphaSigningKey,
                          "ALPHA_KEY": Self.alphaKey, "BETA_KEY": Self.betaKey], timeout: 30)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.output.contains("lists 2 environments; --emulated serves one: choose it with --environment ID"),
                      result.output)
        XCTAssertFalse(result.output.contains("ALPHAENVKEY"), result.output)
    }
}

/// `emulate anthropic --additional-environment ID=KEY` serves that environment's work
/// queue too (its key polls it; another environment's key is refused).
final class EmulateSeveralEnvironmentsTests: XCTestCase {
    func testTheStandaloneAnthropicEmulatorHostsAdditionalEnvironments() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ServeProcess.binary())
        process.arguments = ["emulate", "anthropic", "--port", "0", "--environment-id", "env_first",
                             "--environment-key", "sk-ant-oat01-FIRST", "--additional-environment", "env_extra=sk-ant-oat01-EXTRA"]
        process.environment = ServeProcess.baseEnvironment()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = Locked("")
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
        }
        // The bound port, from its `emulator.listening` line (JSON off a terminal).
        var port = 0
        let deadline = Date().addingTimeInterval(30)
        while port == 0, Date() < deadline {
            for line in output.withLock({ $0 }).split(separator: "\n") where line.contains("emulator.listening") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                port = Int(object?["http.port"] as? String ?? "") ?? 0
            }
            if port == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertNotEqual(port, 0, output.withLock { $0 })
        func poll(_ environment: String, key: String) async throws -> Int {
            try await RunningInstance.call("GET", URL(string: "http://127.0.0.1:\(port)/v1/environments/\(environment)/work/poll")!,
                                           headers: [("Authorization", "Bearer \(key)"),
                                                     ("anthropic-beta", "managed-agents-2026-04-01")]).status
        }
        let extra = try await poll("env_extra", key: "sk-ant-oat01-EXTRA")
        XCTAssertTrue([200, 204].contains(extra), "env_extra's queue answers its key: \(extra)")
        let crossed = try await poll("env_extra", key: "sk-ant-oat01-FIRST")
        XCTAssertEqual(crossed, 403, "another environment's key is refused")
        let unknown = try await poll("env_nowhere", key: "sk-ant-oat01-EXTRA")
        XCTAssertEqual(unknown, 404)
    }
}
