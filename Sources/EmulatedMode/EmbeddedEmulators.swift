import AnthropicEmulator
import Foundation
import HTTPServer
import LocalSandboxes
import Logging
import Orchestrator
import SuperserveEmulator

/// `serve --emulated`: both emulators on the orchestrator's own port (rule 46), with
/// local sandboxes whose `python3` is a venv holding `anthropic==2.10.0`, created
/// under `.build/` on first use so a fresh machine needs nothing installed by hand.
/// Passed to `OrchestratorApp.start` as its `LocalUpstreams`.
public final class EmbeddedEmulators: LocalUpstreams {
    public let anthropic: AnthropicEmulator
    public let superserve: SuperserveEmulator
    /// The Superserve emulator's API key; local only, never a real credential.
    public static let superserveAPIKey = "ss_live_emulated_local"
    /// The runner's requirement (runner/requirements.txt).
    public static let runnerRequirements = ["anthropic==2.10.0"]

    public init(configuration: Configuration, logger: Logger) throws {
        let python: URL
        if let bin = configuration.emulatorPythonBinDirectory {
            python = bin
        } else {
            let venv = configuration.emulatorVenvDirectory
                ?? URL(fileURLWithPath: ".build/runner-venv")
            let environment = PythonEnvironment(directory: venv, requirements: Self.runnerRequirements)
            logger.info("emulator.python.ensure", metadata: ["venv.path": "\(venv.path)"])
            python = try environment.ensure().deletingLastPathComponent()
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        var anthropicConfiguration = AnthropicEmulatorConfiguration()
        anthropicConfiguration.environmentID = configuration.environmentID
        anthropic = AnthropicEmulator(configuration: anthropicConfiguration, logger: quiet)

        let root = configuration.emulatorSandboxesDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("cma-sandboxes")
        var superserveConfiguration = SuperserveEmulatorConfiguration(apiKey: Self.superserveAPIKey, sandboxesRoot: root)
        superserveConfiguration.templateName = configuration.launcher.template
        superserveConfiguration.templateWorkdir = configuration.launcher.agentWorkdir
        superserveConfiguration.pythonBinDirectory = python
        // superserve.md §7's limits unless CMA_EMULATOR_* raise or lift them.
        let limits = try EmulatorLimits.from(environment: configuration.emulatorLimitVariables)
        limits.apply(to: &superserveConfiguration)
        logger.notice("emulator.limits", metadata: limits.metadata(superserveConfiguration))
        superserve = SuperserveEmulator(configuration: superserveConfiguration, logger: quiet)
    }

    /// Every emulator route (`/v1/…`, `/sandboxes…`, `/templates…`, `/files`, `/exec`,
    /// `/_emulator/…`), merged into the orchestrator's router.
    public var routes: Router {
        var router = anthropic.router
        router.merge(superserve.router)
        return router
    }

    /// The emulators' own keys replace whatever the environment held.
    public func configure(_ configuration: inout Configuration) {
        configuration.webhookSigningKeys = [signingKey]
        configuration.environmentKey = environmentKey
        configuration.superserveAPIKey = Self.superserveAPIKey
    }

    /// Rule 46: every endpoint points at the loopback emulators, and the Anthropic
    /// emulator delivers its webhooks to the instance's route (webhook mode only).
    public func bound(to url: URL, configuration: inout Configuration) {
        configuration.anthropicBaseURL = url
        // Rule 27: the runner must reach the emulator, so its base URL is configured.
        configuration.launcher.anthropicBaseURL = url
        configuration.superserveControlURL = url
        configuration.superserveDataURL = url
        anthropic.webhookURL = configuration.mode == .webhook
            ? url.appendingPathComponent(String(configuration.webhookPath.dropFirst())) : nil
    }

    public var signingKey: String { anthropic.configuration.webhookSigningKey }
    public var environmentKey: String { anthropic.configuration.environmentKey }

    public func shutdown() async {
        anthropic.webhookURL = nil
        await anthropic.shutdown()
        await superserve.shutdown()
    }
}
