import APIClient
import Foundation
import HTTPServer
import Logging
import SandboxLifecycle
import Webhooks
import WorkQueue

extension OrchestratorApp {
    /// Binds, then builds, then serves; `run(handleSignals:)` then runs the services.
    ///
    /// 1. Bind: the listening socket is open (port 0 resolved), so emulated mode and
    ///    the local upstreams know the final address (rule 46). Connections that
    ///    arrive now wait in the backlog.
    /// 2. Build: one work pipeline per environment, against the final upstream URLs, on
    ///    one shared Superserve client (rule 35).
    /// 3. Serve: the router is built with direct references to those parts and frozen.
    ///
    /// `transport` defaults to URLSession with `outboundConnectionsPerHost` connections per
    /// host. `workHandler` replaces the sandbox launcher as the drain's handler (tests of the
    /// queue half, and embedders with their own launcher). `localUpstreams` are served
    /// on the instance's own port; emulated mode (rule 46) needs them. `accessLog`
    /// writes access lines to stdout in batches (`AccessLogWriter`) instead of
    /// through `logger`; the executable passes the format `LineLogHandler` writes.
    public static func start(configuration original: Configuration, logger: Logger,
                             transport given: (any HTTPTransport)? = nil,
                             workHandler: (any WorkHandler)? = nil,
                             localUpstreams: (any LocalUpstreams)? = nil,
                             accessLog: AccessLine.Format? = nil) async throws(StartError) -> OrchestratorApp {
        try await start(environments: [original], logger: logger, transport: given, workHandler: workHandler,
                        localUpstreams: localUpstreams, accessLog: accessLog)
    }

