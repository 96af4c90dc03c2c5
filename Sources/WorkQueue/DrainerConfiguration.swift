import Foundation

/// Limits and timings of the drainer (anthropic.md §5, rules 2, 6, 34). Each has
/// a name and a default for the README's configuration table.
public struct DrainerConfiguration: Sendable {
    /// Rule 6: concurrent launches; a poll happens only while one is free.
    public var launchSlots = 16
    /// Both shapes send `reclaim_older_than_ms=2000` (rule 2).
    public var reclaimOlderThanMs = 2000
    /// Always-on shape: `block_ms=999` (the server cap). The drain shape omits it.
    public var alwaysOnBlockMs = 999
    /// Always-on shape: sleep U(lower, upper) seconds after an empty poll (rule 2).
    public var emptyPollSleep: ClosedRange<Double> = 1...3
    /// Rule 34: backoff cap for the poll loop (poll and ack counters are separate).
    public var pollBackoffCap: Duration = .seconds(60)
    /// Drain shape: transient failures in a row (poll and ack counted separately)
    /// before the drain gives up; the 30 s timer drain (rule 42) tries again later.
    public var drainMaxFailures = 3
    /// Always-on shape: how often to re-check the "may claim" gate (rule 47) while closed.
    public var gateRecheckInterval: Duration = .seconds(1)
    /// Rule 26 operator switch: force-stop items whose secret has no usable sessions token.
    public var refuseSecretless = false
    /// Always-on shape: wait after a fatal poll answer (401/403/404) before polling again
    /// (`CMA_POLL_FATAL_RETRY_SECONDS`): slow, but a fixed key recovers without a restart.
    public var fatalPollRetryInterval: Duration = .seconds(60)
    /// How long a failed force-stop is retried (`CMA_FORCE_STOP_RETRY_SECONDS`, rule 37).
    public var forceStopRetryWindow: Duration = .seconds(600)

    public init() {}
}

/// What `/readyz` and `/status` show about the queue. No secrets: error texts
/// are `WorkQueueError.description` (status codes and API error types).
public struct DrainHealth: Sendable, Equatable {
    /// Wall-clock time of the last successful poll.
    public var lastSuccess: Date?
    /// Text of the most recent failure (kept after a later success; compare the
    /// times: `lastErrorAt` > `lastSuccess` means it is current).
    public var lastError: String?
    public var lastErrorAt: Date?
    /// Set by a fatal poll answer (rule 33): a configuration problem (bad key, wrong
    /// environment, …), cleared by the next successful poll. Shown on `/status`; the
    /// always-on loop keeps retrying slowly.
    public var configurationError: String?
    /// Launches currently holding a slot.
    public var launchesInFlight: Int = 0
    /// True while a drain or the always-on loop is polling.
    public var polling = false

    public init() {}
}
