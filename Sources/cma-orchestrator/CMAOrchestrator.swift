import ArgumentParser
import EmulatedMode
import Foundation
import Logging
import Orchestrator
import Glibc

@main
struct CMAOrchestrator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cma-orchestrator",
        abstract: "Takes Claude Managed Agents work and runs each session's runner in a Superserve sandbox.",
        version: OrchestratorApp.version,
        subcommands: [Serve.self, Poll.self, Emulate.self, Trigger.self, Demo.self, Setup.self, Prepare.self, SetupTemplate.self])

    static func main() async {
        // Peers that vanish must never kill the process (the server also sends with MSG_NOSIGNAL).
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

struct ServerOptions: ParsableArguments {
    @Option(help: "Address to bind (127.0.0.1; 0.0.0.0 in containers). Env CMA_HOST.")
    var host: String?
    @Option(help: "Port to bind (0 picks one). Env CMA_PORT, default 8080.")
    var port: Int?
    @Flag(help: "With --emulated, allow a non-loopback --host (the emulators' routes have no authentication).")
    var emulatedAllowRemote = false
    @OptionGroup var files: ConfigOptions
}

/// `--config FILE` (env `CMA_CONFIG`), `--env-file FILE`, `--environment ID`.
struct ConfigOptions: ParsableArguments {
    @Option(help: "Configuration file (YAML) listing the environments and their sandbox profiles. Env CMA_CONFIG.")
    var config: String?
    @Option(help: "A .env file of variables; the process environment wins over it.")
    var envFile: String?
    @Option(help: "The environment (env_…) of the configuration file: serve/poll serve only it (default: every one of the file); setup template and prepare act on it.")
    var environment: String?

    /// The process environment over `--env-file`, and the configuration file if any.
    /// Exit 2 with the file, line and field (never a value) on an error.
    func load() throws -> (environment: [String: String], file: ConfigFile?) {
        var environment = ProcessInfo.processInfo.environment
        do {
            if let envFile {
                environment = DotEnvFile.merged(process: environment, file: try DotEnvFile.load(path: envFile))
            }
            environment = try SecretFileVariables.resolve(environment)
            let path = config ?? environment["CMA_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
            var file: ConfigFile?
            if let path { file = try ConfigFile.load(path: path, environment: environment) }
            return (environment, file)
        } catch {
            throw configurationFailure(error)
        }
    }
}

/// A configuration error: the message (names, never values) and exit 2.
func configurationFailure(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("cma-orchestrator: configuration: \(error)\n".utf8))
    return ExitCode(2)
}

/// Loads the configuration (exit 2 naming the variable), starts and runs an instance.
func runInstance(mode: Configuration.Mode, options: ServerOptions, emulated: Bool) async throws {
    // One per served environment: a file's every environment (or --environment's), else the variables'.
    let environments: [Configuration]
    let (environment, file) = try options.files.load()
    let overrides = CommandLineOverrides(host: options.host, port: options.port, emulated: emulated,
                                         emulatedAllowRemote: options.emulatedAllowRemote)
    do {
        if let file {
            environments = try Configuration.loadEnvironments(mode: mode, file: file, environmentID: options.files.environment,
                                                              environment: environment, overrides: overrides).map(\.0)
        } else {
            guard options.files.environment == nil else {
                throw Configuration.Error("--environment", "selects an environment of a configuration file; give --config too")
            }
            environments = [try Configuration.load(mode: mode, environment: environment, overrides: overrides)]
        }
    } catch {
        throw configurationFailure(error)
    }
    let configuration = environments[0]
    LineLogHandler.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
    let logger = Logger(label: "cma-orchestrator")
    let instance: OrchestratorApp
    do {
        // `--emulated`: both emulators on the instance's own port (rule 46).
        var emulators: EmbeddedEmulators?
        if emulated {
            do { emulators = try EmbeddedEmulators(configuration: configuration, logger: logger) } catch {
                throw StartError.emulators("\(error)")
            }
        }
        let accessLog = LineLogHandler.accessLineFormat(format: configuration.logFormat, level: configuration.logLevel,
                                                        label: logger.label)
        instance = try await OrchestratorApp.start(environments: environments, logger: logger, localUpstreams: emulators,
                                                   accessLog: accessLog)
    } catch let error as StartError {
        FileHandle.standardError.write(Data("cma-orchestrator: \(error)\n".utf8))
        if case .configuration = error { throw ExitCode(2) }
        throw ExitCode(1)
    }
    logger.notice("server.listening", metadata: [
        "http.address": "\(instance.localURL.absoluteString)", "orchestrator.mode": "\(mode.rawValue)",
        "orchestrator.emulated": "\(emulated)",
        "orchestrator.environments": "\(environments.map(\.environmentID).joined(separator: ","))",
    ])
    if emulated {
        let url = instance.localURL.absoluteString
        FileHandle.standardError.write(Data("""

            cma-orchestrator is serving \(url) with both emulators embedded (no credentials needed).
              status page:   \(url)/
              demo session:  swift run cma-orchestrator demo --server \(url)
              by hand:       curl -X POST \(url)/_emulator/sessions -d '{"tool_calls":[{"name":"bash","input":{"command":"ls"}}]}'

            """.utf8))
    }
    try await instance.run(handleSignals: true)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve webhooks, probes, metrics and the status page; drain the work queue on each webhook and every 30 s.")
    @OptionGroup var server: ServerOptions
    @Flag(help: "Embed the Anthropic and Superserve emulators on the same port and run sandboxes locally.")
    var emulated = false

    func run() async throws { try await runInstance(mode: .webhook, options: server, emulated: emulated) }
}

struct Poll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Always-on long-poll mode (no webhooks); probes and metrics stay served on --port.")
    @OptionGroup var server: ServerOptions
    @Flag(help: "Embed both emulators, as for serve.")
    var emulated = false

    func run() async throws { try await runInstance(mode: .poll, options: server, emulated: emulated) }
}

