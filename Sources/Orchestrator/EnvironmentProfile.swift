import Foundation

/// One environment of the configuration file (README "Configuration file"): its
/// credentials and the sandbox profile its sessions are launched with. Secrets are
/// already resolved from their references (`SecretReference`); nothing here is ever
/// logged or printed, and `description` leaves the secrets out.
///
/// A field left out of the file is nil and falls back to the environment variable
/// of the same setting, then to its default (the documented precedence).
public struct EnvironmentProfile: Sendable, Equatable, CustomStringConvertible {
    /// `env_…` of the self-hosted environment.
    public var id: String
    /// The environment key (from `key: {env|file}`). Never logged.
    public var key: String
    /// `webhook_signing_keys`: the keys that sign this environment's deliveries; empty
    /// means the file's top-level `anthropic.webhook_signing_keys`. With several
    /// environments, a delivery verified by key K drains every environment whose keys
    /// include K (rule 42: the delivery itself names no environment).
    public var webhookSigningKeys: [String] = []
    /// `template`: `from_template` of created sandboxes (rule 15, checked at start, rule 47).
    public var template: String?
    /// `egress`: rule 22's locked policy with extra hosts, or an explicit `open`.
    public var egress: Egress?
    /// `runner_env`: extra variables of the runner's exec env (rule 28), which the
    /// agent's tools inherit. Names are checked by `RunnerVariableCheck`.
    public var runnerVariables: [String: String] = [:]
    /// `workdir`: the SDK worker's `workdir` (rule 25).
    public var workdir: String?
    /// `idle_pause_seconds`: the janitor pauses an idle sandbox after this (rule 44).
    public var idlePauseSeconds: Double?
    /// `max_idle_seconds`: the runner's `max_idle` (rule 25).
    public var maxIdleSeconds: Int?
    /// `sandbox.timeout_seconds` / `sandbox.auto_delete_seconds` of created sandboxes.
    public var sandboxTimeoutSeconds: Int?
    public var autoDeleteSeconds: Int?
    /// `warm_pool`: the environment's warm pool (`CMA_WARM_POOL`, `CMA_WARM_POOL_MAX_AGE_SECONDS`).
    public var warmPool: WarmPool?
    /// Line of the entry in the file, for messages that concern the whole entry.
    public var line: Int?

    public init(id: String, key: String) {
        self.id = id
        self.key = key
    }

    public enum Egress: Sendable, Equatable {
        /// `allow_out` = [Anthropic host] + these, `deny_out` = ["0.0.0.0/0"] (rule 22).
        case allow([String])
        /// No rules at all: every public destination. Only when spelled `egress: open`.
        case open
    }

    /// `warm_pool: N` or `{size: N, max_age_seconds: S}`.
    public struct WarmPool: Sendable, Equatable {
        public var size: Int
        /// A pool sandbox older than this is recycled.
        public var maxAgeSeconds: Int
        public static let defaultMaxAgeSeconds = 3600
        public init(size: Int, maxAgeSeconds: Int = WarmPool.defaultMaxAgeSeconds) {
            self.size = size
            self.maxAgeSeconds = maxAgeSeconds
        }
    }

    /// Ids and settings only: no key, no runner variable value.
    public var description: String {
        "EnvironmentProfile(\(id), template: \(template ?? "default"), runner_env: \(runnerVariables.keys.sorted()))"
    }
}
