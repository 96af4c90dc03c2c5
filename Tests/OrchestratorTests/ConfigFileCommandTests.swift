import AnthropicEmulator
import Foundation
import TestSupport
import XCTest

/// `serve`/`poll --config` through the built binary: one environment served end to
/// end from a file against both emulators (its profile reaching the sandbox), the
/// validation errors (exit 2, field and line, never the value), `--env-file`, and a
/// file of several environments.
final class ConfigFileCommandTests: XCTestCase {
    /// The binary, run to its end off the cooperative pool (the emulators' handlers
    /// need the pool meanwhile).
    static func runBinary(_ arguments: [String], environment: [String: String], timeout: TimeInterval = 120) async throws
        -> LifecycleProcess.Result {
        let binary = try ServeProcess.binary()
        var env = ServeProcess.baseEnvironment()
        env.merge(environment) { _, new in new }
        let finalEnvironment = env
        return try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do {
                    c.resume(returning: try LifecycleProcess.run(binary, arguments, directory: SDKPython.packageRoot,
                                                                 environment: finalEnvironment, timeout: timeout))
                } catch { c.resume(throwing: error) }
            }
        }
    }

    static let fileText = """
        # one environment, its secrets by reference
        superserve:
          api_key: {env: SS_KEY}
        anthropic:
          webhook_signing_keys:
            - env: SIGNING_KEY
        environments:
          - id: env_configfile
            key: {file: environment.key}
            template: cma-profile
            egress:
              allow: [pypi.org, "*.example.org"]
            runner_env:
              PROFILE_MARKER: from-the-file
              PROFILE_SECRET: {env: PROFILE_SECRET_SOURCE}
            idle_pause_seconds: 600
            max_idle_seconds: 30
            sandbox:
              timeout_seconds: 1800
        """

    /// A session of the file's environment runs in a sandbox created from the file's
    /// template, with its egress (rule 22: the Anthropic host + the file's hosts,
    /// deny 0.0.0.0/0), its timeout and its runner variables.
    func testServeWithAConfigFileLaunchesSessionsInTheFilesProfile() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_configfile", environmentKey: "sk-ant-oat01-CONFIGFILEKEY",
                                              template: "cma-profile", pythonBin: try Harness.sdkPythonBin())
        let file = try temporaryFile(Self.fileText)
        try "sk-ant-oat01-CONFIGFILEKEY\n".write(to: file.deletingLastPathComponent().appendingPathComponent("environment.key"),
                                                 atomically: true, encoding: .utf8)
        var env = upstreams.variables
        env["SUPERSERVE_API_KEY"] = nil
        env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = nil
        env["SS_KEY"] = UpstreamEmulators.superserveKey
        env["SIGNING_KEY"] = UpstreamEmulators.signingKey
        env["PROFILE_SECRET_SOURCE"] = "profile-secret-VALUE"
        env["CMA_TEMPLATE"] = "overridden-by-the-file"
        let serve = try await ServeProcess(arguments: ["serve", "--port", "0", "--config", file.path], environment: env)
        do {
            let session = try await upstreams.createSession(
                environmentID: "env_configfile", command: #"echo "$PROFILE_MARKER/$PROFILE_SECRET""#)
            let result = try await upstreams.toolResult(session)
            XCTAssertEqual(result, "from-the-file/profile-secret-VALUE")
            let boxes = try await upstreams.sandboxes(session: session)
            let sandbox = try XCTUnwrap(boxes.first)
            let network = try XCTUnwrap(sandbox["network"] as? [String: Any])
            XCTAssertEqual(Set(network["allow_out"] as? [String] ?? []), ["127.0.0.1", "pypi.org", "*.example.org"])
            XCTAssertEqual(network["deny_out"] as? [String], ["0.0.0.0/0"])
            XCTAssertEqual(sandbox["timeout_seconds"] as? Int, 1800)
            let status = try await RunningInstance.call("GET", URL(string: serve.base + "/status")!)
            XCTAssertTrue(status.body.contains(#""name":"cma-profile""#), status.body)
        } catch {
            serve.stop()
            await upstreams.close()
            throw error
        }
        XCTAssertTrue(serve.stop())
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text)
        for secret in ["CONFIGFILEKEY", "profile-secret-VALUE", UpstreamEmulators.superserveKey] {
            XCTAssertFalse(serve.text.contains(secret), "a secret reached the logs")
        }
        await upstreams.close()
    }

    /// Exit 2, `file:line: field: problem`, never the value.
    func testValidationErrorsExitTwoNamingFieldAndLineButNeverTheValue() async throws {
        let cases: [(String, String, String)] = [
            (Self.fileText.replacingOccurrences(of: "key: {file: environment.key}", with: "key: sk-ant-oat01-PASTEDVALUE"),
             ":9: environments[0].key: secrets are never written in the file", "PASTEDVALUE"),
            (Self.fileText.replacingOccurrences(of: "PROFILE_MARKER", with: "ANTHROPIC_API_KEY"),
             ":14: environments[0].runner_env.ANTHROPIC_API_KEY: is a credential rule 27 keeps out", "from-the-file"),
            (Self.fileText.replacingOccurrences(of: "\"*.example.org\"", with: "\"https://leak.example.org/path\""),
             ":12: environments[0].egress.allow[1]:", "leak.example.org"),
            (Self.fileText.replacingOccurrences(of: "    max_idle_seconds: 30", with: "    max_idle: 30"),
             ":17: environments[0].max_idle: unknown key", "30"),
            (Self.fileText + "\n  - id: env_configfile\n    key: {file: environment.key}\n",
             ":20: environments[1]: duplicate environment id", UpstreamEmulators.superserveKey),
        ]
        for (text, expected, value) in cases {
            let file = try temporaryFile(text)
            try "sk-ant-oat01-CONFIGFILEKEY\n".write(to: file.deletingLastPathComponent().appendingPathComponent("environment.key"),
                                                     atomically: true, encoding: .utf8)
            let result = try await Self.runBinary(["serve", "--port", "0", "--config", file.path], environment: [
                "SS_KEY": UpstreamEmulators.superserveKey, "SIGNING_KEY": UpstreamEmulators.signingKey,
                "PROFILE_SECRET_SOURCE": "x",
            ], timeout: 30)
            XCTAssertEqual(result.status, 2, result.output)
            XCTAssertTrue(result.output.contains(file.path + expected), "expected …\(expected) in: \(result.output)")
            XCTAssertFalse(result.output.contains(value), "the value reached the message: \(result.output)")
        }
        // Without a file, NAME_FILE stands for a secret variable (and is checked like it).
        let keyFile = try temporaryFile("live-NOTANENVIRONMENTKEY\n", name: "env.key")
        let fromFile = try await Self.runBinary(["poll", "--port", "0"], environment: [
            "ANTHROPIC_ENVIRONMENT_ID": "env_x", "ANTHROPIC_ENVIRONMENT_KEY_FILE": keyFile.path,
        ], timeout: 30)
        XCTAssertEqual(fromFile.status, 2, fromFile.output)
        XCTAssertTrue(fromFile.output.contains("ANTHROPIC_ENVIRONMENT_KEY: must be an environment key"), fromFile.output)
        XCTAssertFalse(fromFile.output.contains("NOTANENVIRONMENTKEY"), fromFile.output)
        // CMA_CONFIG names the file as --config does.
        let file = try temporaryFile("environments: []\n")
        let viaVariable = try await Self.runBinary(["poll", "--port", "0"], environment: ["CMA_CONFIG": file.path], timeout: 30)
        XCTAssertEqual(viaVariable.status, 2, viaVariable.output)
        XCTAssertTrue(viaVariable.output.contains("\(file.path):1: environments: must list at least one environment"), viaVariable.output)
    }

    /// `--env-file`: the .env supplies the secrets the file references; `--environment`
    /// serves one of several (the commands that act on one environment need it).
    func testEnvFileSuppliesSecretsAndSeveralEnvironmentsNeedOneChosen() async throws {
        let upstreams = try UpstreamEmulators(environmentID: "env_second", environmentKey: "sk-ant-oat01-SECONDKEY",
                                              template: "cma-runner")
        let text = """
            superserve:
              api_key: {env: SS_KEY}
            environments:
              - id: env_first
                key: {env: FIRST_KEY}
              - id: env_second
                key: {env: SECOND_KEY}
                max_idle_seconds: 15
            """
        let file = try temporaryFile(text)
        let dotenv = file.deletingLastPathComponent().appendingPathComponent("ops.env")
        try """
            # secrets for the two environments
            export SS_KEY=\(UpstreamEmulators.superserveKey)
            FIRST_KEY='sk-ant-oat01-FIRSTKEY'
            SECOND_KEY="sk-ant-oat01-SECONDKEY"
            """.write(to: dotenv, atomically: true, encoding: .utf8)
        var env = upstreams.variables
        env["SUPERSERVE_API_KEY"] = nil

        let ambiguous = try await Self.runBinary(["setup", "template", "--config", file.path, "--env-file", dotenv.path],
                                                 environment: env, timeout: 30)
        XCTAssertEqual(ambiguous.status, 2, ambiguous.output)
        XCTAssertTrue(ambiguous.output.contains("lists 2 environments; choose one with --environment ID"), ambiguous.output)

        let missing = try await Self.runBinary(["poll", "--port", "0", "--config", file.path], environment: env, timeout: 30)
        XCTAssertEqual(missing.status, 2, missing.output)
        XCTAssertTrue(missing.output.contains("names the variable SS_KEY, which is not set"), missing.output)

        let poll = try await ServeProcess(arguments: ["poll", "--port", "0", "--config", file.path, "--env-file", dotenv.path,
                                                      "--environment", "env_second"], environment: env)
        do {
            let status = try await RunningInstance.call("GET", URL(string: poll.base + "/status")!)
            XCTAssertTrue(status.body.contains(#""environment_id":"env_second""#), status.body)
            // The environment's key, from the .env, is what polls its queue.
            let deadline = Date().addingTimeInterval(30)
            var polled = false
            while !polled, Date() < deadline {
                polled = try await RunningInstance.call("GET", URL(string: poll.base + "/readyz")!).status == 200
                if !polled { try await Task.sleep(for: .milliseconds(200)) }
            }
            XCTAssertTrue(polled, "ready: the key from the .env polled env_second: \(poll.text.suffix(2000))")
        } catch {
            poll.stop()
            await upstreams.close()
            throw error
        }
        XCTAssertTrue(poll.stop())
        XCTAssertFalse(poll.text.contains("SECONDKEY"))
        await upstreams.close()
    }
}