struct Emulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one API emulator on its own port.", subcommands: [Anthropic.self, Superserve.self])

    struct Anthropic: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The Anthropic work queue, sessions and webhook sender.")
        @Option var host = "127.0.0.1"
        @Option var port = 8081
        @Option(help: "Environment id (env ANTHROPIC_ENVIRONMENT_ID, default env_emulated).") var environmentID: String?
        @Option(help: "Environment key (env ANTHROPIC_ENVIRONMENT_KEY).") var environmentKey: String?
        @Option(help: "whsec_ key that signs webhooks (env ANTHROPIC_WEBHOOK_SIGNING_KEY).") var signingKey: String?
        @Option(help: "Where session.status_run_started webhooks are delivered.") var webhookURL: String?
        @Option(help: "A further environment ID=KEY whose work queue it serves too (repeatable; the emulator's keys are placeholders, never real ones).")
        var additionalEnvironment: [String] = []

        func run() async throws {
            LineLogHandler.bootstrap(format: .automatic, level: .notice)
            let env = ProcessInfo.processInfo.environment
            var options = StandaloneEmulator.AnthropicOptions()
            options.host = host
            options.port = port
            options.environmentID = environmentID ?? env["ANTHROPIC_ENVIRONMENT_ID"]
            options.environmentKey = environmentKey ?? env["ANTHROPIC_ENVIRONMENT_KEY"]
            options.signingKey = signingKey ?? env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] ?? env["ANTHROPIC_WEBHOOK_SECRET"]
            for entry in additionalEnvironment {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0].hasPrefix("env_"), !parts[1].isEmpty else {
                    throw ValidationError("--additional-environment must be env_…=KEY")
                }
                options.additionalEnvironments[parts[0]] = parts[1]
            }
            if let webhookURL {
                guard let url = URL(string: webhookURL), url.scheme != nil else {
                    throw ValidationError("--webhook-url must be an http(s) URL")
                }
                options.webhookURL = url
            }
            try await StandaloneEmulator.runAnthropic(options, logger: Logger(label: "emulator.anthropic"))
        }
    }

    struct Superserve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The Superserve control and data planes, with local sandboxes.")
        @Option var host = "127.0.0.1"
        @Option var port = 8082
        @Option(help: "API key it accepts (env SUPERSERVE_API_KEY).") var apiKey: String?
        @Option(help: "Folder for sandbox directories (default: a temporary one, removed at exit).") var sandboxes: String?
        @Option(help: "Name of the ready template it starts with (env CMA_TEMPLATE, default cma-runner).") var template: String?
        @Option(help: "bin folder of a Python with anthropic 2.10.0, first on PATH inside sandboxes.") var pythonBin: String?
        @Option(help: "Team requests per second, data plane included (env CMA_EMULATOR_RATE; default 20, superserve.md §7).") var rate: String?
        @Option(help: "Team burst (env CMA_EMULATOR_BURST; default 40).") var burst: String?
        @Option(help: "Active sandboxes per team, 0 = no quota (env CMA_EMULATOR_MAX_ACTIVE; default 50).") var maxActive: String?
        @Flag(help: "Lift the rate limit and the quota (load tests of the orchestrator alone; env CMA_EMULATOR_UNLIMITED).") var unlimited = false

        func run() async throws {
            LineLogHandler.bootstrap(format: .automatic, level: .notice)
            let env = ProcessInfo.processInfo.environment
            var options = StandaloneEmulator.SuperserveOptions()
            options.host = host
            options.port = port
            options.apiKey = apiKey ?? env["SUPERSERVE_API_KEY"]
            options.sandboxes = sandboxes.map { URL(fileURLWithPath: $0) }
            options.template = template ?? env["CMA_TEMPLATE"]
            options.pythonBin = pythonBin.map { URL(fileURLWithPath: $0) }
            do {
                var flags = EmulatorLimits(unlimited: unlimited)
                if let rate { flags.rate = try EmulatorLimits.rate(rate, name: "--rate") }
                if let burst { flags.burst = try EmulatorLimits.count(burst, name: "--burst", least: 1) }
                if let maxActive { flags.maxActive = try EmulatorLimits.count(maxActive, name: "--max-active", least: 0) }
                options.limits = try EmulatorLimits.from(environment: env).overridden(by: flags)
            } catch {
                throw ValidationError(error.description)
            }
            try await StandaloneEmulator.runSuperserve(options, logger: Logger(label: "emulator.superserve"))
        }
    }
}

