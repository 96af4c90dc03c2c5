import APIClient
import Foundation
import Logging
import Synchronization
import SandboxLifecycle
import WorkQueue

/// Everything between one environment's work queue and a runner: the Anthropic work
/// client, the drainer and (webhook mode) its scheduler, the sandbox launcher, the
/// template check, the janitor and the reconciler. One per served environment
/// (`WorkPipelines`), all on one shared `SuperserveClient` (one token bucket, rule 35).
/// Built once the server is bound, so every upstream URL is final (rule 46), and
/// before the router, which is handed these parts directly.
struct WorkPipeline: Sendable {
    /// `env_…` of the environment this pipeline serves.
    let environmentID: String
    /// Its metric families and its logger (`environment.id` when the process serves several).
    let metrics: EnvironmentMetrics
    let logger: Logger
    let workClient: WorkClient
    let drainer: Drainer
    /// Webhook mode only; `poll` mode runs `drainer.runForever()` instead (rule 2).
    let scheduler: DrainScheduler?
    let launcher: SandboxLauncher
    /// The process's one Superserve client (`superserveClient`), shared by every pipeline.
    let superserve: SuperserveClient
    let templateCheck: TemplateCheck
    let janitor: Janitor
    /// Launches waiting for room under the active-sandbox quota (`/status`, metrics).
    let quotaRoom: QuotaRoom
    /// Finds items acked by a process that died before their runner started.
    let reconciler: Reconciler
    /// The environment's warm pool, when `CMA_WARM_POOL` / `warm_pool` is above 0.
    let warmPool: WarmPool?

    /// The Superserve client every pipeline of the process shares: one team key, one
    /// token bucket and one in-flight cap (rule 35) whatever the number of environments.
    static func superserveClient(configuration: Configuration, transport: any HTTPTransport, metrics: OrchestratorMetrics,
                                 logger: Logger) -> SuperserveClient {
        var superserveConfiguration = SuperserveConfiguration(controlPlaneURL: configuration.superserveControlURL,
                                                              dataPlaneURL: configuration.superserveDataURL,
                                                              apiKey: configuration.superserveAPIKey)
        superserveConfiguration.ratePerSecond = configuration.superserveRatePerSecond
        superserveConfiguration.burst = configuration.superserveBurst
        superserveConfiguration.rateShare = configuration.superserveRateShare
        superserveConfiguration.maxInFlight = configuration.superserveMaxInFlight
        let superserveTransport = MeteredTransport(
            transport, upstream: .superserve,
            baseURLs: [configuration.superserveControlURL, configuration.superserveDataURL], metrics: metrics)
        return SuperserveClient(configuration: superserveConfiguration, transport: superserveTransport,
                                logger: logger, bucketObserver: metrics)
    }

    /// `configuration` is this environment's; `superserve` the shared client. `logger`
    /// carries the environment's metadata already; `locks` is the process's one session
    /// lock table (rule 10). `workHandler` replaces the sandbox
    /// launcher as the drain's handler (tests of the queue half, and embedders with
    /// their own launcher).
    init(configuration: Configuration, bundle: RunnerBundle, transport: any HTTPTransport, superserve: SuperserveClient,
         locks: SessionLocks, workHandler: (any WorkHandler)?, metrics: OrchestratorMetrics, activity: ActivityLog, board: SessionBoard,
         series: StatusSeries, stop: StopFlag, logger: Logger) {
        environmentID = configuration.environmentID
        let scope = metrics.scope(configuration.environmentID)
        self.metrics = scope
        self.logger = logger
        self.superserve = superserve
        let api = AnthropicAPIConfiguration(baseURL: configuration.anthropicBaseURL,
                                            environmentID: configuration.environmentID,
                                            environmentKey: configuration.environmentKey)
        // Each client gets its own metered transport: the upstream label comes from
        // which client called, since emulated mode puts both APIs on one address.
        workClient = WorkClient(configuration: api, transport: MeteredTransport(
            transport, upstream: .anthropic, baseURLs: [configuration.anthropicBaseURL], metrics: metrics))
        let launcherConfiguration = configuration.launcherSettings
        // The board hears the launcher's and the janitor's probes and pauses through it.
        let sandboxActivity = SandboxActivity(observer: board)
        var janitorConfiguration = Janitor.Configuration(environmentID: configuration.environmentID)
        janitorConfiguration.idleTimeout = configuration.idlePause
        janitorConfiguration.interval = configuration.janitorInterval
        janitorConfiguration.runnerDirectory = launcherConfiguration.runnerDirectory
        janitorConfiguration.maxIdle = .seconds(launcherConfiguration.maxIdleSeconds)
        let janitor = Janitor(client: superserve, configuration: janitorConfiguration, locks: locks,
                              activity: sandboxActivity, logger: logger, observer: scope)
        self.janitor = janitor
        // Launches that meet the active-sandbox quota wait in order while the janitor
        // pauses idle sandboxes of this environment to make room (superserve.md §7).
        let quotaRoom = QuotaRoom(maker: { count in await janitor.makeRoom(count: count) },
                                  retryInterval: launcherConfiguration.quotaRetryInterval)
        self.quotaRoom = quotaRoom
        warmPool = Self.warmPool(configuration, client: superserve, bundle: bundle, launcher: launcherConfiguration,
                                 metrics: metrics, logger: logger)
        launcher = SandboxLauncher(client: superserve, bundle: bundle, configuration: launcherConfiguration,
                                   locks: locks, activity: sandboxActivity, logger: logger, quotaRoom: quotaRoom, pool: warmPool)
        let templateCheck = TemplateCheck(client: superserve, templateName: launcherConfiguration.template, logger: logger,
                                          observer: scope, versions: launcher.versions)
        self.templateCheck = templateCheck

        var drainerConfiguration = DrainerConfiguration()
        drainerConfiguration.launchSlots = configuration.launchSlots
        drainerConfiguration.refuseSecretless = launcherConfiguration.requireWorkSecret
        drainerConfiguration.fatalPollRetryInterval = configuration.pollFatalRetry
        drainerConfiguration.forceStopRetryWindow = configuration.forceStopRetryWindow
        let handler = workHandler ?? LaunchHandler(launcher: launcher, client: workClient, metrics: metrics,
                                                   activity: activity, board: board, series: series, logger: logger,
                                                   environmentID: configuration.environmentID)
        // Rule 47: nothing is claimed before the template check passes, nor while stopping.
        let drainer = Drainer(client: workClient, handler: handler, configuration: drainerConfiguration, logger: logger,
                              mayClaim: { !stop.isSet && templateCheck.status.isReady }, observer: scope)
        self.drainer = drainer
        scope.trackQueueHealth { drainer.health }
        scope.trackTemplate { templateCheck.status }
        var reconcilerConfiguration = Reconciler.Configuration()
        reconcilerConfiguration.interval = configuration.reconcileInterval
        reconcilerConfiguration.minimumAge = configuration.reconcileAge
        reconciler = Reconciler(drainer: drainer, runnerCheck: LaunchHandler.JanitorRunnerCheck(janitor: janitor),
                                configuration: reconcilerConfiguration, logger: logger,
                                onPass: { scope.reconcilerPassed($0) })
        scheduler = configuration.mode == .webhook
            ? DrainScheduler(interval: configuration.drainInterval, minimumGap: configuration.drainMinimumGap) {
                scope.drainStarted()
                return await drainer.drain()
            }
            : nil
    }

