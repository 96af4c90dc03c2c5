import Foundation
import HTTPServer
import Logging
import SandboxLifecycle
import Webhooks

/// Everything `serve` and `poll` need, read once from flags and the environment and
/// validated before anything starts (style habit 13). Every variable has a line in the
/// README's configuration table.
public struct Configuration: Sendable {
    public enum Mode: String, Sendable {
        /// Webhook-triggered drains plus a timer drain (rules 39–42).
        case webhook
        /// The always-on long-poll loop (rule 2).
        case poll
    }

    public var mode: Mode = .webhook
    /// Both emulators embedded on the server's own port, local sandboxes (rule 46).
    public var emulated = false

    // HTTP
    public var server = HTTPServerConfiguration()
    public var publicDirectory: URL?
    public var webhookPath = "/webhooks"
    public var webhookMaxBodyBytes = 1024 * 1024
    /// Rule 41: repeated `webhook-id`s within this window answer `duplicate`; 0 turns it off.
    public var webhookDedupeSeconds = 600
    /// Rows of the status page's session board (`CMA_STATUS_SESSIONS`).
    public var statusSessions = SessionBoard.defaultCapacity

    // Anthropic
    public var anthropicBaseURL = URL(string: "https://api.anthropic.com")!
    public var environmentID = ""
    public var environmentKey = ""
    /// Several during rotation (rule 38).
    public var webhookSigningKeys: [String] = []

    // Superserve
    public var superserveAPIKey = ""
    public var superserveControlURL = SuperserveConfiguration.defaultControlPlaneURL
    public var superserveDataURL = SuperserveConfiguration.defaultDataPlaneURL
    /// Rule 35: one shared token bucket towards Superserve, and a cap on calls in flight.
    public var superserveRatePerSecond = 15.0
    public var superserveBurst = 20
    /// `CMA_SUPERSERVE_RATE_SHARE`: part of the team limit Superserve reports that this process uses.
    public var superserveRateShare = 0.9
    public var superserveMaxInFlight = 8

    // Work
    /// Rule 42.
    public var drainInterval: Duration = .seconds(30)
    /// Least time between two drain starts (bounds polls under a webhook burst).
    public var drainMinimumGap: Duration = .milliseconds(100)
    /// Rule 6.
    public var launchSlots = 16
    public var launcher = LauncherConfiguration()
    /// Folder holding runner.py and its scripts, uploaded as one bundle (rule 24).
    public var runnerSourceDirectory: URL?
    /// Rule 44.
    public var idlePause: Duration = .seconds(300)
    public var janitorInterval: Duration = .seconds(60)
    /// Rule 43: pause after `session.status_idled` / `terminated` / `deleted`.
    public var pauseOnIdleWebhook = false
    /// Warm pool (README "Warm pool"): sandboxes kept ready per environment, 0 = off;
    /// recycled past `warmPoolMaxAge`; maintained every `warmPoolInterval`.
    public var warmPoolSize = 0
    public var warmPoolMaxAge: Duration = .seconds(3600)
    public var warmPoolInterval: Duration = .seconds(10)

    // A pod's life
    /// `CMA_SHUTDOWN_GRACE_SECONDS`: bounds the whole stop after SIGTERM (`ShutdownPlan`);
    /// set the pod's grace period above it.
    public var shutdownGrace: Duration = .seconds(20)
    /// `CMA_RECONCILE_INTERVAL_SECONDS`: time between reconciler passes (`Reconciler`).
    public var reconcileInterval: Duration = .seconds(120)
    /// `CMA_RECONCILE_MIN_AGE_SECONDS`; nil = the launch budget plus 60 s (`reconcileAge`).
    public var reconcileMinimumAge: Duration?
    /// `CMA_FORCE_STOP_RETRY_SECONDS`: how long a failed force-stop is retried (rule 37).
    public var forceStopRetryWindow: Duration = .seconds(600)
    /// `CMA_POLL_FATAL_RETRY_SECONDS`: poll mode's wait after a 401/403/404 poll answer.
    public var pollFatalRetry: Duration = .seconds(60)
    /// `CMA_HTTP_CONNECTIONS_PER_HOST`; nil = the Superserve in-flight cap plus Anthropic's 4.
    public var httpConnectionsPerHost: Int?