struct Trigger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one signed test webhook (key from ANTHROPIC_WEBHOOK_SIGNING_KEY or --signing-key).")
    @Option(help: "Webhook endpoint, e.g. http://127.0.0.1:8080/webhooks.") var url: String
    @Option(help: "Event type (data.type).") var type = "session.status_run_started"
    @Option(help: "Session id carried in data.id.") var session = "sesn_trigger"
    @Option(help: "whsec_ key; prefer the environment variable, flags show up in ps.") var signingKey: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let key = signingKey ?? env["ANTHROPIC_WEBHOOK_SIGNING_KEY"] ?? env["ANTHROPIC_WEBHOOK_SECRET"] else {
            throw ValidationError("ANTHROPIC_WEBHOOK_SIGNING_KEY is required (or --signing-key)")
        }
        guard let target = URL(string: url), target.host != nil else { throw ValidationError("--url must be an http(s) URL") }
        let result = try await WebhookTrigger.send(url: target, signingKey: key, type: type, sessionID: session)
        print("webhook-id \(result.webhookID) → HTTP \(result.status) \(result.body)")
        if !(200..<300).contains(result.status) { throw ExitCode(1) }
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one demo session against `serve --emulated` and print the tool call's output.")
    @Option(help: "The emulated server.") var server = "http://127.0.0.1:8080"
    @Option(help: "Seconds to wait for the tool result.") var timeout = 120

    func run() async throws {
        guard let url = URL(string: server), url.host != nil else { throw ValidationError("--server must be an http URL") }
        do {
            let outcome = try await DemoSession.run(server: url, timeout: .seconds(timeout))
            print("session \(outcome.sessionID): bash `\(DemoSession.command)` ran in a local sandbox")
            print(outcome.toolOutput)
            print(String(format: "tool result arrived after %.1f s", Double(outcome.elapsed.components.seconds)
                + Double(outcome.elapsed.components.attoseconds) / 1e18))
            if outcome.isError { throw ExitCode(1) }
        } catch let failure as DemoSession.Failure {
            FileHandle.standardError.write(Data("cma-orchestrator demo: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Setup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the self-hosted environment, an agent, or the runner template (the upstream guide's setup steps).",
        subcommands: [Environment.self, Agent.self, Template.self])

    struct Environment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a self-hosted environment (config.type self_hosted) with ANTHROPIC_API_KEY; prints its id.")
        @Option(help: "Name of the environment.") var name: String
        @Option(help: "Optional description.") var description: String?
        @OptionGroup var files: ConfigOptions

        func run() async throws {
            let plan = try anthropicSetupPlan(files)
            try await exitingOnFailure("setup environment") {
                let id = try await AnthropicSetup.createEnvironment(name: name, description: description, plan: plan)
                print(id)
                FileHandle.standardError.write(Data("""
                    created self-hosted environment \(id). Next: create its environment key in the Console, then
                      ANTHROPIC_ENVIRONMENT_ID=\(id) cma-orchestrator setup template

                    """.utf8))
            }
        }
    }

    struct Agent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an agent with the agent toolset (ANTHROPIC_API_KEY); prints its id.")
        @Option(help: "Name of the agent.") var name: String
        @Option(help: "Model id (default \(AnthropicSetup.defaultModel)).") var model: String = AnthropicSetup.defaultModel
        @Option(help: "System prompt.") var system: String?
        @OptionGroup var files: ConfigOptions

        func run() async throws {
            let plan = try anthropicSetupPlan(files)
            try await exitingOnFailure("setup agent") {
                print(try await AnthropicSetup.createAgent(name: name, model: model, system: system, plan: plan))
            }
        }
    }

    struct Template: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the environment's runner template on Superserve, streaming the build log; rebuilds a failed one.")
        @OptionGroup var files: ConfigOptions

        func run() async throws { try await buildTemplate(files) }
    }
}

