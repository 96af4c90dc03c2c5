import Foundation

/// Settings of the Anthropic emulator. Every default is an obvious placeholder, never
/// shaped like a real credential (brief: secrets).
public struct AnthropicEmulatorConfiguration: Sendable {
    /// The environment whose work queue the emulator serves.
    public var environmentID = "env_emulated"
    /// Its environment key (work routes, anthropic.md §1).
    public var environmentKey = "sk-ant-oat01-EMULATOR"
    /// Further environments (id → key), so that "another environment's key" (403) can be exercised.
    public var additionalEnvironments: [String: String] = [:]
    /// Organisation API key: the only credential for work retrieve/update (anthropic.md §2).
    public var apiKey = "sk-ant-api03-EMULATOR"
    /// Standard Webhooks signing key (`whsec_` + base64) for outbound deliveries (§7.2).
    /// The default is base64 of 32 bytes 0x45 ("E…"): valid and obviously fake.
    public var webhookSigningKey = "whsec_RUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUU="
    /// Where `session.status_run_started` is delivered; nil = no deliveries.
    public var webhookURL: URL?
    /// `ttl_seconds` reported by heartbeats (anthropic.md §2.3, §11.3).
    public var heartbeatTTLSeconds = 60
    /// Default `reclaim_older_than_ms` when a poll omits it (anthropic.md §2, server default 5000).
    public var defaultReclaimOlderThanMilliseconds = 5_000
    /// Window over which distinct `Anthropic-Worker-ID`s count as `workers_polling` (§2).
    public var workersPollingWindow: Duration = .seconds(30)
    /// SSE ping interval while a session stream is idle (the SDK's read timeout is 600 s, §8).
    public var ssePingInterval: Duration = .seconds(15)
    /// Webhook delivery: at most this many attempts per event (§7.1: 3).
    public var webhookMaxAttempts = 3
    /// Backoff between webhook attempts: `min(cap, base × 2^n) × U(0.5, 1]`. The real
    /// service waits 5–120 s (§7.1); the emulator defaults are short so that demos and
    /// tests see retries within seconds.
    public var webhookBackoffBase: Duration = .milliseconds(500)
    public var webhookBackoffCap: Duration = .seconds(5)
    /// Deadline of one webhook attempt (style habit 8).
    public var webhookAttemptTimeout: Duration = .seconds(5)
    /// `organization_id` / `workspace_id` placed in webhook envelopes (§7.4).
    public var organizationID = "org_emulated"
    public var workspaceID = "wrkspc_emulated"
    /// Bounds on what the emulator keeps: history of delivery attempts and calls per item.
    public var maximumWebhookAttemptsKept = 1_000
    public var maximumCallsKeptPerItem = 200

    public init() {}

    /// Checks the values at start-up (style habit 13); the message names the field.
    public func validate() throws(AnthropicEmulatorError) {
        func fail(_ m: String) -> AnthropicEmulatorError { .invalidConfiguration(m) }
        if environmentID.isEmpty { throw fail("environmentID must not be empty") }
        if environmentKey.isEmpty { throw fail("environmentKey must not be empty") }
        if apiKey.isEmpty { throw fail("apiKey must not be empty") }
        if !webhookSigningKey.hasPrefix("whsec_") || Data(base64Encoded: String(webhookSigningKey.dropFirst(6))) == nil {
            throw fail("webhookSigningKey must be whsec_ followed by standard base64")
        }
        if heartbeatTTLSeconds < 1 { throw fail("heartbeatTTLSeconds must be at least 1") }
        if defaultReclaimOlderThanMilliseconds < 1 { throw fail("defaultReclaimOlderThanMilliseconds must be at least 1") }
        if ssePingInterval <= .zero { throw fail("ssePingInterval must be positive") }
        if webhookMaxAttempts < 1 { throw fail("webhookMaxAttempts must be at least 1") }
        if webhookAttemptTimeout <= .zero { throw fail("webhookAttemptTimeout must be positive") }
        for (id, key) in additionalEnvironments where id.isEmpty || key.isEmpty || id == environmentID {
            throw fail("additionalEnvironments entries need a distinct, non-empty id and a key")
        }
        let keys = [environmentKey, apiKey] + Array(additionalEnvironments.values)
        if Set(keys).count != keys.count { throw fail("environment keys and apiKey must all differ") }
    }

    /// Every environment the emulator knows, id → key.
    var environments: [String: String] {
        var all = additionalEnvironments
        all[environmentID] = environmentKey
        return all
    }
}

/// The emulator's one error type: configuration problems at start-up and the
/// HTTP-level errors its handlers answer with.
public enum AnthropicEmulatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// An answer in the API's error envelope (anthropic.md §2 error table).
    case api(AnthropicAPIFailure)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): "invalid Anthropic emulator configuration: \(m)"
        case .api(let f): "\(f.status) \(f.type): \(f.message)"
        }
    }

    static func invalidRequest(_ message: String, status: Int = 400) -> Self {
        .api(AnthropicAPIFailure(status: status, type: "invalid_request_error", message: message))
    }
    static func notFound(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 404, type: "not_found_error", message: message))
    }
    static func authentication(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 401, type: "authentication_error", message: message))
    }
    static func permission(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 403, type: "permission_error", message: message))
    }
    /// 409s carry `x-should-retry: false` so the SDK sends one request, not three (§2.4).
    static func conflict(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 409, type: "invalid_request_error", message: message, shouldRetry: false))
    }
}

/// Status, `error.type`, message and optional `error.details` of an error answer.
/// Messages are constant texts plus ids; they never carry a credential.
public struct AnthropicAPIFailure: Sendable, Equatable {
    public var status: Int
    public var type: String
    public var message: String
    public var details: EmulatorSharedJSON?
    /// Sent as `x-should-retry` when set (anthropic.md §4).
    public var shouldRetry: Bool?
    public var retryAfterSeconds: Int?

    public init(status: Int, type: String, message: String, details: EmulatorSharedJSON? = nil,
                shouldRetry: Bool? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.details = details
        self.shouldRetry = shouldRetry
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// `error.type` for a status (anthropic.md §2 table; errors page).
    public static func errorType(for status: Int) -> String {
        switch status {
        case 400, 409, 412: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 408: "timeout_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 529: "overloaded_error"
        default: "api_error"
        }
    }

    /// `{"type":"error","error":{"type","message"[,"details"]},"request_id"}`.
    func envelope(requestID: String) -> EmulatorSharedJSON {
        var error: [(String, EmulatorSharedJSON)] = [("type", .string(type)), ("message", .string(message))]
        if let details { error.append(("details", details)) }
        return .object([("type", .string("error")), ("error", .object(error)), ("request_id", .string(requestID))])
    }
}