    /// Several environments from one process (README "Configuration file"): one
    /// `Configuration` per environment, as `Configuration.loadEnvironments` makes them
    /// from a file. Process settings (server, logs, limits, Superserve) are the first's;
    /// they are read from the same variables for every environment.
    public static func start(environments originals: [Configuration], logger: Logger,
                             transport given: (any HTTPTransport)? = nil,
                             workHandler: (any WorkHandler)? = nil,
                             localUpstreams: (any LocalUpstreams)? = nil,
                             accessLog: AccessLine.Format? = nil) async throws(StartError) -> OrchestratorApp {
        guard var configuration = originals.first else {
            throw .configuration(Configuration.Error("environments", "list at least one environment"))
        }
        var others = Array(originals.dropFirst())
        if configuration.emulated, !others.isEmpty {
            throw .configuration(Configuration.Error("--emulated", "the embedded emulators serve one environment; choose one with --environment ID"))
        }
        let ids = originals.map(\.environmentID)
        if Set(ids).count != ids.count {
            throw .configuration(Configuration.Error("environments", "each environment may be served once"))
        }
        if configuration.emulated, localUpstreams == nil {
            throw .emulators("emulated mode needs the emulators passed in as local upstreams")
        }
        localUpstreams?.configure(&configuration)
        // URLSession's per-host limit at least the Superserve in-flight cap (rule 35).
        let transport = given ?? URLSessionTransport(maxConnectionsPerHost: configuration.outboundConnectionsPerHost)
        let bundle: RunnerBundle
        do {
            guard let directory = configuration.runnerSourceDirectory else { throw SandboxLifecycleError.invalidBundle("no runner folder") }
            bundle = try RunnerBundle.load(from: directory)
        } catch {
            throw .runner("\(error)")
        }
        // Verified before the bind, so a bad key never opens a port.
        let routing: WebhookRouting?
        do {
            routing = configuration.mode == .webhook ? try WebhookRouting(keysByEnvironment: ([configuration] + others).map(\.webhookSigningKeys)) : nil
        } catch {
            throw .configuration(error)
        }

        // 1. Bind.
        let metrics = OrchestratorMetrics(environmentIDs: ids)
        metrics.upstreamHealth.attach(logger: logger)
        let accessWriter = accessLog.map { format in
            AccessLogWriter(format: format, output: AccessLogWriter.fileOutput(STDOUT_FILENO),
                            onDrop: { metrics.count("cma_access_log_dropped_total", []) })
        }
        let server = HTTPServer(configuration: configuration.server, logger: logger, observer: metrics,
                                accessLog: accessWriter)
        do { configuration.server.port = try server.bind() } catch {
            throw Self.startError(error)
        }
        for index in others.indices { others[index].server.port = configuration.server.port }
        // Rule 46: every endpoint points at the loopback upstreams.
        localUpstreams?.bound(to: localURL(host: configuration.server.host, port: configuration.server.port),
                              configuration: &configuration)

        // 2. Build.
        let activity = ActivityLog()
        let board = SessionBoard(capacity: configuration.statusSessions)
        let series = StatusSeries()
        let stop = StopFlag()
        let environments = [configuration] + others
        let superserve = WorkPipeline.superserveClient(configuration: configuration, transport: transport, metrics: metrics,
                                                       logger: logger)
        // Session ids are unique across environments: one lock table (rule 10) for all.
        let locks = SessionLocks()
        let pipelines = WorkPipelines(environments.map { environment in
            // With several environments every line of a pipeline names its environment.
            var scoped = logger
            if environments.count > 1 { scoped[metadataKey: "environment.id"] = "\(environment.environmentID)" }
            return WorkPipeline(configuration: environment, bundle: bundle, transport: transport, superserve: superserve,
                                locks: locks, workHandler: workHandler, metrics: metrics, activity: activity, board: board,
                                series: series, stop: stop, logger: scoped)
        })
        metrics.trackReadiness { pipelines.notReadyReasons(stop: stop).isEmpty }
        // One team budget for every environment: the bucket's rate, the limit Superserve
        // reported, and the launches of all environments waiting for quota room.
        metrics.trackSuperserve {
            (superserve.rateInForce, superserve.reportedRateLimit, pipelines.all.reduce(0) { $0 + $1.quotaRoom.waiting })
        }
        let probes = Probes(configuration: configuration, pipelines: pipelines, stop: stop, metrics: metrics,
                            activity: activity, board: board, series: series)

        // 3. Serve.
        var router = Router()
        if let localUpstreams { router.merge(localUpstreams.routes) }
        probes.add(to: &router)
        if let routing {
            let schedulers = pipelines.all.compactMap(\.scheduler)
            var schedulePause: (@Sendable (Int, String) -> Void)?
            if configuration.pauseOnIdleWebhook {
                let janitors = pipelines.all.map(\.janitor)
                let ids = pipelines.all.map(\.environmentID)
                schedulePause = { environment, session in
                    // The session's own environment (its max_idle) when this process
                    // launched it; else the first environment of the delivery's key.
                    let index = board.environmentID(ofSession: session).flatMap { ids.firstIndex(of: $0) } ?? environment
                    Task { await janitors[index].pauseWhenIdle(sessionID: session) }
                }
            }
            var isRefused: (@Sendable (Int) -> Bool)?
            if pipelines.count > 1 {
                let drainers = pipelines.all.map(\.drainer)
                isRefused = { environment in drainers[environment].health.configurationError != nil }
            }
            let endpoint = WebhookEndpoint(
                routing: routing, dedupe: DeliveryDedupe(windowSeconds: configuration.webhookDedupeSeconds),
                schedulers: schedulers, schedulePause: schedulePause, isRefused: isRefused, stop: stop, metrics: metrics,
                activity: activity, board: board, series: series, logger: logger)
            router.add(.POST, configuration.webhookPath, maxBodyBytes: configuration.webhookMaxBodyBytes,
                       .sync { endpoint.handle($0) })
        }
        if let publicDirectory = configuration.publicDirectory {
            let files = StaticFiles(root: publicDirectory)
            router.add(.GET, "/", match: .prefix, files.handler)
            router.add(.HEAD, "/", match: .prefix, files.handler)
        }
        do { try server.serve(router: router) } catch {
            throw Self.startError(error)
        }
        return OrchestratorApp(environments: environments, metrics: metrics, activity: activity, pipelines: pipelines,
                               stop: stop, probes: probes, localUpstreams: localUpstreams, logger: logger,
                               server: server, accessLog: accessWriter)
    }

    private static func startError(_ error: any Error) -> StartError {
        if case .badTrustedProxy = error as? HTTPServerError {
            return .configuration(Configuration.Error("CMA_TRUSTED_PROXIES", "each entry must be an IP address or CIDR"))
        }
        return .server("\(error)")
    }
}
