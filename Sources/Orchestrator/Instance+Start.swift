import APIClient
import Foundation
import HTTPServer
import Logging
import SandboxLifecycle
import Webhooks
import Synchronization
import WorkQueue

/// What can stop start-up; the CLI exits 2 for configuration problems, 1 otherwise.
public enum StartError: Error, CustomStringConvertible {
    case configuration(Configuration.Error)
    case server(String)
    case runner(String)
    case emulators(String)

    public var description: String {
        switch self {
        case .configuration(let e): "configuration: \(e)"
        case .server(let why): "cannot start the HTTP server: \(why)"
        case .runner(let why): "cannot load the runner bundle: \(why)"
        case .emulators(let why): "cannot start the emulators: \(why)"
        }
    }
}

extension Instance {
    /// Builds every part and binds the server; `run(handleSignals:)` then runs it.
    /// `workHandler` replaces the sandbox launcher as the drain's handler (tests of the
    /// queue half, and embedders with their own launcher). `localUpstreams` are served
    /// on the instance's own port; emulated mode (rule 46) needs them.
    public static func start(configuration original: Configuration, logger: Logger,
                             transport: any HTTPTransport = URLSessionTransport(),
                             workHandler: (any WorkHandler)? = nil,
                             localUpstreams: (any LocalUpstreams)? = nil) async throws(StartError) -> Instance {
        var configuration = original
        let metrics = OrchestratorMetrics()
        if configuration.emulated, localUpstreams == nil {
            throw .emulators("emulated mode needs the emulators passed in as local upstreams")
        }
        localUpstreams?.configure(&configuration)
        let bundle: RunnerBundle
        do {
            guard let directory = configuration.runnerSourceDirectory else { throw SandboxLifecycleError.invalidBundle("no runner folder") }
            bundle = try RunnerBundle.load(from: directory)
        } catch {
            throw .runner("\(error)")
        }

        // The router refers to the instance through a box filled right after the bind.
        let box = InstanceBox()
        var router = Router()
        if let localUpstreams { router.merge(localUpstreams.routes) }
        Probes.add(to: &router, box: box, metrics: metrics)
        if configuration.mode == .webhook {
            let verifier: WebhookVerifier
            do { verifier = try WebhookVerifier(secrets: configuration.webhookSigningKeys) } catch {
                throw .configuration(Configuration.Error("ANTHROPIC_WEBHOOK_SIGNING_KEY", "is not a valid whsec_ key"))
            }
            let dedupe = DeliveryDedupe(windowSeconds: configuration.webhookDedupeSeconds)
            var schedulePause: (@Sendable (String) -> Void)?
            if configuration.pauseOnIdleWebhook {
                schedulePause = { session in
                    guard let janitor = box.instance?.parts.withLock({ $0?.janitor }) else { return }
                    Task { await janitor.pauseWhenIdle(sessionID: session) }
                }
            }
            let endpoint = WebhookEndpoint(
                verifier: verifier, dedupe: dedupe,
                triggerDrain: { box.instance?.parts.withLock({ $0?.scheduler })?.trigger() },
                schedulePause: schedulePause,
                isStopping: { box.instance?.isStopping ?? true },
                metrics: metrics, activity: box.activity, logger: logger)
            router.add(.POST, configuration.webhookPath, maxBodyBytes: configuration.webhookMaxBodyBytes,
                       .sync { endpoint.handle($0) })
        }
        if let publicDirectory = configuration.publicDirectory {
            let files = StaticFiles(root: publicDirectory)
            router.add(.GET, "/", match: .prefix, files.handler)
            router.add(.HEAD, "/", match: .prefix, files.handler)
        }

        let server = HTTPServer(configuration: configuration.server, router: router, logger: logger, observer: metrics)
        do { try server.start() } catch {
            if case .badTrustedProxy = error as? HTTPServerError {
                throw .configuration(Configuration.Error("CMA_TRUSTED_PROXIES", "each entry must be an IP address or CIDR"))
            }
            throw .server("\(error)")
        }

        var bound = configuration
        bound.server.port = server.boundPort
        let instance = Instance(configuration: bound, metrics: metrics, activity: box.activity,
                                localUpstreams: localUpstreams, logger: logger, server: server)
        box.set(instance)

        // Rule 46: every endpoint points at the loopback upstreams.
        localUpstreams?.bound(to: instance.localURL, configuration: &configuration)
        instance.assemble(configuration: configuration, bundle: bundle, transport: transport, workHandler: workHandler)
        return instance
    }

