import APIClient
import Foundation
import Logging
import SandboxLifecycle

/// `prepare --environment E`: the upstream guide's "pre-prepared sandboxes" as one
/// command. Creates a sandbox from the environment's template with its egress policy
/// (rule 22), tags it `cma.prepared_for=<environment>` (the tag the launcher requires
/// before it adopts a prepared sandbox, rule 12), uploads files, runs commands, and
/// optionally pauses it. The session that should use it is created with the metadata
/// `{"superserve.sandbox_id": "<id>"}` (rule 11). A step that fails deletes the
/// sandbox, so that a half-prepared one is never adopted.
public enum PrepareSandbox {
    public struct Request: Sendable {
        public var environmentID: String
        /// `LOCAL:REMOTE` pairs; REMOTE is absolute.
        public var files: [(local: URL, remote: String)] = []
        public var commands: [String] = []
        public var pause = false
        /// exec `timeout_s` of each `--run` command.
        public var commandTimeoutSeconds = 600
        public init(environmentID: String) { self.environmentID = environmentID }
    }

    public struct Outcome: Sendable, Equatable {
        public let sandboxID: String
        public let paused: Bool
        /// `{"superserve.sandbox_id":"…"}`, exactly as the session's metadata.
        public var sessionMetadata: String {
            #"{"\#(LaunchPlanner.preparedKey)":"\#(sandboxID)"}"#
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// `--file LOCAL:REMOTE`: the last `:` splits, so a local path may contain one.
    public static func parseFile(_ argument: String, workingDirectory: URL) throws(Failure) -> (local: URL, remote: String) {
        guard let colon = argument.lastIndex(of: ":") else { throw Failure("--file needs LOCAL:REMOTE") }
        let local = String(argument[..<colon])
        let remote = String(argument[argument.index(after: colon)...])
        guard !local.isEmpty, remote.hasPrefix("/"), !remote.contains("..") else {
            throw Failure("--file needs LOCAL:REMOTE with an absolute REMOTE path")
        }
        let url = URL(fileURLWithPath: local, relativeTo: workingDirectory)
        guard FileManager.default.isReadableFile(atPath: url.path) else { throw Failure("--file: \(local) cannot be read") }
        return (url, remote)
    }

    public static func run(_ request: Request, settings: Settings,
                           transport: any HTTPTransport = URLSessionTransport(), logger: Logger,
                           log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Outcome {
        let superserve = settings.superserve, launcher = settings.launcher
        let client = SuperserveClient(configuration: superserve, transport: transport, logger: logger)
        let suffix = UUID().uuidString.lowercased().prefix(8)
        let create = CreateSandboxRequest(
            name: "cma-prepared-\(suffix)", fromTemplate: launcher.template,
            metadata: [LaunchPlanner.preparedForTag: request.environmentID],
            network: launcher.networkPolicy, timeoutSeconds: launcher.sandboxTimeoutSeconds,
            autoDeleteSeconds: launcher.autoDeleteSeconds)
        let sandbox = try await client.createSandbox(create)
        log("created sandbox \(sandbox.id) from template \(launcher.template)")
        do {
            let access = try SandboxAccess(sandbox)
            for file in request.files {
                let contents: Data
                do { contents = try Data(contentsOf: file.local) } catch { throw Failure("\(file.local.path) cannot be read") }
                try await client.writeFile(access, path: file.remote, contents: contents)
                log("uploaded \(file.local.lastPathComponent) → \(file.remote) (\(contents.count) bytes)")
            }
            for command in request.commands {
                let result = try await client.exec(access, command: command, workingDirectory: launcher.agentWorkdir,
                                                   timeoutSeconds: request.commandTimeoutSeconds)
                if !result.stdout.isEmpty { log(result.stdout.trimmingCharacters(in: .newlines)) }
                guard result.exitCode == 0 else {
                    let tail = String(result.stderr.suffix(2000)).trimmingCharacters(in: .newlines)
                    throw Failure("--run command \(request.commands.firstIndex(of: command)! + 1) exited \(result.exitCode): \(tail)")
                }
                log("ran command \(request.commands.firstIndex(of: command)! + 1) (exit 0)")
            }
            if request.pause {
                _ = try await client.pause(id: sandbox.id)
                log("paused sandbox \(sandbox.id)")
            }
            return Outcome(sandboxID: sandbox.id, paused: request.pause)
        } catch {
            _ = try? await client.deleteSandbox(id: sandbox.id)
            log("deleted sandbox \(sandbox.id) after the failure")
            throw error
        }
    }
}

extension PrepareSandbox {
    /// The Superserve team and the environment's sandbox profile, as `serve` would use
    /// them: with a configuration file, its entry for `environmentID`; without one,
    /// `SUPERSERVE_*`, `CMA_TEMPLATE`, `CMA_EXTRA_ALLOW_OUT`, `CMA_AGENT_WORKDIR`,
    /// `CMA_SANDBOX_TIMEOUT_SECONDS`, `CMA_AUTO_DELETE_SECONDS` and `ANTHROPIC_BASE_URL`.
    /// The Superserve team and the sandbox profile a prepared sandbox is made with.
    public struct Settings: Sendable {
        public let superserve: SuperserveConfiguration
        public let launcher: LauncherConfiguration
    }

    public static func settings(environment: [String: String], file: ConfigFile?, environmentID: String)
        throws(ConfigurationLoadError) -> Settings {
        guard environmentID.hasPrefix("env_"), environmentID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw .variables(Configuration.Error("--environment", "must look like env_…"))
        }
        let plan = try TemplateSetup.plan(environment: environment, file: file, environmentID: file == nil ? nil : environmentID)
        var variables = environment
        var launcher = plan.launcher
        if let file {
            let profile: EnvironmentProfile
            do { profile = try file.select(environmentID) } catch { throw .file(error) }
            variables.merge(file.variables(for: profile)) { _, fromFile in fromFile }
            var scratch = Configuration()
            file.applyProfileExtras(profile, to: &scratch)
            launcher.egressOpen = scratch.launcher.egressOpen
        }
        let reader = EnvironmentReader(variables)
        do {
            launcher.anthropicBaseURL = try reader.url("ANTHROPIC_BASE_URL")
            if !launcher.egressOpen { launcher.extraAllowOut = reader.list("CMA_EXTRA_ALLOW_OUT") }
            launcher.sandboxTimeoutSeconds = try reader.int("CMA_SANDBOX_TIMEOUT_SECONDS", in: 60...604_800)
            launcher.autoDeleteSeconds = try reader.int("CMA_AUTO_DELETE_SECONDS", in: 60...2_592_000)
        } catch {
            throw .variables(error)
        }
        for entry in launcher.extraAllowOut {
            if let problem = EgressEntryCheck.problem(entry) {
                throw .variables(Configuration.Error("CMA_EXTRA_ALLOW_OUT", "an entry \(problem)"))
            }
        }
        return Settings(superserve: plan.superserve, launcher: launcher)
    }
}
