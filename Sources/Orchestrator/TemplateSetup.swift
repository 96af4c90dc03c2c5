import APIClient
import Foundation
import JSON
import Logging
import SandboxLifecycle

/// `cma-orchestrator setup template` (alias `setup-template`): builds the runner
/// template (rule 47: create, then poll the build every 2 s until `ready`; `failed`
/// and `cancelled` are errors, a failed template is rebuilt on the next run).
public enum TemplateSetup {
    /// The template body of superserve.md §6: Python with the runner's SDK, procps for
    /// the probe, and the runner and agent folders. With `bundle`, the runner bundle is
    /// baked in with its version (`.bundle-version`), so a launch in a sandbox made
    /// from this template sends no bundle at all (rule 24 as amended).
    public static func body(name: String, runnerDirectory: String, agentWorkdir: String,
                            anthropicRequirement: String = defaultAnthropicRequirement, bundle: RunnerBundle? = nil) -> Data {
        var steps = [
            #"{"run":"apt-get update && apt-get install -y --no-install-recommends curl git jq procps && rm -rf /var/lib/apt/lists/*"}"#,
            #"{"run":"# + JSONEscape.quoted("pip install --no-cache-dir '\(anthropicRequirement)'") + "}",
            #"{"run":"# + JSONEscape.quoted("mkdir -p \(runnerDirectory) \(agentWorkdir) /mnt/session/outputs") + "}",
        ]
        if let bundle { steps.append(#"{"run":"# + JSONEscape.quoted(bakeCommand(bundle, runnerDirectory: runnerDirectory)) + "}") }
        steps.append(#"{"workdir":"# + JSONEscape.quoted(agentWorkdir) + "}")
        let text = #"{"name":"# + JSONEscape.quoted(name) + #","vcpu":2,"memory_mib":2048,"build_spec":{"from":"python:3.12-slim","steps":["#
            + steps.joined(separator: ",") + "]}}"
        return Data(text.utf8)
    }

    /// The build step that unpacks the bundle into the runner directory and records its
    /// version where the launch exec looks (`RunnerEnvironment.launchCommand`). Base64
    /// holds no quote, so single quotes are safe.
    public static func bakeCommand(_ bundle: RunnerBundle, runnerDirectory dir: String) -> String {
        "printf %s '\(bundle.base64)' | base64 -d | tar -xf - -C \(dir) && printf '%s\\n' \(bundle.version) > \(dir)/.bundle-version"
    }

    /// The bundle of a runner folder, or nil when it holds no runner.
    static func loadBundle(_ folder: URL) -> RunnerBundle? { try? RunnerBundle.load(from: folder) }

    /// The runner's SDK pin when `runner/requirements.txt` cannot be read.
    public static let defaultAnthropicRequirement = "anthropic==2.10.0"

    /// The `anthropic==…` line of `runner/requirements.txt`, so the template installs
    /// exactly the SDK the runner is tested with.
    public static func anthropicRequirement(runnerSource: URL?) -> String {
        guard let runnerSource,
              let text = try? String(contentsOf: runnerSource.appendingPathComponent("requirements.txt"), encoding: .utf8) else {
            return defaultAnthropicRequirement
        }
        let line = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("anthropic==") && !$0.contains(" ") && !$0.contains("'") }
        return line ?? defaultAnthropicRequirement
    }

    /// What the build needs: the Superserve team, the template name, the runner and
    /// agent folders, and the SDK pin.
    public struct Plan: Sendable {
        let superserve: SuperserveConfiguration
        let launcher: LauncherConfiguration
        let anthropicRequirement: String
        /// The runner bundle baked into the template (`CMA_RUNNER_DIR`, else `./runner`
        /// when present); nil builds the template without it.
        var bundle: RunnerBundle? = nil
        /// Tries of one upstream call on transient answers (429, 5xx, transport).
        var attempts = 6
        var backoff = Backoff(base: .milliseconds(500), cap: .seconds(10))

        public var templateName: String { launcher.template }
    }

    /// Reads `SUPERSERVE_API_KEY`, `SUPERSERVE_BASE_URL`, `SUPERSERVE_SANDBOX_URL`,
    /// `CMA_TEMPLATE`, `CMA_RUNNER_REMOTE_DIR`, `CMA_AGENT_WORKDIR`, `CMA_RUNNER_DIR`;
    /// with a configuration file, the environment `environmentID` names (or its only
    /// one) gives the template and workdir, and the file's `superserve` section the team.
    public static func plan(environment: [String: String], file: ConfigFile? = nil, environmentID: String? = nil,
                            workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(ConfigurationLoadError) -> Plan {
        var variables = environment
        if let file {
            let profile: EnvironmentProfile
            do { profile = try file.select(environmentID) } catch { throw .file(error) }
            variables.merge(file.variables(for: profile)) { _, fromFile in fromFile }
        }
        let reader = EnvironmentReader(variables)
        do throws(Configuration.Error) {
            let key = try reader.required("SUPERSERVE_API_KEY")
            let (control, data) = try Configuration.superserveURLs(reader, apiKey: key)
            let superserve = SuperserveConfiguration(controlPlaneURL: control, dataPlaneURL: data, apiKey: key)
            var launcher = LauncherConfiguration()
            launcher.template = reader.string("CMA_TEMPLATE") ?? launcher.template
            launcher.runnerDirectory = reader.string("CMA_RUNNER_REMOTE_DIR") ?? launcher.runnerDirectory
            launcher.agentWorkdir = reader.string("CMA_AGENT_WORKDIR") ?? launcher.agentWorkdir
            let runnerSource = reader.string("CMA_RUNNER_DIR").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
                ?? Configuration.locate("runner", from: workingDirectory)
            let bundle = runnerSource.flatMap(loadBundle)
            if bundle == nil, reader.string("CMA_RUNNER_DIR") != nil {
                throw Configuration.Error("CMA_RUNNER_DIR", "must name the folder holding runner.py (the repository's runner/)")
            }
            return Plan(superserve: superserve, launcher: launcher,
                        anthropicRequirement: anthropicRequirement(runnerSource: runnerSource), bundle: bundle)
        } catch {
            throw .variables(error)
        }
    }

    /// `setup template`: a ready template is left alone; one that is building is waited
    /// for; a failed one is rebuilt (`POST /templates/{id}/builds`) rather than stopping
    /// at the 409 a second create would get; otherwise it is created. Each build is
    /// polled every 2 s until `ready` (rule 47) while its log is streamed to `log`;
    /// transient answers (429, 5xx, transport errors) are retried with backoff.
    public static func run(_ plan: Plan, transport: any HTTPTransport = URLSessionTransport(),
                           logger: Logging.Logger,
                           log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> (name: String, id: String, status: String) {
        let launcher = plan.launcher
        let client = SuperserveClient(configuration: plan.superserve, transport: transport, logger: logger)
        let name = launcher.template
        for _ in 0..<3 {
            let existing = try await retrying(plan, logger, "templates.list") { () async throws(SandboxLifecycleError) in
                try await client.listTemplates(namePrefix: name).first(where: { $0.name == name })
            }
            let templateID: String
            let buildID: String
            switch existing?.status {
            case "ready":
                let template = existing!
                log("template \(name) is ready")
                return (template.name, template.id, template.status)
            case "failed":
                let template = existing!
                log("template \(name) failed its last build (\(template.errorMessage ?? "no detail")); rebuilding")
                let build = try await retrying(plan, logger, "templates.rebuild") { () async throws(SandboxLifecycleError) in
                    try await client.rebuildTemplate(id: template.id)
                }
                (templateID, buildID) = (template.id, build.id)
            case .some:
                let template = existing!
                guard let latest = template.latestBuildID else {
                    throw SandboxLifecycleError.buildFailed("template \(name) is \(template.status) without a build to wait for")
                }
                log("template \(name) is \(template.status); following build \(latest)")
                (templateID, buildID) = (template.id, latest)
            case nil:
                let body = body(name: name, runnerDirectory: launcher.runnerDirectory, agentWorkdir: launcher.agentWorkdir,
                                anthropicRequirement: plan.anthropicRequirement, bundle: plan.bundle)
                do {
                    let created = try await retrying(plan, logger, "templates.create") { () async throws(SandboxLifecycleError) in
                        try await client.createTemplate(body: body)
                    }
                    log("template \(name) created; build \(created.buildID) started")
                    logger.info("template.runner_baked", metadata: ["runner.version": "\(plan.bundle?.version ?? "none")"])
                    (templateID, buildID) = (created.template.id, created.buildID)
                } catch SandboxLifecycleError.http(409, _, _, _) {
                    // Created meanwhile by someone else: look again and follow that one.
                    continue
                }
            }
            let template = try await follow(plan, client, logger, templateID: templateID, buildID: buildID, log: log)
            return (template.name, template.id, template.status)
        }
        throw SandboxLifecycleError.buildFailed("template \(name) kept changing under this command; run it again")
    }

    /// Polls the build every `buildPollInterval` until it is final, streaming its log.
    static func follow(_ plan: Plan, _ client: SuperserveClient, _ logger: Logging.Logger, templateID: String, buildID: String,
                       log: @escaping @Sendable (String) -> Void) async throws -> TemplateInfo {
        var logsURL = plan.superserve.controlPlaneURL.absoluteString
        while logsURL.hasSuffix("/") { logsURL.removeLast() }
        logsURL += "/templates/\(templateID)/builds/\(buildID)/logs"
        let stream = BuildLogStream(onLine: log)
        if let url = URL(string: logsURL) { stream.start(url: url, apiKey: plan.superserve.apiKey) }
        defer { stream.stop() }
        let clock = ContinuousClock()
        let deadline = clock.now + plan.superserve.buildTimeout
        while true {
            let build = try await retrying(plan, logger, "templates.builds.get") { () async throws(SandboxLifecycleError) in
                try await client.getBuild(templateID: templateID, buildID: buildID)
            }
            switch build.status {
            case "ready":
                return try await retrying(plan, logger, "templates.get") { () async throws(SandboxLifecycleError) in
                    try await client.getTemplate(id: templateID)
                }
            case "failed", "cancelled":
                throw SandboxLifecycleError.buildFailed("\(build.status): \(build.errorMessage ?? "no detail")")
            default:
                guard clock.now + plan.superserve.buildPollInterval < deadline else {
                    throw SandboxLifecycleError.buildFailed("build \(buildID) not ready after \(plan.superserve.buildTimeout)")
                }
                try await Task.sleep(for: plan.superserve.buildPollInterval)
            }
        }
    }

    /// One call, retried on rule 33's transient answers with backoff (and `Retry-After`).
    static func retrying<T>(_ plan: Plan, _ logger: Logging.Logger, _ call: String,
                            _ body: () async throws(SandboxLifecycleError) -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch {
                attempt += 1
                guard case .retry(let hint) = SuperserveErrorClassifier.disposition(of: error, for: .read),
                      attempt < plan.attempts else { throw error }
                let delay = plan.backoff.delay(attempt: attempt, hint: hint)
                logger.warning("setup.retry", metadata: [
                    "upstream.call": "\(call)", "error.message": "\(error)", "retry.attempt": "\(attempt)",
                    "retry.delay_ms": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                ])
                try await Task.sleep(for: delay)
            }
        }
    }
}
