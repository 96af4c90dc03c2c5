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
    /// 2. Build: the work pipeline, against the final upstream URLs.
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
        var configuration = original
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
        let verifier: WebhookVerifier?
        do {
            verifier = configuration.mode == .webhook ? try WebhookVerifier(secrets: configuration.webhookSigningKeys) : nil
        } catch {
            throw .configuration(Configuration.Error("ANTHROPIC_WEBHOOK_SIGNING_KEY", "is not a valid whsec_ key"))
        }

        // 1. Bind.
        let metrics = OrchestratorMetrics()
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
        // Rule 46: every endpoint points at the loopback upstreams.
        localUpstreams?.bound(to: localURL(host: configuration.server.host, port: configuration.server.port),
                              configuration: &configuration)

        // 2. Build.
        let activity = ActivityLog()
        let board = SessionBoard(capacity: configuration.statusSessions)
        let series = StatusSeries()
        let stop = StopFlag()
        let pipeline = WorkPipeline(configuration: configuration, bundle: bundle, transport: transport,
                                    workHandler: workHandler, metrics: metrics, activity: activity, board: board,
                                    series: series, stop: stop, logger: logger)
        let probes = Probes(configuration: configuration, pipeline: pipeline, stop: stop, metrics: metrics,
                            activity: activity, board: board, series: series)

        // 3. Serve.
        var router = Router()
        if let localUpstreams { router.merge(localUpstreams.routes) }
        probes.add(to: &router)
        if let verifier, let scheduler = pipeline.scheduler {
            var schedulePause: (@Sendable (String) -> Void)?
            if configuration.pauseOnIdleWebhook {
                let janitor = pipeline.janitor
                schedulePause = { session in Task { await janitor.pauseWhenIdle(sessionID: session) } }
            }
            let endpoint = WebhookEndpoint(
                verifier: verifier, dedupe: DeliveryDedupe(windowSeconds: configuration.webhookDedupeSeconds),
                scheduler: scheduler, schedulePause: schedulePause, stop: stop, metrics: metrics,
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
        return OrchestratorApp(configuration: configuration, metrics: metrics, activity: activity, pipeline: pipeline,
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