    /// Acked items younger than this are never taken for orphans: above the launch budget.
    public var reconcileAge: Duration { reconcileMinimumAge ?? launcher.launchBudget + .seconds(60) }
    /// Outbound connections per host: at least the Superserve in-flight cap (rule 35)
    /// plus Anthropic's four (rule 36), which share one host in emulated mode.
    public var outboundConnectionsPerHost: Int { httpConnectionsPerHost ?? superserveMaxInFlight + 4 }

    // Emulated mode
    public var emulatorSandboxesDirectory: URL?
    public var emulatorVenvDirectory: URL?
    /// A ready interpreter's bin folder (with anthropic 2.10.0); skips the venv.
    public var emulatorPythonBinDirectory: URL?
    /// `CMA_EMULATOR_RATE`, `_BURST`, `_MAX_ACTIVE`, `_UNLIMITED` as given: the
    /// embedded Superserve emulator's team limits (superserve.md §7), read by it.
    public var emulatorLimitVariables: [String: String] = [:]

    // Logging
    public var logFormat: LogFormat = .automatic
    public var logLevel: Logger.Level = .info
    /// Access lines for the probes (`/healthz`, `/readyz`, `/metrics`) too.
    public var accessLogProbes = false

    public init() {}

    /// The first variable name, flag or setting that is wrong, with what is wrong;
    /// never the value, which may be a secret.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let variable: String
        public let problem: String
        public init(_ variable: String, _ problem: String) {
            self.variable = variable
            self.problem = problem
        }
        public var description: String { "\(variable): \(problem)" }
    }
}

public enum LogFormat: String, Sendable {
    case automatic = "auto", json, text
}

/// Command-line values that override the environment.
public struct CommandLineOverrides: Sendable {
    public var host: String?
    public var port: Int?
    public var emulated = false
    /// `--emulated-allow-remote`: emulated mode on a non-loopback address, deliberately.
    public var emulatedAllowRemote = false
    public init(host: String? = nil, port: Int? = nil, emulated: Bool = false, emulatedAllowRemote: Bool = false) {
        self.host = host
        self.port = port
        self.emulated = emulated
        self.emulatedAllowRemote = emulatedAllowRemote
    }
}

