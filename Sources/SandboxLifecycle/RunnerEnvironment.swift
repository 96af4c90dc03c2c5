import Foundation

/// The runner's per-command exec environment and the launch/probe commands
/// (rules 26–29). Pure, so the credential choice is tested as a table.
public enum RunnerEnvironment {
    /// Variables that must never reach the runner (rule 27).
    public static let forbidden: Set<String> = [
        "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CONFIG_DIR",
    ]

    /// Rule 26: the work secret when it carries a sessions token, else the
    /// environment key (unless the operator refuses secret-less items). Rule 27:
    /// `ANTHROPIC_BASE_URL` only when configured. Rule 28: this goes into the exec's
    /// `env`, never the sandbox's `env_vars`.
    public static func make(for request: LaunchRequest, configuration: LauncherConfiguration) -> Result<[String: String], LaunchFailure> {
        var env: [String: String] = [:]
        for (key, value) in configuration.runnerExtraEnvironment where !key.hasPrefix("ANTHROPIC_") {
            env[key] = value
        }
        env["ANTHROPIC_WORK_ID"] = request.workID
        env["ANTHROPIC_ENVIRONMENT_ID"] = request.environmentID
        env["ANTHROPIC_SESSION_ID"] = request.sessionID
        if request.sessionsTokenPresent, let secret = request.workSecret, !secret.isEmpty {
            env["ANTHROPIC_WORK_SECRET"] = secret
        } else if configuration.requireWorkSecret {
            return .failure(LaunchFailure(reason: "work item carries no sessions token; CMA_REQUIRE_WORK_SECRET=false would hand the runner the environment key"))
        } else if let key = configuration.environmentKey, !key.isEmpty {
            env["ANTHROPIC_ENVIRONMENT_KEY"] = key
        } else {
            return .failure(LaunchFailure(reason: "work item carries no sessions token and no environment key is configured"))
        }
        if let base = configuration.anthropicBaseURL {
            env["ANTHROPIC_BASE_URL"] = base.absoluteString
        }
        env["CMA_AGENT_WORKDIR"] = configuration.agentWorkdir
        env["CMA_MAX_IDLE"] = String(configuration.maxIdleSeconds)
        for key in forbidden { env[key] = nil }
        return .success(env)
    }

    /// The exec env names of the bundle's version and of the bundle itself (base64).
    public static let versionVariable = "CMA_RUNNER_VERSION"
    public static let bundleVariable = "CMA_RUNNER_BUNDLE"

    /// Where a bundle too large for the exec env is written (the file-write fallback),
    /// named by its version so that a stale upload is never taken for the current one.
    public static func bundlePath(runnerDirectory: String, version: String) -> String {
        runnerDirectory + "/.bundle-\(version).tar"
    }

    /// Rules 24 and 29, as amended: one exec. When the runner directory's
    /// `.bundle-version` is not `$CMA_RUNNER_VERSION`, it unpacks the bundle from
    /// `$CMA_RUNNER_BUNDLE` (or from the fallback file), records the version and
    /// tells launch.sh (`CMA_BUNDLE_UNPACKED=1`); with neither it exits 75 having
    /// changed nothing (`RunnerVersions.versionMismatchExitCode`). The bundle variable
    /// is dropped before launch.sh runs, so the runner never inherits it. Paths stay
    /// absolute and space-free (the emulator rewrites absolute paths in command strings).
    public static func launchCommand(runnerDirectory dir: String) -> String {
        let file = "\(dir)/.bundle-$\(versionVariable).tar"
        return "mkdir -p \(dir) && cd \(dir) && CMA_BUNDLE_UNPACKED=0 && "
            + "if [ \"$(cat \(dir)/.bundle-version 2>/dev/null)\" != \"$\(versionVariable)\" ]; then "
            + "if [ -n \"$\(bundleVariable)\" ]; then printf %s \"$\(bundleVariable)\" | base64 -d > \(file) || exit 3; fi; "
            + "[ -f \(file) ] || { echo '{\"error\":\"runner_version\"}'; exit \(RunnerVersions.versionMismatchExitCode); }; "
            + "tar -xf \(file) -C \(dir) && rm -f \(file) && printf '%s\\n' \"$\(versionVariable)\" > \(dir)/.bundle-version || exit 3; "
            + "CMA_BUNDLE_UNPACKED=1; fi; unset \(bundleVariable); export CMA_BUNDLE_UNPACKED; exec sh \(dir)/launch.sh"
    }

    /// Rule 30: the probe.
    public static func probeCommand(runnerDirectory dir: String) -> String {
        "sh \(dir)/probe.sh"
    }

    /// The last `bytes` of runner.log for failure reports (rules 30, 37).
    public static func logTailCommand(runnerDirectory dir: String, bytes: Int) -> String {
        "tail -c \(bytes) \(dir)/runner.log 2>/dev/null || true"
    }
}
