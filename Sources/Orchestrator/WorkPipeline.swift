import APIClient
import Foundation
import Logging
import SandboxLifecycle
import WorkQueue

/// Everything between the work queue and a runner: the Anthropic work client, the
/// drainer and (webhook mode) its scheduler, the sandbox launcher, the template check
/// and the janitor. Built once the server is bound, so every upstream URL is final
/// (rule 46), and before the router, which is handed these parts directly.
struct WorkPipeline: Sendable {
    let workClient: WorkClient
    let drainer: Drainer
    /// Webhook mode only; `poll` mode runs `drainer.runForever()` instead (rule 2).
    let scheduler: DrainScheduler?
    let launcher: SandboxLauncher
    let templateCheck: TemplateCheck
    let janitor: Janitor
    /// The environment's warm pool, when `CMA_WARM_POOL` / `warm_pool` is above 0.
    let warmPool: WarmPool?

    /// `workHandler` replaces the sandbox launcher as the drain's handler (tests of the
    /// queue half, and embedders with their own launcher).
    init(configuration: Configuration, bundle: RunnerBundle, transport: any HTTPTransport,
         workHandler: (any WorkHandler)?, metrics: OrchestratorMetrics, activity: ActivityLog, board: SessionBoard,
         series: StatusSeries, stop: StopFlag, logger: Logger) {
        let api = AnthropicAPIConfiguration(baseURL: configuration.anthropicBaseURL,
                                            environmentID: configuration.environmentID,
                                            environmentKey: configuration.environmentKey)
        // Each client gets its own metered transport: the upstream label comes from
        // which client called, since emulated mode puts both APIs on one address.
        workClient = WorkClient(configuration: api, transport: MeteredTransport(
            transport, upstream: .anthropic, baseURLs: [configuration.anthropicBaseURL], metrics: metrics))
        var superserveConfiguration = SuperserveConfiguration(controlPlaneURL: configuration.superserveControlURL,
                                                              dataPlaneURL: configuration.superserveDataURL,
                                                              apiKey: configuration.superserveAPIKey)
        superserveConfiguration.ratePerSecond = configuration.superserveRatePerSecond
        superserveConfiguration.burst = configuration.superserveBurst
        superserveConfiguration.maxInFlight = configuration.superserveMaxInFlight
        let superserveTransport = MeteredTransport(
            transport, upstream: .superserve,
            baseURLs: [configuration.superserveControlURL, configuration.superserveDataURL], metrics: metrics)
        let superserve = SuperserveClient(configuration: superserveConfiguration, transport: superserveTransport,
                                          logger: logger, bucketObserver: metrics)
        let launcherConfiguration = configuration.launcherSettings
        let locks = SessionLocks()
        // The board hears the launcher's and the janitor's probes and pauses through it.
        let sandboxActivity = SandboxActivity(observer: board)
        warmPool = Self.warmPool(configuration, client: superserve, bundle: bundle, launcher: launcherConfiguration,
                                 metrics: metrics, logger: logger)
        launcher = SandboxLauncher(client: superserve, bundle: bundle, configuration: launcherConfiguration,
                                   locks: locks, activity: sandboxActivity, logger: logger, pool: warmPool)
        var janitorConfiguration = Janitor.Configuration(environmentID: configuration.environmentID)
        janitorConfiguration.idleTimeout = configuration.idlePause
        janitorConfiguration.interval = configuration.janitorInterval
        janitorConfiguration.runnerDirectory = launcherConfiguration.runnerDirectory
        janitorConfiguration.maxIdle = .seconds(launcherConfiguration.maxIdleSeconds)
        janitor = Janitor(client: superserve, configuration: janitorConfiguration, locks: locks,
                          activity: sandboxActivity, logger: logger, observer: metrics)
        let templateCheck = TemplateCheck(client: superserve, templateName: launcherConfiguration.template, logger: logger,
                                          observer: metrics)
        self.templateCheck = templateCheck

        var drainerConfiguration = DrainerConfiguration()
        drainerConfiguration.launchSlots = configuration.launchSlots
        drainerConfiguration.refuseSecretless = launcherConfiguration.requireWorkSecret
        let handler = workHandler ?? LaunchHandler(launcher: launcher, client: workClient, metrics: metrics,
                                                   activity: activity, board: board, series: series, logger: logger)
        // Rule 47: nothing is claimed before the template check passes, nor while stopping.
        let drainer = Drainer(client: workClient, handler: handler, configuration: drainerConfiguration, logger: logger,
                              mayClaim: { !stop.isSet && templateCheck.status.isReady }, observer: metrics)
        self.drainer = drainer
        metrics.trackReadiness { Self.notReadyReasons(templateCheck: templateCheck, drainer: drainer, stop: stop).isEmpty }
        scheduler = configuration.mode == .webhook
            ? DrainScheduler(interval: configuration.drainInterval, minimumGap: configuration.drainMinimumGap) {
                metrics.drains.increment()
                await drainer.drain()
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
        Self.notReadyReasons(templateCheck: templateCheck, drainer: drainer, stop: stop)
    }

    static func notReadyReasons(templateCheck: TemplateCheck, drainer: Drainer, stop: StopFlag) -> [String] {
        var reasons: [String] = []
        if stop.isSet { reasons.append("shutting down") }
        if let reason = templateCheck.status.reason { reasons.append(reason) }
        let health = drainer.health
        if let error = health.configurationError {
            reasons.append("work queue: \(error)")
        } else if let error = health.lastError, let at = health.lastErrorAt,
                  health.lastSuccess.map({ $0 < at }) ?? true {
            reasons.append("work queue unreachable: \(error)")
        }
        return reasons
    }
}
