import APIClient
import Foundation
import HTTPServer
import Logging
import SandboxLifecycle
import ServiceLifecycle
import Synchronization
import WorkQueue

/// One running orchestrator: the HTTP server (probes, metrics, status page, webhook
/// route, and in emulated mode the `LocalUpstreams` passed in), the drain in its configured shape,
/// the janitor and the template check, run as swift-service-lifecycle services.
///
/// The server binds first so that `--port 0` and emulated mode know their address;
/// the parts that need that address are built right after and published through
/// `parts`. Handlers that run before then see "starting".
public final class Instance: Sendable {
    struct Parts: Sendable {
        let workClient: WorkClient
        let drainer: Drainer
        let scheduler: DrainScheduler?
        let launcher: SandboxLauncher
        let templateCheck: TemplateCheck
        let janitor: Janitor
    }

    public let configuration: Configuration
    public let metrics: OrchestratorMetrics
    public let activity: ActivityLog
    let localUpstreams: (any LocalUpstreams)?
    let logger: Logger
    let server: HTTPServer
    let parts = Mutex<Parts?>(nil)
    let stopping = Atomic<Bool>(false)
    let startedAt = ContinuousClock.now
    private let group = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    public static let version = "0.1.0"

    /// The bound port (useful with port 0).
    public var port: Int { server.boundPort }

    /// Address the server can be reached at from this host.
    public var localURL: URL {
        let host = ["0.0.0.0", "::", ""].contains(configuration.server.host) ? "127.0.0.1" : configuration.server.host
        let shown = host.contains(":") ? "[\(host)]" : host
        return URL(string: "http://\(shown):\(port)")!
    }

    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    init(configuration: Configuration, metrics: OrchestratorMetrics, activity: ActivityLog,
         localUpstreams: (any LocalUpstreams)?, logger: Logger, server: HTTPServer) {
        self.configuration = configuration
        self.metrics = metrics
        self.activity = activity
        self.localUpstreams = localUpstreams
        self.logger = logger
        self.server = server
    }

    /// Runs every service until a graceful shutdown (SIGTERM/SIGINT when
    /// `handleSignals`, or `shutdown()`), then stops them in reverse order: the stop
    /// flag (readyz 503, webhooks 503), claiming work, the janitor and template check,
    /// the HTTP server (in-flight requests finish within the grace period), the local upstreams.
    public func run(handleSignals: Bool) async throws {
        guard let parts = parts.withLock({ $0 }) else { return }
        var services: [any Service] = []
        if let localUpstreams {
            services.append(ClosureService("emulators") {
                try? await gracefulShutdown()
                await localUpstreams.shutdown()
            })
        }
        let server = self.server
        services.append(ClosureService("http-server") {
            try? await gracefulShutdown()
            await server.shutdown()
        })
        services.append(ClosureService("janitor") {
            await cancelWhenGracefulShutdown { await parts.janitor.run() }
        })
        services.append(ClosureService("template-check") {
            // Rule 47: until it passes; then it has nothing left to do.
            await cancelWhenGracefulShutdown { await parts.templateCheck.run() }
            try? await gracefulShutdown()
        })
        if let scheduler = parts.scheduler {
            services.append(ClosureService("drain-scheduler") {
                await cancelWhenGracefulShutdown { await scheduler.run() }
                await parts.drainer.waitForLaunches()
            })
        } else {
            services.append(ClosureService("poll-loop") {
                await cancelWhenGracefulShutdown { await parts.drainer.runForever() }
                await parts.drainer.waitForLaunches()
            })
        }
        services.append(ClosureService("stop-flag") { [self] in
            try? await gracefulShutdown()
            stopping.store(true, ordering: .releasing)
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

    // MARK: readiness

    /// Why the instance is not ready to take work; empty when it is (`/readyz`).
    public var notReadyReasons: [String] {
        var reasons: [String] = []
        if isStopping { reasons.append("shutting down") }
        guard let parts = parts.withLock({ $0 }) else { return reasons + ["starting"] }
        if let reason = parts.templateCheck.status.reason { reasons.append(reason) }
        let health = parts.drainer.health
        if let error = health.configurationError {
            reasons.append("work queue: \(error)")
        } else if let error = health.lastError, let at = health.lastErrorAt,
                  health.lastSuccess.map({ $0 < at }) ?? true {
            reasons.append("work queue unreachable: \(error)")
        }
        return reasons
    }

    /// Rule 47: nothing is claimed before the template check passes, nor while stopping.
    var mayClaim: Bool {
        guard !isStopping, let parts = parts.withLock({ $0 }) else { return false }
        return parts.templateCheck.status.isReady
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
