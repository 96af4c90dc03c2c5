import Foundation
import SandboxLifecycle

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
    /// `warm_pool`: parsed and validated; served by the warm pool (not yet running).
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

/// What an egress entry may be (superserve.md §5): a host name, a wildcard host
/// (`*.example.com`: any depth of subdomain, never a bare `*`), an IPv4 address or an
/// IPv4 CIDR. IPv6 is always blocked by Superserve, so an IPv6 entry is refused here
/// rather than at the first create.
public enum EgressEntryCheck {
    public static func problem(_ entry: String) -> String? {
        if entry.isEmpty { return "is empty" }
        if entry.contains(where: { $0.isWhitespace }) { return "must not contain spaces" }
        if entry.contains("://") || entry.contains("/") && !isCIDR(entry) {
            return "must be a host, a wildcard host (*.example.com) or an IPv4 CIDR, not a URL or path"
        }
        if entry.contains(":") { return "IPv6 and host:port are not supported (Superserve blocks IPv6; rules take no ports)" }
        if isIPv4(entry) || isCIDR(entry) { return nil }
        if entry == "*" { return "a bare * matches nothing at Superserve; name the domain (*.example.com)" }
        var host = Substring(entry)
        if host.hasPrefix("*.") { host = host.dropFirst(2) }
        guard isHostName(host) else {
            return "must be a host, a wildcard host (*.example.com) or an IPv4 CIDR"
        }
        return nil
    }

    static func isHostName(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 || host == "localhost" else { return false }
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
            else { return false }
        }
        // A last label of digits only would be a mistyped address.
        return !(labels.last!.allSatisfy(\.isNumber))
    }

    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && Int(part).map { (0...255).contains($0) } == true
        }
    }

    static func isIPv4(_ text: String) -> Bool { isIPv4(Substring(text)) }

    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isIPv4(parts[0]), let bits = Int(parts[1]), (0...32).contains(bits),
              parts[1].allSatisfy(\.isNumber) else { return false }
        return true
    }
}

/// Runner variable names a profile may not set: the runner's own `ANTHROPIC_*`
/// variables (rule 26) and the credentials rule 27 keeps out, the `CMA_*` variables
/// launch.sh and runner.py read, and names the shell treats specially.
public enum RunnerVariableCheck {
    public static func problem(_ name: String) -> String? {
        guard isName(name) else { return "is not a valid variable name (letters, digits, _)" }
        if RunnerEnvironment.forbidden.contains(name) {
            return "is a credential rule 27 keeps out of every sandbox"
        }
        if name.hasPrefix("ANTHROPIC_") {
            return "would shadow the runner's own ANTHROPIC_* variables (rules 26, 27)"
        }
        if name.hasPrefix("CMA_") { return "would shadow the runner's own CMA_* settings" }
        if ["PATH", "HOME", "PWD", "SHELL", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME"].contains(name) {
            return "would change how the runner itself starts"
        }
        return nil
    }
}
