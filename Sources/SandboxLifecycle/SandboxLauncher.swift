import APIClient
import Foundation
import Logging
import Synchronization

/// Gets a session's sandbox ready and starts the runner in it (rules 10–31, 37).
///
/// A thin shell around `LaunchPlanner`: it carries out the step the planner
/// chooses, feeds back what it observed, and stops at `launched` or `fail`.
/// Metadata bookkeeping (rule 18) and the liveness probe (rule 30) run after the
/// hand-off in a detached task, off the critical path (rule 24).
public final class SandboxLauncher: Sendable {
    let client: SuperserveClient
    let bundle: RunnerBundle
    let configuration: LauncherConfiguration
    let locks: SessionLocks
    let activity: SandboxActivity
    let logger: Logger
    let sleeper: any Sleeper
    let now: @Sendable () -> Date
    let background = Mutex<[UUID: Task<Void, Never>]>([:])
    /// The environment's warm pool, if it has one: tried before a create.
    let pool: WarmPool?

    public init(client: SuperserveClient, bundle: RunnerBundle, configuration: LauncherConfiguration,
                locks: SessionLocks, activity: SandboxActivity, logger: Logger,
                sleeper: any Sleeper = ContinuousSleeper(), now: @escaping @Sendable () -> Date = { Date() },
                pool: WarmPool? = nil) {
        self.pool = pool
        self.client = client
        self.bundle = bundle
        self.configuration = configuration
        self.locks = locks
        self.activity = activity
        self.logger = logger
        self.sleeper = sleeper
        self.now = now
    }

    /// Launches the runner for one acked session item. Never throws: a failure is
    /// an outcome the drainer answers with a force-stop (rule 37).
    ///
    /// `context` is given per launch, not at init: it belongs to the work-queue side,
    /// which is wired after (and on top of) the launcher (the drainer owns the handler
    /// that owns this launcher), and it serves this item's session read and its late
    /// failure, which may come after this call has returned (rule 30).
    public func launch(_ request: LaunchRequest, context: any LaunchContext) async -> LaunchOutcome {
        var log = logger
        log[metadataKey: "work.id"] = "\(request.workID)"
        log[metadataKey: "session.id"] = "\(request.sessionID)"
        let environment: [String: String]
        switch RunnerEnvironment.make(for: request, configuration: configuration) {
        case .success(let env): environment = env
        case .failure(let failure):
            log.error("launch.failed", metadata: ["error.message": "\(failure.reason)"])
            return .failed(failure)
        }
        return await locks.withLock(request.sessionID) {
            await run(request, context: context, environment: environment, logger: log)
        }
    }