/// `setup template` and its alias `setup-template`.
func buildTemplate(_ files: ConfigOptions) async throws {
    LineLogHandler.bootstrap(format: .automatic, level: .notice)
    let (environment, file) = try files.load()
    let plan: TemplateSetup.Plan
    do {
        plan = try TemplateSetup.plan(environment: environment, file: file, environmentID: files.environment)
    } catch {
        throw configurationFailure(error)
    }
    try await exitingOnFailure("setup template") {
        let template = try await TemplateSetup.run(plan, logger: Logger(label: "cma-orchestrator")) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        print("template \(template.name) (\(template.id)) is \(template.status)")
    }
}

/// The setup commands' Anthropic plan; a configuration problem exits 2.
func anthropicSetupPlan(_ files: ConfigOptions) throws -> AnthropicSetup.Plan {
    let (environment, file) = try files.load()
    do { return try AnthropicSetup.plan(environment: environment, file: file) } catch { throw configurationFailure(error) }
}

/// Runs a setup or prepare step: any failure is printed as `cma-orchestrator COMMAND: …`
/// on standard error and exits 1 (a configuration problem has exited 2 before).
func exitingOnFailure(_ command: String, _ body: () async throws -> Void) async throws {
    do { try await body() } catch {
        FileHandle.standardError.write(Data("cma-orchestrator \(command): \(error)\n".utf8))
        throw ExitCode(1)
    }
}

struct Prepare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a sandbox prepared for an environment (files, commands, optional pause); prints its id and the session metadata.")
    @OptionGroup var files: ConfigOptions
    @Option(name: .customLong("file"), help: "LOCAL:REMOTE file to upload (repeatable).") var uploads: [String] = []
    @Option(name: .customLong("run"), help: "Command to run in the agent workdir (repeatable, in order).") var commands: [String] = []
    @Flag(help: "Pause the sandbox when prepared.") var pause = false
    @Option(help: "Timeout of each --run command in seconds.") var runTimeout = 600

    func run() async throws {
        LineLogHandler.bootstrap(format: .automatic, level: .notice)
        guard let environmentID = files.environment else {
            throw configurationFailure(Configuration.Error("--environment", "is required (the env_… the sandbox is prepared for)"))
        }
        let (environment, file) = try files.load()
        var request = PrepareSandbox.Request(environmentID: environmentID)
        let settings: PrepareSandbox.Settings
        do {
            settings = try PrepareSandbox.settings(environment: environment, file: file, environmentID: environmentID)
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            request.files = try uploads.map { argument throws(PrepareSandbox.Failure) in try PrepareSandbox.parseFile(argument, workingDirectory: cwd) }
            guard (1...3600).contains(runTimeout) else { throw PrepareSandbox.Failure("--run-timeout must be 1–3600 seconds") }
        } catch {
            throw configurationFailure(error)
        }
        request.commands = commands
        request.pause = pause
        request.commandTimeoutSeconds = runTimeout
        try await exitingOnFailure("prepare") { [request] in
            let outcome = try await PrepareSandbox.run(request, settings: settings, logger: Logger(label: "cma-orchestrator")) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            print(outcome.sandboxID)
            print(outcome.sessionMetadata)
        }
    }
}

struct SetupTemplate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-template",
        abstract: "Alias of `setup template`.")
    @OptionGroup var files: ConfigOptions

    func run() async throws { try await buildTemplate(files) }
}
