import Foundation
import Orchestrator
import SandboxLifecycle
import XCTest

/// The configuration file as data: parsing, every validation rule with the field and
/// line it names (never the value), secret references, the precedence over
/// environment variables and what the result means for the launcher (rule 22's
/// egress, rule 28's runner env).
final class ConfigFileTests: XCTestCase {
    static let secrets = [
        "ENV_KEY": "sk-ant-oat01-SECRETKEYVALUE", "SS_KEY": "ss_live_SECRETSUPERSERVE",
        "SIGNING": "whsec_ZW11bGF0b3Itc2lnbmluZy1rZXktbm90LXNlY3JldCE=", "BENCH_KEY": "placeholder-bench-secret",
    ]
    let directory = FileManager.default.temporaryDirectory

    func parse(_ text: String, environment: [String: String] = secrets) throws -> ConfigFile {
        try ConfigFile.parse(text, path: "test.yaml", environment: environment, directory: directory)
    }

    /// The error the text gets; the test fails when it parses.
    func failure(_ text: String, environment: [String: String] = secrets, file: StaticString = #filePath,
                 line: UInt = #line) -> ConfigFile.Error? {
        do throws(ConfigFile.Error) {
            _ = try ConfigFile.parse(text, path: "test.yaml", environment: environment, directory: directory)
            XCTFail("parsed, expected an error", file: file, line: line)
            return nil
        } catch {
            for value in Self.secrets.values {
                XCTAssertFalse(error.description.contains(value), "a secret reached the message: \(error)", file: file, line: line)
            }
            return error
        }
    }

    static let complete = """
        version: 1
        superserve:
          api_key: {env: SS_KEY}
        anthropic:
          base_url: https://anthropic.internal.example
          webhook_signing_keys:
            - env: SIGNING
        environments:
          - id: env_bench
            key: {env: ENV_KEY}
            template: cma-bench
            egress:
              allow: [api.superserve.ai, "*.sandbox.superserve.ai", 203.0.113.0/24, 198.51.100.7]
            runner_env:
              SUPERSERVE_API_KEY: {env: BENCH_KEY}
              PARALLELISM: "8"
            workdir: /work
            idle_pause_seconds: 90
            max_idle_seconds: 45
            sandbox:
              timeout_seconds: 3600
              auto_delete_seconds: 7200
            warm_pool: {size: 3, max_age_seconds: 600}
        """

