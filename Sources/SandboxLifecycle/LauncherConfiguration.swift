import Foundation

/// Settings of `SandboxLauncher`, read once at start-up by the app (style habit 13).
/// Suggested environment variables are named per field.
public struct LauncherConfiguration: Sendable {
    /// `ANTHROPIC_ENVIRONMENT_KEY`: handed to the runner only for items whose secret
    /// carries no sessions token (rule 26). Never logged.
    public var environmentKey: String?
    /// `ANTHROPIC_BASE_URL`: passed to the runner only when set (rule 27); its host is
    /// the Anthropic entry of `allow_out` (rule 22, default `api.anthropic.com`).
    public var anthropicBaseURL: URL?
    /// `CMA_TEMPLATE`: `from_template` on create (rule 15).
    public var template = "cma-runner"
    /// `CMA_RUNNER_DIR`: where the bundle is unpacked; absolute, no spaces.
    public var runnerDirectory = "/srv/cma"
    /// `CMA_AGENT_WORKDIR`: the SDK worker's `workdir` (rule 25).
    public var agentWorkdir = "/workspace"
    /// `CMA_MAX_IDLE`: the SDK worker's `max_idle` in seconds (rule 25).
    public var maxIdleSeconds = 60
    /// `CMA_ALLOW_OUT` (comma-separated): operator extras for `allow_out` (rule 22).
    public var extraAllowOut: [String] = []
    /// A profile's `egress: open` (configuration file): create and patch with empty
    /// rule lists, i.e. every public destination. Never the default (rule 22).
    public var egressOpen = false
    /// `CMA_SANDBOX_TIMEOUT_SECONDS`: `timeout_seconds` on create (omitted when nil).
    public var sandboxTimeoutSeconds: Int?
    /// `CMA_SANDBOX_AUTO_DELETE_SECONDS`: `auto_delete_seconds` on create (omitted when nil, rule 45).
    public var autoDeleteSeconds: Int?
    /// `CMA_LAUNCH_BUDGET_SECONDS`: total budget of one launch (rule 37).
    public var launchBudget: Duration = .seconds(150)
    /// `CMA_LAUNCH_EXEC_TIMEOUT_SECONDS`: exec `timeout_s`, above stop.sh's 30 s grace (rule 31).
    public var execTimeoutSeconds = 45
    /// Rule 20: activate conflicts are retried every second for up to 30 s.
    public var activateConflictWindow: Duration = .seconds(30)
    public var activateConflictInterval: Duration = .seconds(1)
    /// `CMA_PROBE_DELAY_SECONDS`: how long after the hand-off the probe runs (rule 30).
    public var probeDelay: Duration = .seconds(2)
    /// Timeout of the probe and log-tail execs (exec `timeout_s`; HTTP deadline is +5 s).
    public var probeExecTimeoutSeconds = 15
    /// `CMA_REQUIRE_WORK_SECRET`: refuse items whose secret has no sessions token
    /// instead of handing the runner the environment key. On by default (rule 26 as
    /// amended): the environment key can claim any session's work, so handing it to a
    /// sandbox is the operator's explicit opt-in.
    public var requireWorkSecret = true
    /// `CMA_QUOTA_MAX_WAIT_SECONDS`: how long a launch may wait in line for room under
    /// the active-sandbox quota (superserve.md §7) without it counting against
    /// `launchBudget`; past it the item is force-stopped with the quota as reason.
    public var maxQuotaWait: Duration = .seconds(600)
    /// How often the earliest launch waiting for room tries again when none could be made.
    public var quotaRetryInterval: Duration = .seconds(2)
    /// Rule 34: cap of the per-item backoff.
    public var retryCap: Duration = .seconds(30)
    /// Bytes of runner.log kept for failure reports (rules 30, 37).
    public var logTailBytes = 4000
    /// Extra variables for the runner's exec env (rule 28): a profile's `runner_env`
    /// (configuration file), and the test hooks `CMA_RUNNER_ENTRY`, `CMA_PYTHON`;
    /// `ANTHROPIC_*` names are refused (rule 27). Values are never logged.
    public var runnerExtraEnvironment: [String: String] = [:]

    public init() {}

    /// The host of the Anthropic base URL, `api.anthropic.com` by default (rule 22).
    public var anthropicHost: String {
        anthropicBaseURL?.host ?? "api.anthropic.com"
    }

    /// Rule 22: `allow_out` = [Anthropic host] + extras, `deny_out` = ["0.0.0.0/0"];
    /// with `egressOpen`, both lists empty (superserve.md §5: no rules, no restriction).
    public var networkPolicy: NetworkPolicy {
        if egressOpen { return NetworkPolicy(allowOut: [], denyOut: []) }
        var allow = [anthropicHost]
        for extra in extraAllowOut where !extra.isEmpty && !allow.contains(extra) { allow.append(extra) }
        return NetworkPolicy(allowOut: allow, denyOut: ["0.0.0.0/0"])
    }

    /// Start-up validation with messages naming the variable (style habit 13).
    public func validate() throws(SandboxLifecycleError) {
        guard runnerDirectory.hasPrefix("/"), !runnerDirectory.contains(" "), !runnerDirectory.contains("..") else {
            throw .invalidConfiguration("CMA_RUNNER_DIR must be an absolute path without spaces")
        }
        guard agentWorkdir.hasPrefix("/"), !agentWorkdir.contains(" ") else {
            throw .invalidConfiguration("CMA_AGENT_WORKDIR must be an absolute path without spaces")
        }
        guard maxIdleSeconds > 0 else { throw .invalidConfiguration("CMA_MAX_IDLE must be positive") }
        guard execTimeoutSeconds > 30 else {
            throw .invalidConfiguration("CMA_LAUNCH_EXEC_TIMEOUT_SECONDS must exceed stop.sh's 30 s grace")
        }
        guard launchBudget > .zero else { throw .invalidConfiguration("CMA_LAUNCH_BUDGET_SECONDS must be positive") }
        if let bad = runnerExtraEnvironment.keys.first(where: { $0.hasPrefix("ANTHROPIC_") }) {
            throw .invalidConfiguration("runner extra environment must not set \(bad)")
        }
    }
}
