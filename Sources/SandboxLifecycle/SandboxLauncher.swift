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
    public let client: SuperserveClient
    let bundle: RunnerBundle
    let configuration: LauncherConfiguration
    let locks: SessionLocks
    let activity: SandboxActivity
    /// Where the current bundle is known to be (rule 24 as amended).
    public let versions: RunnerVersions
    let logger: Logger
    let sleeper: any Sleeper
    let now: @Sendable () -> Date
    let background = Mutex<[UUID: Task<Void, Never>]>([:])
    /// Where launches that meet the active-sandbox quota wait for room; nil: they back off.
    public let quotaRoom: QuotaRoom?
    /// Launch order: a launch's calls, once under way, are served by the shared bucket
    /// in this order (rule 35 as amended).
    let tickets = Atomic<UInt64>(0)
    /// The environment's warm pool, if it has one: tried before a create.
    let pool: WarmPool?

    public init(client: SuperserveClient, bundle: RunnerBundle, configuration: LauncherConfiguration,
                locks: SessionLocks, activity: SandboxActivity, logger: Logger,
                sleeper: any Sleeper = ContinuousSleeper(), now: @escaping @Sendable () -> Date = { Date() },
                versions: RunnerVersions? = nil, quotaRoom: QuotaRoom? = nil, pool: WarmPool? = nil) {
        self.pool = pool
        self.client = client
        self.bundle = bundle
        self.versions = versions ?? RunnerVersions(current: bundle.version)
        self.quotaRoom = quotaRoom
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
        let meter = BucketWaitMeter()
        return await locks.withLock(request.sessionID) {
            await metered(meter) { await run(request, context: context, environment: environment, meter: meter, logger: log) }
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
        let (versions, activity) = (versions, activity)
        var settings = LaunchPlanner.Settings(
            budget: configuration.launchBudget,
            conflictWindow: configuration.activateConflictWindow,
            conflictInterval: configuration.activateConflictInterval,
            networkPolicy: configuration.networkPolicy,
            backoff: { attempt, hint in backoff.delay(attempt: attempt, hint: hint) },
            holdsCurrentRunner: { id, origin in versions.holdsCurrent(sandboxID: id, origin: origin) },
            bundleFitsInExec: bundle.fitsInEnvironment,
            hasDataPlaneAccess: { id in activity.access(for: id) != nil },
            waitsForRoom: quotaRoom != nil,
            maxRoomWait: configuration.maxQuotaWait,
            roomQueued: { [quotaRoom] in (quotaRoom?.waiting ?? 0) > 0 })
        settings.warmPool = pool.map { $0.configuration.size > 0 } ?? false
        return settings
    }

    private func run(_ request: LaunchRequest, context: any LaunchContext, environment: [String: String],
                     meter: BucketWaitMeter, logger log: Logger) async -> LaunchOutcome {
        var planner = LaunchPlanner(settings: plannerSettings,
                                    preparedSandboxID: LaunchPlanner.preparedSandboxID(
                                        workMetadata: request.workMetadata, dataMetadata: request.dataMetadata),
                                    environmentID: request.environmentID, sessionID: request.sessionID)
        // The sleeper is also the clock, so a manual clock drives the budget in tests.
        let start = sleeper.uptime()
        var event = LaunchEvent.started
        var access: SandboxAccess?
        var launchOutput: String?
        var launchStdout = ""
        /// The warm-pool sandbox being claimed, kept for a repeated claim exec.
        var pooledAccess: SandboxAccess?
        let launchedAt = Timestamp.format(now())
        let ticket = tickets.add(1, ordering: .relaxed).newValue
        // The sandboxes this launch's list and read answers described, by id: their
        // metadata spares the after-hand-off update its GET (rule 18's read is already
        // in hand). An empty map is not trusted for that (the GET then reads it).
        var observed: [String: Sandbox] = [:]
        var underWay = false

        while true {
            // Rule 37's budget leaves out this launch's waits for bucket tokens (+Budget).
            let elapsed = chargedElapsed(since: start, meter: meter)
            if Task.isCancelled {
                return fail(LaunchFailure(reason: "launch cancelled", sandboxID: planner.sandboxID), log)
            }
            let step = planner.next(after: event, elapsed: elapsed)
            let remaining = configuration.launchBudget - elapsed
            let ordinary = Self.deadline(client.configuration.requestTimeout, remaining)
            let lifecycle = Self.deadline(client.configuration.lifecycleTimeout, remaining)
            // Rule 35 as amended: the first Superserve call of a launch waits its turn
            // among new work; every later one goes before it.
            let priority: TokenBucket.Priority = underWay ? .underWay(ticket) : .normal
            if case .readSessionMetadata = step {} else { underWay = true }
            switch step {
            case .readSessionMetadata:
                event = .sessionMetadata(await capture { () async throws(SessionMetadataError) in
                    try await context.sessionMetadata(sessionID: request.sessionID)
                })

            case .lookup:
                event = .lookedUp(await call(priority) { () async throws(SandboxLifecycleError) in
                    try await self.client.listSandboxes(metadata: ["cma.session_id": request.sessionID], timeout: ordinary)
                })
                if case .lookedUp(.success(let sandboxes)) = event {
                    for sandbox in sandboxes { observed[sandbox.id] = sandbox }
                }

            case .create:
                let body = createRequest(request, launchedAt: launchedAt)
                let result = await call(priority) { () async throws(SandboxLifecycleError) in
                    let sandbox = try await self.client.createSandbox(body, timeout: lifecycle)
                    access = try SandboxAccess(sandbox)
                    return sandbox
                }
                if case .success(let sandbox) = result {
                    log.info("sandbox.created", metadata: ["sandbox.id": "\(sandbox.id)"])
                }
                event = .created(result)

            case .claimPooled(let retrying):
                // The pool staged the bundle as the file named by its version; the exec
                // names that version so launchCommand unpacks it (rule 24 as amended).
                var poolEnvironment = environment
                poolEnvironment[RunnerEnvironment.versionVariable] = bundle.version
                let claim = await claimPooled(request, retrying: retrying.flatMap { id in pooledAccess.flatMap { $0.sandboxID == id ? $0 : nil } },
                                              environment: poolEnvironment)
                if case .ran(let id, .success(let output)) = claim.event {
                    access = claim.access
                    launchOutput = Self.tail(output.stdout + output.stderr, bytes: configuration.logTailBytes)
                    log.info("warm_pool.claimed", metadata: ["sandbox.id": "\(id)"])
                }
                pooledAccess = claim.access ?? pooledAccess
                event = .pooledClaim(claim.event)

            case .activate(let id):
                logExtras(after: event, chosen: id, planner: planner, log)
                let result = await call(priority) { () async throws(SandboxLifecycleError) in
                    let sandbox = try await self.client.activate(id: id, timeout: lifecycle)
                    access = try SandboxAccess(sandbox)
                    return sandbox
                }
                event = .activated(result)

            case .readSandbox(let id):
                event = .sandboxRead(await call(priority) { () async throws(SandboxLifecycleError) in
                    try await self.client.getSandbox(id: id, timeout: ordinary)
                })
                if case .sandboxRead(.success(let sandbox)) = event { observed[sandbox.id] = sandbox }

            case .patchNetwork(let id):
                log.info("sandbox.network.update", metadata: ["sandbox.id": "\(id)"])
                event = .networkPatched(await call(priority) { () async throws(SandboxLifecycleError) in
                    try await self.client.updateSandbox(id: id, network: self.configuration.networkPolicy, timeout: ordinary)
                })

            case .writeBundle(let id):
                if access?.sandboxID != id { access = activity.access(for: id) }
                guard let access, access.sandboxID == id else {
                    event = .bundleWritten(.failure(.invalidResponse("no data-plane access for sandbox \(id)")))
                    continue
                }
                let path = RunnerEnvironment.bundlePath(runnerDirectory: configuration.runnerDirectory, version: bundle.version)
                event = .bundleWritten(await call(priority) { () async throws(SandboxLifecycleError) in
                    try await self.client.writeFile(access, path: path, contents: self.bundle.archive, timeout: ordinary)
                })

            case .exec(let id):
                logExtras(after: event, chosen: id, planner: planner, log)
                // A found `active` sandbox goes straight here with the token of an
                // earlier launch (the planner checked that one is held).
                if access?.sandboxID != id { access = activity.access(for: id) }
                guard let access, access.sandboxID == id else {
                    event = .executed(.failure(.invalidResponse("no data-plane access for sandbox \(id)")))
                    continue
                }
                let dir = configuration.runnerDirectory
                var env = environment
                env[RunnerEnvironment.versionVariable] = bundle.version
                if planner.carryBundle { env[RunnerEnvironment.bundleVariable] = bundle.base64 }
                let result = await call(priority) { () async throws(SandboxLifecycleError) in
                    // No working_dir: the runner directory may not exist yet (a sandbox
                    // from another template); the command makes it and changes into it.
                    try await self.client.exec(access, command: RunnerEnvironment.launchCommand(runnerDirectory: dir),
                                               environment: env,
                                               timeoutSeconds: self.configuration.execTimeoutSeconds)
                }
                if case .success(let output) = result {
                    launchOutput = Self.tail(output.stdout + output.stderr, bytes: configuration.logTailBytes)
                    launchStdout = output.stdout
                    if output.exitCode == RunnerVersions.versionMismatchExitCode, !planner.carryBundle {
                        versions.mismatch(sandboxID: id, origin: planner.origin)
                        log.info("runner.bundle.version_differs", metadata: ["sandbox.id": "\(id)"])
                    }
                }
                event = .executed(result)

            case .waitForRoom:
                guard let quotaRoom else {
                    return fail(LaunchFailure(reason: "internal: waiting for room without a quota room", sandboxID: planner.sandboxID), log)
                }
                log.info("launch.quota_wait", metadata: ["quota.waiting": "\(quotaRoom.waiting + 1)"])
                let began = sleeper.uptime()
                do {
                    try await quotaRoom.waitForRoom(ticket: ticket)
                } catch {
                    return fail(LaunchFailure(reason: "launch cancelled", sandboxID: planner.sandboxID), log)
                }
                event = .roomWaited(sleeper.uptime() - began)

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
                    // The Superserve calls this launch made (each took a bucket token), retries included.
                    "superserve.calls": "\(meter.tokens)",
                ])
                if let access { activity.remember(access) }
                versions.launched(sandboxID: id, origin: planner.origin,
                                  unpacked: LaunchOutput.parse(launchStdout)?.unpacked ?? false)
                startAfterHandOff(request, context: context, sandboxID: id, origin: planner.origin, access: access,
                                  knownMetadata: observed[id]?.metadata.nilIfEmpty,
                                  launchedAt: launchedAt, logger: log)
                return .launched(sandboxID: id, pid: pid, alreadyRunning: alreadyRunning)

            case .fail(let reason, let id):
                if planner.origin == .pooled, let id { keepPooledForSession(request, sandboxID: id, launchedAt: launchedAt, logger: log) }
                return fail(LaunchFailure(reason: reason, sandboxID: id, logTail: launchOutput), log)
            }
        }
    }

    /// Rule 14: several live sandboxes for one session; keep them, say so.
    private func logExtras(after event: LaunchEvent, chosen id: String, planner: LaunchPlanner, _ log: Logger) {
        guard case .lookedUp = event, !planner.lookupExtras.isEmpty else { return }
        log.warning("sandbox.lookup.extras", metadata: [
            "sandbox.id": "\(id)", "sandbox.extras": "\(planner.lookupExtras.joined(separator: ","))",
        ])
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

extension SandboxLauncher {
    /// A Superserve call at `priority` in the shared bucket's queue (rule 35).
    func call<T, E: Error>(_ priority: TokenBucket.Priority, _ body: () async throws(E) -> T) async -> Result<T, E> {
        await TokenBucket.Priority.$current.withValue(priority) { await capture(body) }
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

extension Dictionary {
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
