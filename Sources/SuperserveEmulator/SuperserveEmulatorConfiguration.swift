import Foundation

/// Settings of the Superserve emulator. Every limit and delay has a name and a
/// default here (style 4); the lead lists them in the README's configuration table.
public struct SuperserveEmulatorConfiguration: Sendable {
    /// The team key the control plane accepts in `X-API-Key` (superserve.md §1). The
    /// caller supplies it (the lead reads `SUPERSERVE_API_KEY`); it is never logged.
    public var apiKey: String
    /// Template created in status `ready` when the emulator starts (orchestrator.md
    /// "Fixed names": `cma-runner`). Empty: none.
    public var templateName: String = "cma-runner"
    /// Working directory of the start-up template (its `workdir` build step).
    public var templateWorkdir: String = "/workspace"
    /// Where local sandboxes live: `<sandboxesRoot>/<id>/fs/…` (see `LocalSandbox`).
    public var sandboxesRoot: URL
    /// Absolute sandbox paths that are mapped into `<sandboxesRoot>/<id>/fs/`.
    public var mappedRoots: [String] = ["/srv", "/workspace", "/mnt", "/home/user"]
    /// Prepended to `PATH` for every exec, e.g. the bin directory of a venv with
    /// `anthropic==2.10.0` (`PythonEnvironment(...).ensure()`), so that `python3`
    /// inside a sandbox is that interpreter.
    public var pythonBinDirectory: URL?
    /// How long a minted data-plane access token stays valid (superserve.md §1: one
    /// to two hours in production).
    public var accessTokenTTL: Duration = .seconds(3600)
    /// Time a template build takes from `pending` to `ready`, split evenly over
    /// `pending`, `building` and `snapshotting` (§6).
    public var templateBuildDelay: Duration = .milliseconds(300)
    /// Default time a sandbox spends in `starting` during create, `pausing` during
    /// pause and `resuming` during activate/resume. Zero: the transition is
    /// immediate. `POST /_emulator/superserve/hold` changes them at run time.
    public var startingHold: Duration = .zero
    public var pausingHold: Duration = .zero
    public var resumingHold: Duration = .zero
    /// How long activate waits on a `starting`/`resuming` sandbox before its 409
    /// (superserve.md §3.4: 6 s).
    public var activateWait: Duration = .seconds(6)
    /// How long a pause without `Prefer: respond-async` waits for `paused` before
    /// answering `{"status":"pausing"}` instead of 204 (§3.5).
    public var pauseWait: Duration = .seconds(25)
    /// Delete from a transitional state is 409 unless the sandbox has been stuck in
    /// it this long (§3.7: 15 minutes).
    public var stuckTransitionAge: Duration = .seconds(900)
    /// Exec timeout when `timeout_s` is absent or 0 (§8.2: 30 s).
    public var execDefaultTimeout: Duration = .seconds(30)
    /// Combined stdout+stderr kept per exec before `truncated` (§8.2: 8 MiB).
    public var execOutputCap: Int = 8 * 1024 * 1024
    /// After a timeout kill, how long exec still waits for the pipes to close (a
    /// detached process that inherited them would otherwise hold the answer forever).
    public var execDrainGrace: Duration = .seconds(1)
    /// Largest request body on the data plane's file write.
    public var maxFileBytes: Int = 64 * 1024 * 1024
    /// How often auto-pause (`timeout_seconds`) and auto-delete
    /// (`auto_delete_seconds`) are checked.
    public var lifecycleSweepInterval: Duration = .milliseconds(250)
    /// List page size ceiling (§7: 200).
    public var listLimitCap: Int = 200
    /// Team quotas (§7).
    public var maxTemplates: Int = 10
    public var maxConcurrentBuilds: Int = 5
    /// Sandboxes in `starting`, `active`, `pausing` or `resuming` per team; beyond it
    /// create, resume and activate of a paused sandbox answer 429
    /// `too_many_sandboxes` (§7: 50 in the service code, the default). nil: unlimited,
    /// for load tests that say so.
    public var maxActiveSandboxes: Int? = Self.serviceMaxActiveSandboxes
    /// Per-team rate limit after auth (§7: 20 req/s, burst 40, the default), as a
    /// token bucket over the control and the data plane answering 429
    /// `rate_limited` with `Retry-After` and `RateLimit-*` headers. nil: off, for load
    /// tests that say so.
    public var teamRateLimit: SuperserveRateLimit? = Self.serviceRateLimit
    /// Remove `<sandboxesRoot>/<id>/` directories on `shutdown()` (default keeps them).
    public var removeSandboxesOnShutdown: Bool = false

    /// The service code's defaults (superserve.md §7).
    public static let serviceMaxActiveSandboxes = 50
    public static let serviceRateLimit = SuperserveRateLimit(requestsPerSecond: 20, burst: 40)

    public init(apiKey: String, sandboxesRoot: URL) {
        self.apiKey = apiKey
        self.sandboxesRoot = sandboxesRoot
    }
}

/// A token bucket's refill rate and size.
public struct SuperserveRateLimit: Sendable {
    public var requestsPerSecond: Double
    public var burst: Int
    public init(requestsPerSecond: Double, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}