    func testACompleteFileBecomesTheProfileAndTheLauncherSettings() throws {
        let file = try parse(Self.complete)
        XCTAssertEqual(file.environments.count, 1)
        let p = file.environments[0]
        XCTAssertEqual(p.id, "env_bench")
        XCTAssertEqual(p.key, Self.secrets["ENV_KEY"])
        XCTAssertEqual(p.template, "cma-bench")
        XCTAssertEqual(p.egress, .allow(["api.superserve.ai", "*.sandbox.superserve.ai", "203.0.113.0/24", "198.51.100.7"]))
        XCTAssertEqual(p.runnerVariables, ["SUPERSERVE_API_KEY": "placeholder-bench-secret", "PARALLELISM": "8"])
        XCTAssertEqual(p.workdir, "/work")
        XCTAssertEqual(p.idlePauseSeconds, 90)
        XCTAssertEqual(p.maxIdleSeconds, 45)
        XCTAssertEqual(p.sandboxTimeoutSeconds, 3600)
        XCTAssertEqual(p.autoDeleteSeconds, 7200)
        XCTAssertEqual(p.warmPool, .init(size: 3, maxAgeSeconds: 600))
        XCTAssertEqual(p.line, 9)
        XCTAssertFalse(p.description.contains("SECRET"), "the profile's description leaves values out")
        XCTAssertEqual(file.webhookSigningKeys, [Self.secrets["SIGNING"]!])

        let (c, _) = try Configuration.load(mode: .webhook, file: file, environmentID: nil, environment: [:],
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        XCTAssertEqual(c.environmentID, "env_bench")
        XCTAssertEqual(c.environmentKey, Self.secrets["ENV_KEY"])
        XCTAssertEqual(c.superserveAPIKey, Self.secrets["SS_KEY"])
        XCTAssertEqual(c.webhookSigningKeys, [Self.secrets["SIGNING"]!])
        XCTAssertEqual(c.launcher.template, "cma-bench")
        XCTAssertEqual(c.launcher.agentWorkdir, "/work")
        XCTAssertEqual(c.launcher.maxIdleSeconds, 45)
        XCTAssertEqual(c.launcher.sandboxTimeoutSeconds, 3600)
        XCTAssertEqual(c.launcher.autoDeleteSeconds, 7200)
        XCTAssertEqual(c.idlePause, .seconds(90))
        // Rule 22: the Anthropic host first, the profile's hosts, and deny 0.0.0.0/0.
        XCTAssertEqual(c.launcher.networkPolicy, NetworkPolicy(
            allowOut: ["anthropic.internal.example", "api.superserve.ai", "*.sandbox.superserve.ai", "203.0.113.0/24", "198.51.100.7"],
            denyOut: ["0.0.0.0/0"]))
        XCTAssertEqual(c.launcher.runnerExtraEnvironment["SUPERSERVE_API_KEY"], "placeholder-bench-secret")
        XCTAssertEqual(c.launcher.runnerExtraEnvironment["PARALLELISM"], "8")
    }

    /// Rule 28: the profile's variables reach the runner's exec env, beside (never
    /// instead of) its own ANTHROPIC_* variables.
    func testRunnerVariablesJoinTheRunnersExecEnvironment() throws {
        let (c, _) = try Configuration.load(mode: .poll, file: try parse(Self.complete), environmentID: nil, environment: [:],
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        let request = LaunchRequest(workID: "work_1", sessionID: "sesn_1", environmentID: "env_bench",
                                    workSecret: "secret", sessionsTokenPresent: true)
        let env = try RunnerEnvironment.make(for: request, configuration: c.launcherSettings).get()
        XCTAssertEqual(env["SUPERSERVE_API_KEY"], "placeholder-bench-secret")
        XCTAssertEqual(env["ANTHROPIC_WORK_SECRET"], "secret")
        XCTAssertEqual(env["CMA_AGENT_WORKDIR"], "/work")
    }

    func testEgressOpenMustBeSpelledOutAndSendsNoRules() throws {
        let text = Self.complete.replacingOccurrences(of: """
                egress:
                  allow: [api.superserve.ai, "*.sandbox.superserve.ai", 203.0.113.0/24, 198.51.100.7]
            """, with: "    egress: open")
        let file = try parse(text)
        XCTAssertEqual(file.environments[0].egress, .open)
        let (c, _) = try Configuration.load(mode: .poll, file: file, environmentID: nil, environment: ["CMA_EXTRA_ALLOW_OUT": "x.example.com"],
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        XCTAssertEqual(c.launcher.networkPolicy, NetworkPolicy(allowOut: [], denyOut: []))
        // Anything else at egress is refused, with its line.
        let bad = failure(text.replacingOccurrences(of: "egress: open", with: "egress: opened"))
        XCTAssertEqual(bad?.field, "environments[0].egress")
        XCTAssertEqual(bad?.line, 12)
        // Without a file, the default stays rule 22's lock.
        XCTAssertEqual(LauncherConfiguration().networkPolicy.denyOut, ["0.0.0.0/0"])
    }

    /// The documented precedence: flag > file > process environment > default.
    func testTheFileWinsOverVariablesWhichFillWhatTheFileLeavesOut() throws {
        let file = try parse(Self.complete)
        let env = ["CMA_TEMPLATE": "from-variable", "CMA_JANITOR_INTERVAL_SECONDS": "7", "CMA_PORT": "9999",
                   "ANTHROPIC_ENVIRONMENT_ID": "env_other", "ANTHROPIC_WEBHOOK_SECRET": "whsec_ignored"]
        let (c, _) = try Configuration.load(mode: .webhook, file: file, environmentID: nil, environment: env,
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        XCTAssertEqual(c.launcher.template, "cma-bench", "the file wins over CMA_TEMPLATE")
        XCTAssertEqual(c.environmentID, "env_bench", "the file's environment, never ANTHROPIC_ENVIRONMENT_ID")
        XCTAssertEqual(c.janitorInterval, .seconds(7), "a process setting the file has not comes from the variable")
        XCTAssertEqual(c.server.port, 0, "the flag wins over CMA_PORT")
        XCTAssertEqual(c.webhookSigningKeys, [Self.secrets["SIGNING"]!])
        let bare = try parse(Self.complete.replacingOccurrences(of: "    template: cma-bench\n", with: ""))
        let (d, _) = try Configuration.load(mode: .poll, file: bare, environmentID: nil, environment: env,
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        XCTAssertEqual(d.launcher.template, "from-variable", "a field the file leaves out falls back to its variable")
    }

    func testSecretsComeFromVariablesOrFilesAndAreNeverWrittenInTheFile() throws {
        let keyFile = directory.appendingPathComponent("cma-key-\(UUID().uuidString.prefix(6))")
        try "sk-ant-oat01-FROMAFILE\n".write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        let fromFile = try parse(Self.complete.replacingOccurrences(of: "key: {env: ENV_KEY}", with: "key: {file: \(keyFile.lastPathComponent)}"))
        XCTAssertEqual(fromFile.environments[0].key, "sk-ant-oat01-FROMAFILE", "relative to the file's folder, newline dropped")

        let literal = failure(Self.complete.replacingOccurrences(of: "key: {env: ENV_KEY}", with: "key: sk-ant-oat01-PASTEDSECRET"))
        XCTAssertEqual(literal?.field, "environments[0].key")
        XCTAssertEqual(literal?.line, 10)
        XCTAssertTrue(literal?.problem.contains("never written in the file") == true, "\(String(describing: literal))")
        XCTAssertFalse(literal?.description.contains("PASTEDSECRET") == true)

        let unset = failure(Self.complete, environment: Self.secrets.filter { $0.key != "BENCH_KEY" })
        XCTAssertEqual(unset?.field, "environments[0].runner_env.SUPERSERVE_API_KEY")
        XCTAssertTrue(unset?.problem.contains("BENCH_KEY") == true, "the variable's name is given: \(String(describing: unset))")

        let missing = failure(Self.complete.replacingOccurrences(of: "key: {env: ENV_KEY}", with: "key: {file: /nonexistent/key}"))
        XCTAssertEqual(missing?.field, "environments[0].key")

        var wrong = Self.secrets
        wrong["ENV_KEY"] = "live-NOTANENVKEY"
        let malformed = failure(Self.complete, environment: wrong)
        XCTAssertEqual(malformed?.field, "environments[0].key")
        XCTAssertFalse(malformed?.description.contains("NOTANENVKEY") == true)
    }

    func testUnknownKeysDuplicatesAndBadValuesNameTheFieldAndTheLine() {
        let unknown = failure(Self.complete.replacingOccurrences(of: "    workdir: /work", with: "    work_dir: /work"))
        XCTAssertEqual(unknown?.field, "environments[0].work_dir")
        XCTAssertEqual(unknown?.line, 17)
        XCTAssertTrue(unknown?.description.hasPrefix("test.yaml:17: environments[0].work_dir: unknown key") == true,
                      "\(String(describing: unknown))")

        let top = failure("environment:\n  - id: env_x\n")
        XCTAssertEqual(top?.field, "environment")
        XCTAssertEqual(top?.line, 1)

        let twice = failure(Self.complete + "\n" + """
              - id: env_bench
                key: {env: ENV_KEY}
            """)
        XCTAssertEqual(twice?.field, "environments[1]")
        XCTAssertEqual(twice?.line, 24)
        XCTAssertTrue(twice?.problem.contains("duplicate environment id") == true)

        let repeated = failure(Self.complete.replacingOccurrences(of: "    max_idle_seconds: 45", with: "    max_idle_seconds: 45\n    max_idle_seconds: 46"))
        XCTAssertEqual(repeated?.field, "max_idle_seconds")
        XCTAssertEqual(repeated?.line, 19)
        XCTAssertTrue(repeated?.problem.contains("twice") == true)

        let range = failure(Self.complete.replacingOccurrences(of: "timeout_seconds: 3600", with: "timeout_seconds: 5"))
        XCTAssertEqual(range?.field, "environments[0].sandbox.timeout_seconds")

        let id = failure(Self.complete.replacingOccurrences(of: "id: env_bench", with: "id: bench"))
        XCTAssertEqual(id?.field, "environments[0].id")

        let syntax = failure("environments:\n  - id: env_x\n    key: {env: ENV_KEY\n")
        XCTAssertTrue(syntax?.problem.hasPrefix("invalid YAML") == true, "\(String(describing: syntax))")
        XCTAssertNotNil(syntax?.line)

        let empty = failure("version: 1\n")
        XCTAssertEqual(empty?.field, "environments")
    }

    /// Egress entries: a host, `*.domain`, an IPv4 address or CIDR (superserve.md §5).
    func testEgressEntriesMustBeHostsWildcardsOrCIDRs() {
        for good in ["pypi.org", "*.github.com", "a-b.example.co.uk", "10.0.0.0/8", "203.0.113.7", "0.0.0.0/0"] {
            XCTAssertNil(EgressEntryCheck.problem(good), good)
        }
        for bad in ["https://pypi.org", "pypi.org/simple", "*", "*.", "::1", "2001:db8::/32", "pypi.org:443", "10.0.0.0/33",
                    "300.1.1.1", "under_score.com", "-lead.com", "", "two words.com", "localhost.", "1.2.3", "a.123"] {
            XCTAssertNotNil(EgressEntryCheck.problem(bad), bad)
        }
        let error = failure(Self.complete.replacingOccurrences(of: "198.51.100.7", with: "https://evil.example"))
        XCTAssertEqual(error?.field, "environments[0].egress.allow[3]")
        XCTAssertEqual(error?.line, 13)
    }

    /// Rules 26–27: a runner variable never shadows the runner's own ANTHROPIC_* or
    /// carries a forbidden credential name.
    func testRunnerVariablesMayNotShadowTheRunnersOwnOrForbiddenNames() {
        for name in ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_WORK_SECRET", "ANTHROPIC_BASE_URL",
                     "CMA_AGENT_WORKDIR", "CMA_PYTHON", "PATH", "LD_PRELOAD", "1BAD", "has-dash"] {
            XCTAssertNotNil(RunnerVariableCheck.problem(name), name)
            let error = failure(Self.complete.replacingOccurrences(of: "PARALLELISM: \"8\"", with: "\(name): \"8\""))
            XCTAssertEqual(error?.field, "environments[0].runner_env.\(name)", name)
            XCTAssertEqual(error?.line, 16, name)
        }
        XCTAssertTrue(RunnerVariableCheck.problem("ANTHROPIC_API_KEY")?.contains("rule 27") == true)
        XCTAssertNil(RunnerVariableCheck.problem("SUPERSERVE_API_KEY"))
        XCTAssertNil(RunnerVariableCheck.problem("GITHUB_TOKEN"))
    }

    func testSeveralEnvironmentsNeedOneChosenUntilTheyRunInOneProcess() throws {
        let two = try parse(Self.complete + "\n" + """
              - id: env_dev
                key: {env: ENV_KEY}
                template: cma-dev
            """)
        XCTAssertEqual(two.environments.map(\.id), ["env_bench", "env_dev"])
        XCTAssertThrowsError(try two.select(nil)) { error in
            XCTAssertTrue("\(error)".contains("lists 2 environments"), "\(error)")
            XCTAssertTrue("\(error)".contains("--environment"), "\(error)")
        }
        XCTAssertEqual(try two.select("env_dev").template, "cma-dev")
        XCTAssertThrowsError(try two.select("env_nope"))
        // The second entry falls back to the variables for what it leaves out.
        let (c, _) = try Configuration.load(mode: .poll, file: two, environmentID: "env_dev", environment: [:],
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: SDKRoot.url)
        XCTAssertEqual(c.launcher.template, "cma-dev")
        XCTAssertEqual(c.launcher.agentWorkdir, "/workspace")
        XCTAssertEqual(c.launcher.runnerExtraEnvironment, [:])
    }

    func testWarmPoolTakesACountOrASizeAndAge() throws {
        let count = try parse(Self.complete.replacingOccurrences(of: "warm_pool: {size: 3, max_age_seconds: 600}", with: "warm_pool: 2"))
        XCTAssertEqual(count.environments[0].warmPool, .init(size: 2, maxAgeSeconds: EnvironmentProfile.WarmPool.defaultMaxAgeSeconds))
        let tooMany = failure(Self.complete.replacingOccurrences(of: "size: 3", with: "size: 1000"))
        XCTAssertEqual(tooMany?.field, "environments[0].warm_pool.size")
        let noSize = failure(Self.complete.replacingOccurrences(of: "{size: 3, max_age_seconds: 600}", with: "{max_age_seconds: 600}"))
        XCTAssertEqual(noSize?.field, "environments[0].warm_pool")
    }

    /// The README's complete example is a valid file (its secret file path swapped
    /// for a temporary one).
    func testTheReadmeExampleLoads() throws {
        let readme = try String(contentsOf: SDKRoot.url.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "## Configuration file\n").dropFirst().first)
        let block = try XCTUnwrap(section.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        let secret = directory.appendingPathComponent("cma-readme-\(UUID().uuidString.prefix(6))")
        try "ss_live_README\n".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let text = block.replacingOccurrences(of: "/var/run/secrets/cma/superserve-api-key", with: secret.path)
        let file = try parse(text, environment: ["ANTHROPIC_WEBHOOK_SIGNING_KEY": Self.secrets["SIGNING"]!,
                                                 "BENCH_ENVIRONMENT_KEY": "sk-ant-oat01-README", "BENCH_SUPERSERVE_API_KEY": "ss_x"])
        XCTAssertEqual(file.superserveAPIKey, "ss_live_README")
        XCTAssertEqual(file.environments.map(\.id), ["env_01BENCHMARKAGENT"])
        XCTAssertEqual(file.environments[0].warmPool?.size, 4)
    }

    /// `NAME_FILE` stands for `NAME` with the file's contents; both at once is an error.
    func testSecretVariablesTakeAFileForm() throws {
        let secret = directory.appendingPathComponent("cma-secret-\(UUID().uuidString.prefix(6))")
        try "sk-ant-oat01-FROMFILE\n".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let resolved = try SecretFileVariables.resolve(["ANTHROPIC_ENVIRONMENT_KEY_FILE": secret.path, "OTHER": "x"])
        XCTAssertEqual(resolved["ANTHROPIC_ENVIRONMENT_KEY"], "sk-ant-oat01-FROMFILE")
        XCTAssertEqual(resolved["OTHER"], "x")
        XCTAssertThrowsError(try SecretFileVariables.resolve(["SUPERSERVE_API_KEY_FILE": secret.path, "SUPERSERVE_API_KEY": "ss_DIRECT"])) {
            XCTAssertEqual("\($0)", "SUPERSERVE_API_KEY_FILE: set only one of SUPERSERVE_API_KEY and SUPERSERVE_API_KEY_FILE")
        }
        XCTAssertThrowsError(try SecretFileVariables.resolve(["SUPERSERVE_API_KEY_FILE": "/nonexistent/key"])) {
            XCTAssertTrue("\($0)".hasPrefix("SUPERSERVE_API_KEY_FILE: names a file that cannot be read"))
        }
    }

    // MARK: .env

    func testDotEnvLinesQuotesAndCommentsAndTheProcessWins() throws {
        let values = try DotEnvFile.parse("""
            # a comment
            export ANTHROPIC_ENVIRONMENT_ID=env_dotenv
            PLAIN=value with spaces # trailing comment
            SINGLE='kept # as $written'
            DOUBLE="line\\nbreak \\"quoted\\""
            EMPTY=

            """, path: ".env")
        XCTAssertEqual(values["ANTHROPIC_ENVIRONMENT_ID"], "env_dotenv")
        XCTAssertEqual(values["PLAIN"], "value with spaces")
        XCTAssertEqual(values["SINGLE"], "kept # as $written")
        XCTAssertEqual(values["DOUBLE"], "line\nbreak \"quoted\"")
        XCTAssertEqual(values["EMPTY"], "")
        XCTAssertEqual(DotEnvFile.merged(process: ["PLAIN": "exported"], file: values)["PLAIN"], "exported")
        XCTAssertThrowsError(try DotEnvFile.parse("GOOD=1\nnot a line\n", path: ".env")) { error in
            XCTAssertEqual("\(error)", ".env:2: expected NAME=value")
        }
        XCTAssertThrowsError(try DotEnvFile.parse("KEY='sk-ant-UNTERMINATED\n", path: ".env")) { error in
            XCTAssertFalse("\(error)".contains("UNTERMINATED"))
        }
    }
}

/// The package root, where `runner/` is (Configuration.load checks it).
enum SDKRoot {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