extension Configuration {
    /// Reads `environment` (normally the process environment) and the flags.
    public static func load(mode: Mode, environment: [String: String], overrides: CommandLineOverrides,
                            workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(Error) -> Configuration {
        let reader = EnvironmentReader(environment)
        var c = Configuration()
        c.mode = mode
        c.emulated = overrides.emulated

        c.server.host = overrides.host ?? reader.string("CMA_HOST") ?? "127.0.0.1"
        let envPort = try reader.int("CMA_PORT", in: 0...65535)
        c.server.port = overrides.port ?? envPort ?? 8080
        guard (0...65535).contains(c.server.port) else { throw Error("--port", "must be between 0 and 65535") }
        c.server.maxConnections = try reader.int("CMA_MAX_CONNECTIONS", in: 1...1_000_000) ?? c.server.maxConnections
        c.server.bufferBudgetBytes = try reader.int("CMA_HTTP_BUFFER_BUDGET_BYTES", in: 65_536...(1 << 30)) ?? c.server.bufferBudgetBytes
        c.server.headerReadTimeout = try reader.seconds("CMA_HEADER_TIMEOUT_SECONDS") ?? c.server.headerReadTimeout
        c.server.bodyReadTimeout = try reader.seconds("CMA_BODY_TIMEOUT_SECONDS") ?? c.server.bodyReadTimeout
        c.server.idleTimeout = try reader.seconds("CMA_IDLE_TIMEOUT_SECONDS") ?? c.server.idleTimeout
        c.server.writeTimeout = try reader.seconds("CMA_WRITE_TIMEOUT_SECONDS") ?? c.server.writeTimeout
        c.shutdownGrace = try reader.seconds("CMA_SHUTDOWN_GRACE_SECONDS", allowZero: true) ?? c.shutdownGrace
        c.server.shutdownGracePeriod = ShutdownPlan(grace: c.shutdownGrace).httpGrace
        c.server.trustedProxies = reader.list("CMA_TRUSTED_PROXIES")
        c.webhookPath = reader.string("CMA_WEBHOOK_PATH") ?? c.webhookPath
        guard c.webhookPath.hasPrefix("/"), !c.webhookPath.contains(" ") else {
            throw Error("CMA_WEBHOOK_PATH", "must be an absolute path starting with a slash")
        }
        c.webhookMaxBodyBytes = try reader.int("CMA_WEBHOOK_MAX_BODY_BYTES", in: 1024...(16 << 20)) ?? c.webhookMaxBodyBytes
        c.server.limits.maxBodyBytes = max(c.server.limits.maxBodyBytes, c.webhookMaxBodyBytes)
        c.webhookDedupeSeconds = try reader.int("CMA_WEBHOOK_DEDUPE_SECONDS", in: 0...86_400) ?? c.webhookDedupeSeconds
        c.statusSessions = try reader.int("CMA_STATUS_SESSIONS", in: 1...100_000) ?? c.statusSessions

        c.logFormat = try reader.choice("CMA_LOG_FORMAT", LogFormat.init(rawValue:), "auto, json or text") ?? .automatic
        c.logLevel = try reader.choice("CMA_LOG_LEVEL", Logger.Level.init(rawValue:),
                                       "trace, debug, info, notice, warning, error or critical") ?? .info
        c.accessLogProbes = try reader.bool("CMA_ACCESS_LOG_PROBES") ?? false
        c.server.accessLogExcludedRoutes = c.accessLogProbes ? [] : Probes.routePatterns

        c.publicDirectory = reader.string("CMA_PUBLIC_DIR").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
            ?? Self.locate("Public", from: workingDirectory)
        c.runnerSourceDirectory = reader.string("CMA_RUNNER_DIR").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
            ?? Self.locate("runner", from: workingDirectory)
        guard let runner = c.runnerSourceDirectory,
              FileManager.default.fileExists(atPath: runner.appendingPathComponent("runner.py").path) else {
            throw Error("CMA_RUNNER_DIR", "must name the folder holding runner.py (the repository's runner/)")
        }

        // Work and lifecycle.
        c.drainInterval = try reader.seconds("CMA_DRAIN_INTERVAL_SECONDS") ?? c.drainInterval
        if let gap = try reader.int("CMA_DRAIN_MIN_GAP_MS", in: 0...60_000) { c.drainMinimumGap = .milliseconds(gap) }
        c.launchSlots = try reader.int("CMA_LAUNCH_SLOTS", in: 1...1024) ?? c.launchSlots
        if let rate = try reader.int("CMA_SUPERSERVE_RATE", in: 1...100_000) { c.superserveRatePerSecond = Double(rate) }
        c.superserveBurst = try reader.int("CMA_SUPERSERVE_BURST", in: 1...100_000) ?? c.superserveBurst
        if let raw = reader.string("CMA_SUPERSERVE_RATE_SHARE") {
            guard let share = Double(raw), share >= 0.05, share <= 1 else {
                throw Error("CMA_SUPERSERVE_RATE_SHARE", "must be a number from 0.05 to 1")
            }
            c.superserveRateShare = share
        }
        c.superserveMaxInFlight = try reader.int("CMA_SUPERSERVE_MAX_IN_FLIGHT", in: 1...1024) ?? c.superserveMaxInFlight
        c.launcher.template = reader.string("CMA_TEMPLATE") ?? c.launcher.template
        c.launcher.runnerDirectory = reader.string("CMA_RUNNER_REMOTE_DIR") ?? c.launcher.runnerDirectory
        c.launcher.agentWorkdir = reader.string("CMA_AGENT_WORKDIR") ?? c.launcher.agentWorkdir
        c.launcher.maxIdleSeconds = try reader.int("CMA_RUNNER_MAX_IDLE_SECONDS", in: 1...86_400) ?? c.launcher.maxIdleSeconds
        c.launcher.extraAllowOut = reader.list("CMA_EXTRA_ALLOW_OUT")
        c.launcher.sandboxTimeoutSeconds = try reader.int("CMA_SANDBOX_TIMEOUT_SECONDS", in: 60...604_800)
        c.launcher.autoDeleteSeconds = try reader.int("CMA_AUTO_DELETE_SECONDS", in: 60...2_592_000)
        c.launcher.launchBudget = try reader.seconds("CMA_LAUNCH_BUDGET_SECONDS") ?? c.launcher.launchBudget
        c.launcher.requireWorkSecret = try reader.bool("CMA_REQUIRE_WORK_SECRET") ?? true
        if let wait = try reader.seconds("CMA_QUOTA_MAX_WAIT_SECONDS") { c.launcher.maxQuotaWait = wait }
        if let retry = try reader.seconds("CMA_QUOTA_RETRY_SECONDS") { c.launcher.quotaRetryInterval = retry }
        c.idlePause = try reader.seconds("CMA_IDLE_PAUSE_SECONDS") ?? c.idlePause
        c.janitorInterval = try reader.seconds("CMA_JANITOR_INTERVAL_SECONDS") ?? c.janitorInterval
        c.pauseOnIdleWebhook = try reader.bool("CMA_PAUSE_ON_IDLE") ?? false
        c.reconcileInterval = try reader.seconds("CMA_RECONCILE_INTERVAL_SECONDS") ?? c.reconcileInterval
        c.reconcileMinimumAge = try reader.seconds("CMA_RECONCILE_MIN_AGE_SECONDS")
        guard c.reconcileAge > c.launcher.launchBudget else {
            throw Error("CMA_RECONCILE_MIN_AGE_SECONDS", "must be above the launch budget (CMA_LAUNCH_BUDGET_SECONDS)")
        }
        c.forceStopRetryWindow = try reader.seconds("CMA_FORCE_STOP_RETRY_SECONDS") ?? c.forceStopRetryWindow
        c.pollFatalRetry = try reader.seconds("CMA_POLL_FATAL_RETRY_SECONDS") ?? c.pollFatalRetry
        c.httpConnectionsPerHost = try reader.int("CMA_HTTP_CONNECTIONS_PER_HOST", in: 1...1024)
        guard c.outboundConnectionsPerHost >= c.superserveMaxInFlight else {
            throw Error("CMA_HTTP_CONNECTIONS_PER_HOST", "must be at least CMA_SUPERSERVE_MAX_IN_FLIGHT")
        }
        c.warmPoolSize = try reader.int("CMA_WARM_POOL", in: 0...100) ?? c.warmPoolSize
        if let age = try reader.int("CMA_WARM_POOL_MAX_AGE_SECONDS", in: 60...604_800) { c.warmPoolMaxAge = .seconds(age) }
        c.warmPoolInterval = try reader.seconds("CMA_WARM_POOL_INTERVAL_SECONDS") ?? c.warmPoolInterval
        // Test and benchmark hooks of launch.sh: another entry script and interpreter.
        if let entry = reader.string("CMA_RUNNER_ENTRY") { c.launcher.runnerExtraEnvironment["CMA_RUNNER_ENTRY"] = entry }
        if let python = reader.string("CMA_RUNNER_PYTHON") { c.launcher.runnerExtraEnvironment["CMA_PYTHON"] = python }

        if c.emulated {
            // The emulators' control routes (`/_emulator/…`) and their fixed credentials
            // have no authentication: loopback only unless the operator says otherwise.
            guard overrides.emulatedAllowRemote || Self.isLoopback(c.server.host) else {
                throw Error("--host", "--emulated serves unauthenticated emulators; bind a loopback address (127.0.0.1, ::1) or add --emulated-allow-remote")
            }
            let build = workingDirectory.appendingPathComponent(".build")
            c.emulatorSandboxesDirectory = reader.string("CMA_EMULATOR_SANDBOXES").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
                ?? build.appendingPathComponent("emulated-sandboxes")
            c.emulatorVenvDirectory = reader.string("CMA_EMULATOR_VENV").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
                ?? build.appendingPathComponent("runner-venv")
            c.emulatorPythonBinDirectory = reader.string("CMA_EMULATOR_PYTHON_BIN").map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
            for name in ["CMA_EMULATOR_RATE", "CMA_EMULATOR_BURST", "CMA_EMULATOR_MAX_ACTIVE", "CMA_EMULATOR_UNLIMITED"] {
                c.emulatorLimitVariables[name] = reader.string(name)
            }
            // The embedded emulators' own credentials; URLs are set once the port is bound.
            c.environmentID = "env_emulated"
            return c
        }

        // Anthropic (rule 46: every endpoint configurable).
        if let configured = try reader.url("ANTHROPIC_BASE_URL") {
            c.anthropicBaseURL = configured
            // Rule 27: the runner hears of a base URL only when one is configured.
            c.launcher.anthropicBaseURL = configured
        }
        c.environmentID = try reader.required("ANTHROPIC_ENVIRONMENT_ID")
        guard c.environmentID.hasPrefix("env_"), c.environmentID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw Error("ANTHROPIC_ENVIRONMENT_ID", "must look like env_…")
        }
        c.environmentKey = try reader.required("ANTHROPIC_ENVIRONMENT_KEY")
        guard c.environmentKey.hasPrefix("sk-ant-"), !c.environmentKey.contains(where: \.isWhitespace) else {
            throw Error("ANTHROPIC_ENVIRONMENT_KEY", "must be an environment key (sk-ant-…)")
        }
        if mode == .webhook {
            // Rule 38: the SDK's name first, the upstream guide's as a fallback.
            let name = reader.string("ANTHROPIC_WEBHOOK_SIGNING_KEY") != nil ? "ANTHROPIC_WEBHOOK_SIGNING_KEY" : "ANTHROPIC_WEBHOOK_SECRET"
            let keys = reader.list(name, separators: " ,")
            guard !keys.isEmpty else { throw Error("ANTHROPIC_WEBHOOK_SIGNING_KEY", "is required for serve (whsec_…)") }
            for key in keys where WebhookKeyCheck.isValid(key) == false {
                throw Error(name, "each key must be base64, optionally prefixed with whsec_")
            }
            c.webhookSigningKeys = keys
        }

        // Superserve.
        c.superserveAPIKey = try reader.required("SUPERSERVE_API_KEY")
        guard !c.superserveAPIKey.contains(where: \.isWhitespace) else {
            throw Error("SUPERSERVE_API_KEY", "must not contain whitespace")
        }
        (c.superserveControlURL, c.superserveDataURL) = try Self.superserveURLs(reader, apiKey: c.superserveAPIKey)
        c.launcher.environmentKey = c.environmentKey
        do { try c.launcher.validate() } catch { throw Error("CMA_*", "\(error)") }
        return c
    }

