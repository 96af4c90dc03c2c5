import Foundation
import SandboxLifecycle

/// How one environment of the file becomes the per-process `Configuration` the app
/// already runs on: the file's values are laid over the environment variables of the
/// same settings (file wins), the whole goes through `Configuration.load` (the same
/// checks as without a file), and the settings that have no variable (runner
/// variables, open egress) are set afterwards. With several environments each gets
/// its `Configuration` the same way (`loadEnvironments`), so process settings read
/// from variables are the same in all of them.
extension ConfigFile {
    /// The variables `profile` and the shared sections stand for. Secrets end up in this
    /// dictionary only in memory, exactly as if they had been exported.
    public func variables(for profile: EnvironmentProfile) -> [String: String] {
        var v: [String: String] = [:]
        v["ANTHROPIC_ENVIRONMENT_ID"] = profile.id
        v["ANTHROPIC_ENVIRONMENT_KEY"] = profile.key
        if let url = anthropicBaseURL { v["ANTHROPIC_BASE_URL"] = url.absoluteString }
        let signing = profile.webhookSigningKeys.isEmpty ? webhookSigningKeys : profile.webhookSigningKeys
        if !signing.isEmpty { v["ANTHROPIC_WEBHOOK_SIGNING_KEY"] = signing.joined(separator: " ") }
        if let key = superserveAPIKey { v["SUPERSERVE_API_KEY"] = key }
        if let url = superserveBaseURL { v["SUPERSERVE_BASE_URL"] = url.absoluteString }
        if let url = superserveSandboxURL { v["SUPERSERVE_SANDBOX_URL"] = url.absoluteString }
        if let template = profile.template { v["CMA_TEMPLATE"] = template }
        if case .allow(let hosts) = profile.egress { v["CMA_EXTRA_ALLOW_OUT"] = hosts.joined(separator: ",") }
        if let workdir = profile.workdir { v["CMA_AGENT_WORKDIR"] = workdir }
        if let seconds = profile.idlePauseSeconds { v["CMA_IDLE_PAUSE_SECONDS"] = String(seconds) }
        if let seconds = profile.maxIdleSeconds { v["CMA_RUNNER_MAX_IDLE_SECONDS"] = String(seconds) }
        if let seconds = profile.sandboxTimeoutSeconds { v["CMA_SANDBOX_TIMEOUT_SECONDS"] = String(seconds) }
        if let seconds = profile.autoDeleteSeconds { v["CMA_AUTO_DELETE_SECONDS"] = String(seconds) }
        if let pool = profile.warmPool {
            v["CMA_WARM_POOL"] = String(pool.size)
            v["CMA_WARM_POOL_MAX_AGE_SECONDS"] = String(pool.maxAgeSeconds)
        }
        return v
    }

    /// Sets what has no variable: the profile's runner variables and `egress: open`.
    public func applyProfileExtras(_ profile: EnvironmentProfile, to configuration: inout Configuration) {
        for (name, value) in profile.runnerVariables { configuration.launcher.runnerExtraEnvironment[name] = value }
        if profile.egress == .open {
            configuration.launcher.egressOpen = true
            configuration.launcher.extraAllowOut = []
        }
    }
}

extension Configuration {
    /// `serve`/`poll` with a configuration file: the environment `environmentID` names
    /// (or the file's only one) over the process environment, then the flags.
    public static func load(mode: Mode, file: ConfigFile, environmentID: String?, environment: [String: String],
                            overrides: CommandLineOverrides,
                            workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(ConfigurationLoadError) -> (Configuration, EnvironmentProfile) {
        let profile: EnvironmentProfile
        do { profile = try file.select(environmentID) } catch { throw .file(error) }
        return (try load(mode: mode, file: file, profile: profile, environment: environment, overrides: overrides,
                         workingDirectory: workingDirectory), profile)
    }

    /// `serve`/`poll` with a configuration file: every environment of the file (or the
    /// one `environmentID` names), each over the process environment, then the flags.
    /// One process serves them all (README "Configuration file").
    public static func loadEnvironments(mode: Mode, file: ConfigFile, environmentID: String?, environment: [String: String],
                                        overrides: CommandLineOverrides,
                                        workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(ConfigurationLoadError) -> [(Configuration, EnvironmentProfile)] {
        var profiles = file.environments
        if let environmentID {
            do { profiles = [try file.select(environmentID)] } catch { throw .file(error) }
        }
        if overrides.emulated, profiles.count > 1 {
            throw .file(ConfigFile.Error(file: file.path, line: profiles[1].line, field: "environments",
                                         problem: "lists \(profiles.count) environments; --emulated serves one: choose it with --environment ID"))
        }
        if profiles.count > WebhookRouting.maximumEnvironments {
            throw .file(ConfigFile.Error(file: file.path, line: profiles[WebhookRouting.maximumEnvironments].line, field: "environments",
                                         problem: "one process serves at most \(WebhookRouting.maximumEnvironments) environments"))
        }
        var loaded: [(Configuration, EnvironmentProfile)] = []
        for profile in profiles {
            loaded.append((try load(mode: mode, file: file, profile: profile, environment: environment, overrides: overrides,
                                    workingDirectory: workingDirectory), profile))
        }
        return loaded
    }

    /// One environment of the file over the process environment, then the flags.
    static func load(mode: Mode, file: ConfigFile, profile: EnvironmentProfile, environment: [String: String],
                     overrides: CommandLineOverrides, workingDirectory: URL) throws(ConfigurationLoadError) -> Configuration {
        var merged = environment
        // The file's environment replaces both names of the signing key (rule 38's fallback).
        if profile.webhookSigningKeys.isEmpty == false || file.webhookSigningKeys.isEmpty == false {
            merged["ANTHROPIC_WEBHOOK_SECRET"] = nil
        }
        merged.merge(file.variables(for: profile)) { _, fromFile in fromFile }
        var configuration: Configuration
        do {
            configuration = try load(mode: mode, environment: merged, overrides: overrides, workingDirectory: workingDirectory)
        } catch {
            throw .variables(error)
        }
        file.applyProfileExtras(profile, to: &configuration)
        do { try configuration.launcher.validate() } catch {
            throw .file(ConfigFile.Error(file: file.path, line: profile.line, field: "environments", problem: "\(error)"))
        }
        return configuration
    }
}
