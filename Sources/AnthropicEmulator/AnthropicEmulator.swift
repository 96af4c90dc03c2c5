import APIClient
import Faults
import Foundation
import HTTPServer
import Logging
import Synchronization

/// A loopback emulator of the Anthropic API as the official SDK speaks it
/// (anthropic.md): the environment work queue (§2, §8.1), scripted sessions with their
/// event stream (§8) and a Standard Webhooks sender (§7). It runs on the project's own
/// HTTP server: mount `router` (alone, or merged into the orchestrator's router in
/// `serve --emulated`). Paths: `/v1/environments/…`, `/v1/sessions/…` and the control
/// surface `/_emulator/{sessions,work,faults,webhooks}`.
public final class AnthropicEmulator: Sendable {
    public let configuration: AnthropicEmulatorConfiguration
    let logger: Logger
    let state: Mutex<AnthropicEmulatorState>
    /// Wakes long polls (`env:<id>`) and event streams (`session:<id>`).
    let signal = WakeSignal()
    public let faults = FaultInjector()
    let webhooks: AnthropicWebhookSender
    let now: @Sendable () -> Date

    public convenience init(configuration: AnthropicEmulatorConfiguration, logger: Logger) {
        self.init(configuration: configuration, logger: logger, transport: URLSessionTransport())
    }

    /// `transport` carries webhook deliveries, `sleeper` times the backoff between
    /// attempts, `now` is the clock of every timestamp.
    public init(configuration: AnthropicEmulatorConfiguration, logger: Logger, transport: any HTTPTransport,
                sleeper: any Sleeper = ContinuousSleeper(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.logger = logger
        self.now = now
        state = Mutex(AnthropicEmulatorState(configuration: configuration))
        webhooks = AnthropicWebhookSender(configuration: configuration, transport: transport, logger: logger, now: now,
                                          sleeper: sleeper)
    }

    /// `/v1/environments`, `/v1/sessions` and `/_emulator/{sessions,work,faults,webhooks}`.
    /// Every handler is `.async`: long polls and streams wait on continuations, and
    /// injected latency must not hold a connection queue.
    public var router: Router {
        var r = Router()
        let api = Handler.async { [self] request in await self.handleAPI(request) }
        r.add(nil, "/v1/environments", match: .prefix, api)
        r.add(nil, "/v1/sessions", match: .prefix, api)
        // Setup calls (environments and agents create); exact routes win over the prefix above.
        let setup = Handler.async { [self] request in await self.handleSetup(request) }
        r.add(nil, "/v1/environments", match: .exact, setup)
        r.add(nil, "/v1/agents", match: .exact, setup)
        r.add(.GET, "/_emulator/environments", match: .exact, Handler.async { [self] _ in self.setupControl() })
        let control = Handler.async { [self] request in await self.handleControl(request) }
        for path in ["/_emulator/sessions", "/_emulator/work", "/_emulator/faults", "/_emulator/webhooks", "/_emulator/environments"] {
            r.add(nil, path, match: .prefix, control)
        }
        return r
    }

    /// Ends long polls and event streams and stops pending webhook retries.
    public func shutdown() async {
        signal.close()
        await webhooks.shutdown()
    }

    /// A session the emulator created, with its queued work item.
    public struct CreatedSession: Sendable, Equatable {
        public let sessionID: String
        public let workID: String
    }

    /// Creates a scripted session, enqueues its work item (waking long polls) and, when
    /// a webhook URL is configured, delivers `session.status_run_started`
    /// asynchronously (§7; delivery never delays the caller).
    @discardableResult
    public func createSession(environmentID: String? = nil, metadata: [String: String] = [:],
                              toolCalls: [AnthropicScriptedToolCall] = [], end: AnthropicSessionEnd = .terminate,
                              workMetadata: [String: String] = [:],
                              dataMetadata: [String: String]? = nil,
                              workSecret: Bool = true) throws(AnthropicEmulatorError) -> CreatedSession {
        let at = now()
        let created = try state.withLock { s throws(AnthropicEmulatorError) in
            try s.createSession(environmentID: environmentID, metadata: metadata, toolCalls: toolCalls, end: end,
                                workMetadata: workMetadata, dataMetadata: dataMetadata, workSecret: workSecret, now: at)
        }
        let env = environmentID ?? configuration.environmentID
        logger.info("anthropic.emulator.session.created",
                    metadata: ["session.id": "\(created.sessionID)", "work.id": "\(created.workID)", "environment.id": "\(env)"])
        signal.notify(Self.queueKey(env))
        webhooks.deliver(eventType: "session.status_run_started", sessionID: created.sessionID)
        return CreatedSession(sessionID: created.sessionID, workID: created.workID)
    }

    /// A new run of an existing session (as after a user message to an idle session):
    /// enqueues a new work item for it, wakes its streams and long polls, and delivers
    /// `session.status_run_started`. Returns the new work id.
    @discardableResult
    public func startRun(sessionID: String, toolCalls: [AnthropicScriptedToolCall] = [],
                         end: AnthropicSessionEnd = .terminate) throws(AnthropicEmulatorError) -> String {
        let at = now()
        let (workID, env) = try state.withLock { s throws(AnthropicEmulatorError) in
            let id = try s.startRun(sessionID: sessionID, toolCalls: toolCalls, end: end, now: at)
            return (id, s.sessions[sessionID]?.environmentID ?? configuration.environmentID)
        }
        logger.info("anthropic.emulator.run.started", metadata: ["session.id": "\(sessionID)", "work.id": "\(workID)"])
        signal.notify(Self.queueKey(env))
        signal.notify(Self.sessionKey(sessionID))
        webhooks.deliver(eventType: "session.status_run_started", sessionID: sessionID)
        return workID
    }

    /// Enqueues a `healthcheck` work item (§3; orchestrator rule 8).
    @discardableResult
    public func enqueueHealthcheck(environmentID: String? = nil, metadata: [String: String] = [:]) throws(AnthropicEmulatorError) -> String {
        let at = now()
        let id = try state.withLock { s throws(AnthropicEmulatorError) in
            try s.enqueueHealthcheck(environmentID: environmentID, metadata: metadata, now: at)
        }
        signal.notify(Self.queueKey(environmentID ?? configuration.environmentID))
        logger.info("anthropic.emulator.healthcheck.enqueued", metadata: ["work.id": "\(id)"])
        return id
    }

    /// Sends a webhook event for a session (any `data.type`, §7.4), e.g. for a demo
    /// trigger. Returns the `webhook-id`, or nil when no webhook URL is configured.
    @discardableResult
    public func deliverWebhook(eventType: String, sessionID: String) -> String? {
        webhooks.deliver(eventType: eventType, sessionID: sessionID)
    }

    /// Where webhooks go (starts as `configuration.webhookURL`). Settable so that
    /// `serve --emulated` can point it at its own `/webhooks` once the port is bound;
    /// nil stops further deliveries.
    public var webhookURL: URL? {
        get { webhooks.url }
        set { webhooks.url = newValue }
    }

    /// A copy of the whole state, for tests and the control surface.
    public var snapshot: AnthropicEmulatorState { state.withLock { $0 } }

    /// Delivery attempts so far, oldest first.
    public var webhookAttempts: [AnthropicWebhookAttempt] { webhooks.attempts }

    /// Long polls of an environment parked right now, waiting for work.
    public func waitingPolls(environmentID: String) -> Int { signal.waiterCount(Self.queueKey(environmentID)) }

    static func queueKey(_ environmentID: String) -> String { "env:" + environmentID }
    static func sessionKey(_ sessionID: String) -> String { "session:" + sessionID }
}