    static func warmPool(_ configuration: Configuration, client: SuperserveClient, bundle: RunnerBundle,
                         launcher: LauncherConfiguration, metrics: OrchestratorMetrics, logger: Logger) -> WarmPool? {
        guard configuration.warmPoolSize > 0 else { return nil }
        metrics.createWarmPoolSeries(environment: configuration.environmentID)
        var pool = WarmPool.Configuration(environmentID: configuration.environmentID, size: configuration.warmPoolSize)
        pool.maxAge = configuration.warmPoolMaxAge
        pool.interval = configuration.warmPoolInterval
        return WarmPool(client: client, bundle: bundle, launcher: launcher, configuration: pool, logger: logger,
                        observer: metrics)
    }

    /// Why the process is not ready to take work; empty when it is (`/readyz`).
    func notReadyReasons(stop: StopFlag) -> [String] {
        Self.notReadyReasons(templateCheck: templateCheck, stop: stop)
    }

    /// Readiness means "this process takes webhooks and work" (rule 47 as amended): only
    /// the template check and shutdown flip it. Upstream trouble (a failed poll, an
    /// Anthropic outage, a fatal poll answer) does not: every replica sees the same
    /// outage, and all of them would leave the Service at once while the ingress
    /// refuses Anthropic's three delivery attempts. That goes to `/status`, metrics and logs.
    static func notReadyReasons(templateCheck: TemplateCheck, stop: StopFlag) -> [String] {
        var reasons: [String] = []
        if stop.isSet { reasons.append("shutting down") }
        if let reason = templateCheck.status.reason { reasons.append(reason) }
        return reasons
    }

    /// The bounded stop after SIGTERM, once claiming has stopped (`ShutdownPlan`): launches
    /// finish or are cancelled and their items stopped; pending stops and the
    /// after-hand-off metadata writes are flushed.
    func finishForShutdown(plan: ShutdownPlan, since start: ContinuousClock.Instant, logger: Logger) async {
        let stopsBy = start + plan.stopsUntil
        let cancelled = await drainer.stopLaunches(finishBy: start + plan.launchesUntil, giveUpAt: stopsBy)
        let launcher = self.launcher
        await Self.wait(until: stopsBy) { await launcher.waitForBackgroundWork() }
        let abandoned = await drainer.pendingStops.flush(until: stopsBy)
        logger.notice("shutdown.work_finished", metadata: [
            "launch.cancelled": "\(cancelled)", "stop.abandoned": "\(abandoned)",
            "shutdown.elapsed_ms": "\(Int((ContinuousClock.now - start).secondsDouble * 1000))",
        ])
    }

    /// Waits for `body` or until `deadline`, whichever comes first; `body` may not heed
    /// cancellation (the launcher's after-hand-off tasks are not ours to cancel), so it
    /// is left running rather than awaited past the deadline.
    static func wait(until deadline: ContinuousClock.Instant, for body: @escaping @Sendable () async -> Void) async {
        final class Once: Sendable {
            let continuation = Mutex<CheckedContinuation<Void, Never>?>(nil)
            func resume() { continuation.withLock { c in defer { c = nil }; return c }?.resume() }
        }
        let once = Once()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            once.continuation.withLock { $0 = continuation }
            Task {
                await body()
                once.resume()
            }
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                once.resume()
            }
        }
    }
}