    /// The launcher's settings as the pipeline builds the launcher from them: the
    /// environment key for rule 26's fallback, and `ANTHROPIC_BASE_URL` only when it
    /// was configured (rule 27), never the default.
    public var launcherSettings: LauncherConfiguration {
        var settings = launcher
        settings.environmentKey = environmentKey
        return settings
    }

    /// `localhost`, `::1` or an address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1 && UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    /// superserve.md §1: `SUPERSERVE_BASE_URL`, then the key's region, then the default;
    /// the data plane `SUPERSERVE_SANDBOX_URL`, else following the control plane as the
    /// SDK derives it (not the key's region on its own).
    static func superserveURLs(_ reader: EnvironmentReader, apiKey: String) throws(Error) -> (control: URL, data: URL) {
        let control = try reader.url("SUPERSERVE_BASE_URL") ?? superserveControlURL(apiKey: apiKey)
        let data = try reader.url("SUPERSERVE_SANDBOX_URL") ?? SuperserveConfiguration.derivedDataPlaneURL(controlPlane: control)
        return (control, data)
    }

    /// superserve.md §1: the region inside `ss_live_<region>_<32 chars>` picks the
    /// control plane's cell; an unknown region or a legacy key gets the default.
    static func superserveControlURL(apiKey: String) -> URL {
        let parts = apiKey.split(separator: "_", omittingEmptySubsequences: false)
        if parts.count >= 4, parts[0] == "ss", parts[1] == "live", parts[2] == "usw" {
            return URL(string: "https://api-usw.superserve.ai")!
        }
        return SuperserveConfiguration.defaultControlPlaneURL
    }

