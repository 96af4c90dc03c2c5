import AnthropicEmulator
import Foundation
import HTTPServer
import Logging
import Orchestrator
import ServiceLifecycle
import SuperserveEmulator

/// `cma-orchestrator emulate anthropic|superserve`: one emulator on its own port,
/// with `/healthz`, until SIGTERM or SIGINT.
public enum StandaloneEmulator {
    public struct AnthropicOptions: Sendable {
        public var host = "127.0.0.1"
        public var port = 8081
        public var environmentID: String?
        public var environmentKey: String?
        public var signingKey: String?
        public var webhookURL: URL?
        /// Further environments (id → key), for a `serve --config` of several environments.
        public var additionalEnvironments: [String: String] = [:]
        public init() {}
    }

    public struct SuperserveOptions: Sendable {
        public var host = "127.0.0.1"
        public var port = 8082
        public var apiKey: String?
        public var sandboxes: URL?
        public var template: String?
        public var pythonBin: URL?
        /// superserve.md §7 limits; nil fields keep the service defaults (20 req/s,
        /// burst 40, 50 active sandboxes). See `EmulatorLimits`.
        public var limits = EmulatorLimits()
        public init() {}
    }

    public static func runAnthropic(_ options: AnthropicOptions, logger: Logger) async throws {
        var configuration = AnthropicEmulatorConfiguration()
        if let id = options.environmentID { configuration.environmentID = id }
        if let key = options.environmentKey { configuration.environmentKey = key }
        if let key = options.signingKey { configuration.webhookSigningKey = key }
        configuration.webhookURL = options.webhookURL
        configuration.additionalEnvironments = options.additionalEnvironments
        try configuration.validate()
        let emulator = AnthropicEmulator(configuration: configuration, logger: logger)
        try await serve(router: emulator.router, host: options.host, port: options.port, name: "anthropic", logger: logger) {
            await emulator.shutdown()
        }
    }

    public static func runSuperserve(_ options: SuperserveOptions, logger: Logger) async throws {
        let root = options.sandboxes ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("cma-sandboxes-\(getpid())")
        var configuration = SuperserveEmulatorConfiguration(apiKey: options.apiKey ?? EmbeddedEmulators.superserveAPIKey,
                                                            sandboxesRoot: root)
        if let template = options.template { configuration.templateName = template }
        configuration.pythonBinDirectory = options.pythonBin
        configuration.removeSandboxesOnShutdown = options.sandboxes == nil
        options.limits.apply(to: &configuration)
        logger.notice("emulator.limits", metadata: options.limits.metadata(configuration))
        let emulator = SuperserveEmulator(configuration: configuration, logger: logger)
        try await serve(router: emulator.router, host: options.host, port: options.port, name: "superserve", logger: logger) {
            await emulator.shutdown()
        }
    }

    static func serve(router emulatorRouter: Router, host: String, port: Int, name: String, logger: Logger,
                      stop: @escaping @Sendable () async -> Void) async throws {
        var router = emulatorRouter
        router.add(.GET, "/healthz", .sync { _ in Response.text("ok\n") })
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.limits.maxBodyBytes = 64 << 20
        // A test double: room for a few uploads of that size at once.
        configuration.bufferBudgetBytes = 4 * configuration.limits.maxBodyBytes
        configuration.idleTimeout = .seconds(120)
        let server = HTTPServer(configuration: configuration, router: router, logger: logger)
        try server.start()
        logger.notice("emulator.listening", metadata: ["emulator.name": "\(name)", "http.port": "\(server.boundPort)"])
        let group = ServiceGroup(services: [
            ClosureService("emulator-\(name)") {
                try? await gracefulShutdown()
                await stop()
                await server.shutdown()
            },
        ], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
