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
    public var webhookSigningKey = "whsec_ZW11bGF0b3Itc2lnbmluZy1rZXktbm90LXNlY3JldCE="
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