    /// `name` in the working directory, else next to the executable's package
    /// (`.build/<config>/cma-orchestrator` → the checkout), else nil.
    static func locate(_ name: String, from workingDirectory: URL) -> URL? {
        var candidates = [workingDirectory.appendingPathComponent(name)]
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent(name))
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }
}

/// Whether a signing key decodes, without keeping or printing it. The verifier's own
/// decoding decides (rule 38), so start-up accepts every form verification accepts:
/// with or without `whsec_`, with or without base64 padding.
enum WebhookKeyCheck {
    static func isValid(_ key: String) -> Bool {
        (try? WebhookVerifier(secrets: [key])) != nil
    }
}

/// Typed reads of environment variables; errors name the variable, never the value.
struct EnvironmentReader {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }

    func string(_ name: String) -> String? {
        guard let raw = values[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        return raw
    }

    func required(_ name: String) throws(Configuration.Error) -> String {
        guard let value = string(name) else { throw Configuration.Error(name, "is required") }
        return value
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws(Configuration.Error) -> Int? {
        guard let raw = string(name) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw Configuration.Error(name, "must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func seconds(_ name: String, allowZero: Bool = false) throws(Configuration.Error) -> Duration? {
        guard let raw = string(name) else { return nil }
        guard let value = Double(raw), value.isFinite, allowZero ? value >= 0 : value > 0, value <= 604_800 else {
            throw Configuration.Error(name, allowZero ? "must be a number of seconds, 0 or more" : "must be a positive number of seconds")
        }
        return .milliseconds(Int64(value * 1000))
    }

    func bool(_ name: String) throws(Configuration.Error) -> Bool? {
        guard let raw = string(name)?.lowercased() else { return nil }
        switch raw {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw Configuration.Error(name, "must be true or false")
        }
    }

    func url(_ name: String) throws(Configuration.Error) -> URL? {
        guard let raw = string(name) else { return nil }
        guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw Configuration.Error(name, "must be an http or https URL")
        }
        return url
    }

    func list(_ name: String, separators: String = ",") -> [String] {
        guard let raw = string(name) else { return [] }
        return raw.split(whereSeparator: { separators.contains($0) }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    func choice<T>(_ name: String, _ make: (String) -> T?, _ allowed: String) throws(Configuration.Error) -> T? {
        guard let raw = string(name) else { return nil }
        guard let value = make(raw.lowercased()) else { throw Configuration.Error(name, "must be \(allowed)") }
        return value
    }
}
