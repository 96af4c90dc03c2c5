import APIClient
import Foundation
import JSON
import Logging
import Synchronization
import Webhooks

/// One delivery attempt (control surface `GET /_emulator/webhooks`).
public struct AnthropicWebhookAttempt: Sendable, Equatable {
    /// `webhook-id`: the same on every attempt of one event (the receiver's dedupe key, §7.1).
    public var webhookID: String
    /// The envelope's own `id` (`wevt_…`), deliberately different from `webhookID` (§7.3).
    public var eventID: String
    public var eventType: String
    public var sessionID: String
    /// 1-based.
    public var attempt: Int
    /// HTTP status, or nil when the attempt got no answer.
    public var status: Int?
    /// Fixed text for transport failures (never header values).
    public var error: String?
    public var timestamp: Int64

    var json: JSONValue {
        .object([
            ("webhook_id", .string(webhookID)),
            ("event_id", .string(eventID)),
            ("type", .string(eventType)),
            ("session_id", .string(sessionID)),
            ("attempt", .int(attempt)),
            ("status", status.map { .int($0) } ?? .null),
            ("error", .optionalString(error)),
            ("timestamp", .number(String(timestamp))),
        ])
    }
}

/// Delivers signed webhook events (anthropic.md §7): Standard Webhooks v1 headers,
/// §7.4 envelope, at most `webhookMaxAttempts` attempts per event with the same
/// `webhook-id` and a fresh `webhook-timestamp` and signature on each, backoff between
/// attempts. Any 2xx ends the event; a 3xx ends it too (the real service disables the
/// endpoint and never follows redirects, §7.1). Runs in background tasks: a delivery
/// never delays the request that caused it.
final class AnthropicWebhookSender: Sendable {
    private let configuration: AnthropicEmulatorConfiguration
    private let transport: any HTTPTransport
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let sleeper: any Sleeper

    private struct State {
        /// Starts as `configuration.webhookURL`; settable once the receiving port is known.
        var url: URL?
        var attempts: [AnthropicWebhookAttempt] = []
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextTask: UInt64 = 0
        var closed = false
    }
    private let state: Mutex<State>

    init(configuration: AnthropicEmulatorConfiguration, transport: any HTTPTransport, logger: Logger,
         now: @escaping @Sendable () -> Date, sleeper: any Sleeper = ContinuousSleeper()) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.now = now
        self.sleeper = sleeper
        state = Mutex(State(url: configuration.webhookURL))
    }

    var url: URL? {
        get { state.withLock { $0.url } }
        set { state.withLock { $0.url = newValue } }
    }

    var attempts: [AnthropicWebhookAttempt] { state.withLock { $0.attempts } }

    /// Schedules one event and returns its `webhook-id`; nil (nothing sent) without a
    /// webhook URL or after shutdown.
    @discardableResult
    func deliver(eventType: String, sessionID: String) -> String? {
        guard let url = self.url else { return nil }
        let webhookID = RandomID.make(prefix: "msg_")
        let eventID = RandomID.make(prefix: "wevt_")
        let body = JSONValue.object([
            ("type", .string("event")),
            ("id", .string(eventID)),
            ("created_at", .string(RFC3339.format(now(), fractionDigits: 0))),
            ("data", .object([
                ("type", .string(eventType)),
                ("id", .string(sessionID)),
                ("organization_id", .string(configuration.organizationID)),
                ("workspace_id", .string(configuration.workspaceID)),
            ])),
        ]).bytes
        return state.withLock { s -> String? in
            guard !s.closed else { return nil }
            let key = s.nextTask
            s.nextTask &+= 1
            s.tasks[key] = Task { [self] in
                await self.run(url: url, webhookID: webhookID, eventID: eventID, eventType: eventType,
                               sessionID: sessionID, body: body)
                _ = self.state.withLock { $0.tasks.removeValue(forKey: key) }
            }
            return webhookID
        }
    }

    private func run(url: URL, webhookID: String, eventID: String, eventType: String, sessionID: String, body: [UInt8]) async {
        let backoff = Backoff(base: configuration.webhookBackoffBase, cap: configuration.webhookBackoffCap)
        let meta: Logger.Metadata = ["webhook.id": "\(webhookID)", "session.id": "\(sessionID)", "webhook.type": "\(eventType)"]
        for attempt in 1...configuration.webhookMaxAttempts {
            if Task.isCancelled { return }
            // §7.1: a fresh timestamp (and so a fresh signature) on every attempt.
            let timestamp = Int64(now().timeIntervalSince1970.rounded(.down))
            let signature: String
            do {
                signature = try WebhookSigner.signature(secret: configuration.webhookSigningKey, id: webhookID,
                                                        timestamp: timestamp, body: body)
            } catch {
                logger.error("anthropic.emulator.webhook.signing_failed", metadata: meta)
                return
            }
            let request = OutboundRequest(method: "POST", url: url, headers: [
                ("Content-Type", "application/json"),
                ("webhook-id", webhookID),
                ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", signature),
            ], body: Data(body), timeout: configuration.webhookAttemptTimeout)
            var record = AnthropicWebhookAttempt(webhookID: webhookID, eventID: eventID, eventType: eventType,
                                                 sessionID: sessionID, attempt: attempt, status: nil, error: nil,
                                                 timestamp: timestamp)
            do {
                let response = try await transport.send(request)
                record.status = response.status
            } catch let error as TransportError {
                if error == .cancelled { return }
                record.error = error.description
            } catch {
                record.error = "transport failed"
            }
            append(record)
            var attemptMeta = meta
            attemptMeta["webhook.attempt"] = "\(attempt)"
            attemptMeta["webhook.status"] = "\(record.status.map(String.init) ?? "none")"
            if let status = record.status, (200..<400).contains(status) {
                if status >= 300 { logger.warning("anthropic.emulator.webhook.redirect_not_followed", metadata: attemptMeta) }
                else { logger.info("anthropic.emulator.webhook.delivered", metadata: attemptMeta) }
                return
            }
            logger.warning("anthropic.emulator.webhook.attempt_failed", metadata: attemptMeta)
            guard attempt < configuration.webhookMaxAttempts else { break }
            do { try await sleeper.sleep(for: backoff.delay(attempt: attempt - 1, hint: nil)) } catch { return }
        }
        logger.warning("anthropic.emulator.webhook.dropped", metadata: meta)
    }

    private func append(_ attempt: AnthropicWebhookAttempt) {
        state.withLock { s in
            s.attempts.append(attempt)
            if s.attempts.count > configuration.maximumWebhookAttemptsKept { s.attempts.removeFirst() }
        }
    }

    /// Cancels pending deliveries and waits for their tasks to end.
    func shutdown() async {
        let tasks = state.withLock { s in
            s.closed = true
            return Array(s.tasks.values)
        }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
    }
}