    /// Waits until every after-hand-off task (metadata update, probe) has finished.
    /// For graceful shutdown and tests.
    public func waitForBackgroundWork() async {
        while true {
            let tasks = background.withLock { Array($0.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    var plannerSettings: LaunchPlanner.Settings {
        let backoff = Backoff(cap: configuration.retryCap)
        var settings = LaunchPlanner.Settings(
            budget: configuration.launchBudget,
            conflictWindow: configuration.activateConflictWindow,
            conflictInterval: configuration.activateConflictInterval,
            networkPolicy: configuration.networkPolicy,
            backoff: { attempt, hint in backoff.delay(attempt: attempt, hint: hint) })
        settings.warmPool = pool.map { $0.configuration.size > 0 } ?? false
        return settings
    }

    private func run(_ request: LaunchRequest, context: any LaunchContext, environment: [String: String],
                     logger log: Logger) async -> LaunchOutcome {
        var planner = LaunchPlanner(settings: plannerSettings,
                                    preparedSandboxID: LaunchPlanner.preparedSandboxID(
                                        workMetadata: request.workMetadata, dataMetadata: request.dataMetadata),
                                    environmentID: request.environmentID, sessionID: request.sessionID)
        // The sleeper is also the clock, so a manual clock drives the budget in tests.
        let start = sleeper.uptime()
        var event = LaunchEvent.started
        var access: SandboxAccess?
        var launchOutput: String?
        /// The warm-pool sandbox being claimed, kept for a repeated claim exec.
        var pooledAccess: SandboxAccess?
        let launchedAt = Timestamp.format(now())

        while true {
            let elapsed = sleeper.uptime() - start
            if Task.isCancelled {
                return fail(LaunchFailure(reason: "launch cancelled", sandboxID: planner.sandboxID), log)
            }
            let step = planner.next(after: event, elapsed: elapsed)
            let remaining = configuration.launchBudget - elapsed
            let ordinary = Self.deadline(client.configuration.requestTimeout, remaining)
            let lifecycle = Self.deadline(client.configuration.lifecycleTimeout, remaining)
            switch step {
            case .readSessionMetadata:
                event = .sessionMetadata(await capture { () async throws(SessionMetadataError) in
                    try await context.sessionMetadata(sessionID: request.sessionID)
                })

            case .lookup:
                event = .lookedUp(await capture { () async throws(SandboxLifecycleError) in
                    try await self.client.listSandboxes(metadata: ["cma.session_id": request.sessionID], timeout: ordinary)
                })

            case .create:
                let body = createRequest(request, launchedAt: launchedAt)
                let result = await capture { () async throws(SandboxLifecycleError) in
                    let sandbox = try await self.client.createSandbox(body, timeout: lifecycle)
                    access = try SandboxAccess(sandbox)
                    return sandbox
                }
                if case .success(let sandbox) = result {
                    log.info("sandbox.created", metadata: ["sandbox.id": "\(sandbox.id)"])
                }
                event = .created(result)

            case .claimPooled(let retrying):
                let claim = await claimPooled(request, retrying: retrying.flatMap { id in pooledAccess.flatMap { $0.sandboxID == id ? $0 : nil } },
                                              environment: environment)
                if case .ran(let id, .success(let output)) = claim.event {
                    access = claim.access
                    launchOutput = Self.tail(output.stdout + output.stderr, bytes: configuration.logTailBytes)
                    log.info("warm_pool.claimed", metadata: ["sandbox.id": "\(id)"])
                }
                pooledAccess = claim.access ?? pooledAccess
                event = .pooledClaim(claim.event)

            case .activate(let id):
                if case .lookedUp = event, !planner.lookupExtras.isEmpty {
                    // Rule 14: several live sandboxes for one session; keep them, say so.
                    log.warning("sandbox.lookup.extras", metadata: [
                        "sandbox.id": "\(id)", "sandbox.extras": "\(planner.lookupExtras.joined(separator: ","))",
                    ])
                }
                let result = await capture { () async throws(SandboxLifecycleError) in
                    let sandbox = try await self.client.activate(id: id, timeout: lifecycle)
                    access = try SandboxAccess(sandbox)
                    return sandbox
                }
                event = .activated(result)

            case .readSandbox(let id):
                event = .sandboxRead(await capture { () async throws(SandboxLifecycleError) in
                    try await self.client.getSandbox(id: id, timeout: ordinary)
                })

            case .patchNetwork(let id):
                log.info("sandbox.network.update", metadata: ["sandbox.id": "\(id)"])
                event = .networkPatched(await capture { () async throws(SandboxLifecycleError) in
                    try await self.client.updateSandbox(id: id, network: self.configuration.networkPolicy, timeout: ordinary)
                })

            case .writeBundle(let id):
                guard let access, access.sandboxID == id else {
                    event = .bundleWritten(.failure(.invalidResponse("no data-plane access for sandbox \(id)")))
                    continue
                }
                let path = RunnerEnvironment.bundlePath(runnerDirectory: configuration.runnerDirectory)
                event = .bundleWritten(await capture { () async throws(SandboxLifecycleError) in
                    try await self.client.writeFile(access, path: path, contents: self.bundle.archive, timeout: ordinary)
                })

            case .exec(let id):
                guard let access, access.sandboxID == id else {
                    event = .executed(.failure(.invalidResponse("no data-plane access for sandbox \(id)")))
                    continue
                }
                let dir = configuration.runnerDirectory
                let result = await capture { () async throws(SandboxLifecycleError) in
                    try await self.client.exec(access, command: RunnerEnvironment.launchCommand(runnerDirectory: dir),
                                               workingDirectory: dir, environment: environment,
                                               timeoutSeconds: self.configuration.execTimeoutSeconds)
                }
                if case .success(let output) = result {
                    launchOutput = Self.tail(output.stdout + output.stderr, bytes: configuration.logTailBytes)
                }
                event = .executed(result)

            case .wait(let delay):
                do {
                    try await sleeper.sleep(for: delay)
                } catch {
                    return fail(LaunchFailure(reason: "launch cancelled", sandboxID: planner.sandboxID), log)
                }
                event = .waited

            case .launched(let id, let pid, let alreadyRunning):
                log.info("runner.launched", metadata: [
                    "sandbox.id": "\(id)", "runner.pid": "\(pid)", "runner.already_running": "\(alreadyRunning)",
                    "launch.ms": "\((sleeper.uptime() - start).milliseconds)",
                ])
                if let access { activity.remember(access) }
                startAfterHandOff(request, context: context, sandboxID: id, origin: planner.origin, access: access,
                                  launchedAt: launchedAt, logger: log)
                return .launched(sandboxID: id, pid: pid, alreadyRunning: alreadyRunning)

            case .fail(let reason, let id):
                if planner.origin == .pooled, let id { keepPooledForSession(request, sandboxID: id, launchedAt: launchedAt, logger: log) }
                return fail(LaunchFailure(reason: reason, sandboxID: id, logTail: launchOutput), log)
            }
        }
    }

    private func fail(_ failure: LaunchFailure, _ log: Logger) -> LaunchOutcome {
        log.error("launch.failed", metadata: [
            "sandbox.id": "\(failure.sandboxID ?? "-")", "error.message": "\(failure.reason)",
            "runner.log_tail": "\(failure.logTail ?? "")",
        ])
        return .failed(failure)
    }

    /// Rule 15: name `cma-<session id>` cut to 64 bytes, the template, `cma.*`
    /// metadata (never a `superserve.` key, rule 17) and the network pair of rule 22.
    func createRequest(_ request: LaunchRequest, launchedAt: String) -> CreateSandboxRequest {
        CreateSandboxRequest(
            name: Self.sandboxName(sessionID: request.sessionID),
            fromTemplate: configuration.template,
            metadata: Self.ownMetadata(request, launchedAt: launchedAt),
            network: configuration.networkPolicy,
            timeoutSeconds: configuration.sandboxTimeoutSeconds,
            autoDeleteSeconds: configuration.autoDeleteSeconds)
    }

    static func ownMetadata(_ request: LaunchRequest, launchedAt: String) -> [String: String] {
        ["cma.session_id": request.sessionID, "cma.work_id": request.workID,
         "cma.environment_id": request.environmentID, "cma.launched_at": launchedAt]
    }

    /// `cma-<session id>`, cut to at most 64 bytes on a character boundary.
    public static func sandboxName(sessionID: String) -> String {
        var name = "cma-" + sessionID
        while name.utf8.count > 64 { name.removeLast() }
        return name
    }

    static func deadline(_ timeout: Duration, _ remaining: Duration) -> Duration {
        max(.seconds(1), min(timeout, remaining))
    }

    static func tail(_ text: String, bytes: Int) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.count > bytes else { return text }
        return String(decoding: utf8.suffix(bytes), as: UTF8.self)
    }
}

/// Runs `body` and returns its outcome as a `Result`.
func capture<T, E: Error>(_ body: () async throws(E) -> T) async -> Result<T, E> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
