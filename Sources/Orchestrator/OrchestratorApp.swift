import Foundation
import HTTPServer
import Logging
import ServiceLifecycle
import Synchronization

/// One running orchestrator: the HTTP server (probes, metrics, status page, webhook
/// route, and in emulated mode the `LocalUpstreams` passed in) and the work pipeline
/// (drain in its configured shape, launcher, janitor, template check), run as
/// swift-service-lifecycle services.
///
/// `start` binds, then builds, then serves (`OrchestratorApp+Start.swift`): every part
/// exists before the first request, so handlers hold the parts they use directly.
public final class OrchestratorApp: Sendable {
    public let configuration: Configuration
    public let metrics: OrchestratorMetrics
    public let activity: ActivityLog
    let pipeline: WorkPipeline
    let stop: StopFlag
    let probes: Probes
    let localUpstreams: (any LocalUpstreams)?
    let logger: Logger
    let server: HTTPServer
    let accessLog: AccessLogWriter?
    private let group = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    public static let version = "0.1.0"

    init(configuration: Configuration, metrics: OrchestratorMetrics, activity: ActivityLog, pipeline: WorkPipeline,
         stop: StopFlag, probes: Probes, localUpstreams: (any LocalUpstreams)?, logger: Logger, server: HTTPServer,
         accessLog: AccessLogWriter?) {
        self.configuration = configuration
        self.metrics = metrics
        self.activity = activity
        self.pipeline = pipeline
        self.stop = stop
        self.probes = probes
        self.localUpstreams = localUpstreams
        self.logger = logger
        self.server = server
        self.accessLog = accessLog
    }

    /// The bound port (useful with port 0).
    public var port: Int { configuration.server.port }

    /// Address the server can be reached at from this host.
    public var localURL: URL { Self.localURL(host: configuration.server.host, port: port) }

    static func localURL(host configured: String, port: Int) -> URL {
        let host = ["0.0.0.0", "::", ""].contains(configured) ? "127.0.0.1" : configured
        let shown = host.contains(":") ? "[\(host)]" : host
        return URL(string: "http://\(shown):\(port)")!
    }

    public var isStopping: Bool { stop.isSet }

    /// Why the instance is not ready to take work; empty when it is (`/readyz`).
    public var notReadyReasons: [String] { pipeline.notReadyReasons(stop: stop) }

    /// Runs every service until a graceful shutdown (SIGTERM/SIGINT when
    /// `handleSignals`, or `shutdown()`), then stops them in reverse order: the stop
    /// flag (readyz 503, webhooks 503), claiming work, the janitor and template check,
    /// the HTTP server (in-flight requests finish within the grace period), the local upstreams.
    public func run(handleSignals: Bool) async throws {
        let pipeline = self.pipeline
        var services: [any Service] = []
        if let localUpstreams {
            services.append(ClosureService("local-upstreams") {
                try? await gracefulShutdown()
                await localUpstreams.shutdown()
            })
        }
        let server = self.server
        let accessLog = self.accessLog
        services.append(ClosureService("http-server") {
            try? await gracefulShutdown()
            await server.shutdown()
            accessLog?.close()   // after the last answer: every access line is out before exit
        })
        services.append(ClosureService("janitor") {
            await cancelWhenGracefulShutdown { await pipeline.janitor.run() }
        })
        if let pool = pipeline.warmPool {
            services.append(ClosureService("warm-pool") {
                // Rule 47: no pool sandbox before the template is ready (creates would 409).
                await cancelWhenGracefulShutdown {
                    while !pipeline.templateCheck.status.isReady, !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                    await pool.run()
                }
            })
        }
        services.append(ClosureService("template-check") {
            // Rule 47: until it passes; then it has nothing left to do.
            await cancelWhenGracefulShutdown { await pipeline.templateCheck.run() }
            try? await gracefulShutdown()
        })
        if let scheduler = pipeline.scheduler {
            services.append(ClosureService("drain-scheduler") {
                await cancelWhenGracefulShutdown { await scheduler.run() }
                await pipeline.drainer.waitForLaunches()
            })
        } else {
            services.append(ClosureService("poll-loop") {
                await cancelWhenGracefulShutdown { await pipeline.drainer.runForever() }
                await pipeline.drainer.waitForLaunches()
            })
        }
        services.append(ClosureService("stop-flag") { [stop, metrics, logger] in
            try? await gracefulShutdown()
            stop.set()
            metrics.ready.set(0)
            logger.notice("shutdown.started")
        })

        let serviceGroup = ServiceGroup(
            services: services,
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        let stopEarly = group.withLock { state -> Bool in
            state.group = serviceGroup
            return state.stopRequested
        }
        if stopEarly { await serviceGroup.triggerGracefulShutdown() }
        try await serviceGroup.run()
        logger.notice("shutdown.finished")
    }

    /// Starts a graceful shutdown (as SIGTERM does).
    public func shutdown() async {
        let serviceGroup = group.withLock { state -> ServiceGroup? in
            state.stopRequested = true
            return state.group
        }
        await serviceGroup?.triggerGracefulShutdown()
    }
}

/// A named service from a closure (also what `emulate` runs its emulator in).
public struct ClosureService: Service, CustomStringConvertible {
    public let description: String
    let body: @Sendable () async throws -> Void

    public init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        description = name
        self.body = body
    }

    public func run() async throws { try await body() }
}