    /// The parts that need the final addresses: clients, launcher, drain, janitor.
    private func assemble(configuration: Configuration, bundle: RunnerBundle, transport: any HTTPTransport,
                          workHandler: (any WorkHandler)?) {
        let api = AnthropicAPIConfiguration(baseURL: configuration.anthropicBaseURL,
                                            environmentID: configuration.environmentID,
                                            environmentKey: configuration.environmentKey)
        let workClient = WorkClient(configuration: api, transport: transport)
        var superserveConfiguration = SuperserveConfiguration(controlPlaneURL: configuration.superserveControlURL,
                                                              dataPlaneURL: configuration.superserveDataURL,
                                                              apiKey: configuration.superserveAPIKey)
        superserveConfiguration.ratePerSecond = configuration.superserveRatePerSecond
        superserveConfiguration.burst = configuration.superserveBurst
        superserveConfiguration.maxInFlight = configuration.superserveMaxInFlight
        let superserve = SuperserveClient(configuration: superserveConfiguration, transport: transport, logger: logger)
        var launcherConfiguration = configuration.launcher
        launcherConfiguration.environmentKey = configuration.environmentKey
        launcherConfiguration.anthropicBaseURL = configuration.anthropicBaseURL
        let locks = SessionLocks()
        let sandboxActivity = SandboxActivity()
        let launcher = SandboxLauncher(client: superserve, bundle: bundle, configuration: launcherConfiguration,
                                       locks: locks, activity: sandboxActivity, logger: logger)
        var janitorConfiguration = Janitor.Configuration(environmentID: configuration.environmentID)
        janitorConfiguration.idleTimeout = configuration.idlePause
        janitorConfiguration.interval = configuration.janitorInterval
        janitorConfiguration.runnerDirectory = launcherConfiguration.runnerDirectory
        janitorConfiguration.maxIdle = .seconds(launcherConfiguration.maxIdleSeconds)
        let janitor = Janitor(client: superserve, configuration: janitorConfiguration, locks: locks,
                              activity: sandboxActivity, logger: logger)
        let templateCheck = TemplateCheck(client: superserve, templateName: launcherConfiguration.template, logger: logger)

        var drainerConfiguration = DrainerConfiguration()
        drainerConfiguration.launchSlots = configuration.launchSlots
        drainerConfiguration.refuseSecretless = launcherConfiguration.requireWorkSecret
        let handler = LaunchHandler(launcher: launcher, client: workClient, metrics: metrics, activity: activity,
                                    logger: logger)
        let drainer = Drainer(client: workClient, handler: workHandler ?? handler, configuration: drainerConfiguration, logger: logger,
                              mayClaim: { [weak self] in self?.mayClaim ?? false })
        let metrics = self.metrics
        let scheduler = configuration.mode == .webhook
            ? DrainScheduler(interval: configuration.drainInterval, minimumGap: configuration.drainMinimumGap) {
                metrics.drains.increment()
                await drainer.drain()
            }
            : nil
        parts.withLock {
            $0 = Parts(workClient: workClient, drainer: drainer, scheduler: scheduler, launcher: launcher,
                       templateCheck: templateCheck, janitor: janitor)
        }
    }
}

/// Late reference from the router's handlers to the instance they belong to. Weak:
/// the instance owns the server, whose router owns these handlers.
final class InstanceBox: Sendable {
    private struct Weak { weak var instance: Instance? }
    private let stored = Mutex(Weak())
    let activity = ActivityLog()
    var instance: Instance? { stored.withLock { $0.instance } }
    func set(_ instance: Instance) { stored.withLock { $0.instance = instance } }
}
