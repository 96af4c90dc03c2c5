import Foundation
import HTTPServer
import Logging
import ServiceLifecycle
import Synchronization

/// One running orchestrator: the HTTP server (probes, metrics, status page, webhook
/// route, and in emulated mode the `LocalUpstreams` passed in) and one work pipeline
/// per served environment (drain in its configured shape, launcher, janitor, template
/// check, reconciler), run as swift-service-lifecycle services: each service runs its
/// part of every environment at once.
///
/// `start` binds, then builds, then serves (`OrchestratorApp+Start.swift`): every part
/// exists before the first request, so handlers hold the parts they use directly.
public final class OrchestratorApp: Sendable {
    /// The process's settings (server, logs, limits), which are also the first
    /// environment's; `environments` has every environment's own.
    public let configuration: Configuration
    public let environments: [Configuration]
    public let metrics: OrchestratorMetrics
    public let activity: ActivityLog
    let pipelines: WorkPipelines
    /// The first environment's pipeline (the only one without a configuration file).
    var pipeline: WorkPipeline { pipelines.primary }
    let stop: StopFlag
    let probes: Probes
    let localUpstreams: (any LocalUpstreams)?
    let logger: Logger
    let server: HTTPServer
    let accessLog: AccessLogWriter?
    private let group = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    public static let version = "0.1.0"

    init(environments: [Configuration], metrics: OrchestratorMetrics, activity: ActivityLog, pipelines: WorkPipelines,
         stop: StopFlag, probes: Probes, localUpstreams: (any LocalUpstreams)?, logger: Logger, server: HTTPServer,
         accessLog: AccessLogWriter?) {
        self.configuration = environments[0]
        self.environments = environments
        self.metrics = metrics
        self.activity = activity
        self.pipelines = pipelines
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
    public var notReadyReasons: [String] { pipelines.notReadyReasons(stop: stop) }

    /// Runs every service until a graceful shutdown (SIGTERM/SIGINT when
    /// `handleSignals`, or `shutdown()`), then stops them in reverse order, the whole
    /// stop bounded by `CMA_SHUTDOWN_GRACE_SECONDS` (`ShutdownPlan`): the stop flag
    /// (readyz 503, webhooks 503, no more claims), the launches (finished, or cancelled
    /// at the deadline with their items force-stopped), pending stops and metadata
    /// writes, the reconciler, the template check and the janitor, the HTTP server,
    /// the local upstreams. Returns normally (exit 0).
    public func run(handleSignals: Bool) async throws {
        let pipelines = self.pipelines
        let plan = ShutdownPlan(grace: configuration.shutdownGrace)
        let stop = self.stop
        let logger = self.logger
        // Launches end as the plan says, once nothing claims any more: every
        // environment at once, against the same deadlines.
        let finishWork: @Sendable () async -> Void = {
            let since = stop.since ?? .now
            await pipelines.concurrently { pipeline in
                await pipeline.finishForShutdown(plan: plan, since: since, logger: pipeline.logger)
            }
        }
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
            await cancelWhenGracefulShutdown { await pipelines.concurrently { await $0.janitor.run() } }
        })
        if pipelines.all.contains(where: { $0.warmPool != nil }) {
            services.append(ClosureService("warm-pool") {
                await cancelWhenGracefulShutdown {
                    await pipelines.concurrently { pipeline in
                        guard let pool = pipeline.warmPool else { return }
                        // Rule 47: no pool sandbox before the environment's template is
                        // ready (creates would 409).
                        while !pipeline.templateCheck.status.isReady, !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(200))
                        }
                        await pool.run()
                    }
                }
            })
        }
        services.append(ClosureService("template-check") {
            // Rule 47, per environment: until it passes; then it has nothing left to do
            // but start that environment's first drain at once: the start-up drain ran
            // gated, and the timer is 30 s away. A missing template keeps only its own
            // environment waiting.
            await cancelWhenGracefulShutdown {
                await pipelines.concurrently { pipeline in
                    await pipeline.templateCheck.run()
                    if pipeline.templateCheck.status.isReady, !stop.isSet, !Task.isCancelled {
                        pipeline.logger.info("template.ready_drain")
                        pipeline.scheduler?.requestDrain()
                    }
                }
            }
            try? await gracefulShutdown()
        })
        services.append(ClosureService("reconciler") {
            await cancelWhenGracefulShutdown {
                await pipelines.concurrently { pipeline in
                    let templateCheck = pipeline.templateCheck
                    await pipeline.reconciler.run(mayRun: { templateCheck.status.isReady && !stop.isSet })
                }
            }
        })
        if configuration.mode == .webhook {
            services.append(ClosureService("drain-scheduler") {
                await cancelWhenGracefulShutdown { await pipelines.concurrently { await $0.scheduler?.run() } }
                await finishWork()
            })
        } else {
            services.append(ClosureService("poll-loop") {
                await cancelWhenGracefulShutdown { await pipelines.concurrently { await $0.drainer.runForever() } }
                await finishWork()
            })
        }
        services.append(ClosureService("stop-flag") { [stop, metrics, logger] in
            try? await gracefulShutdown()
            stop.set()
            metrics.ready.set(0)
            logger.notice("shutdown.started", metadata: ["shutdown.grace_seconds": "\(plan.grace.secondsDouble)"])
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
