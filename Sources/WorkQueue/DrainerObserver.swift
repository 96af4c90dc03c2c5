/// Hooks for metrics and readiness on the drainer, implemented by the app (as
/// `HTTPServerObserver` is for the server). Arguments are bounded label values:
/// no work, session or sandbox id reaches an observer.
public protocol DrainerObserver: Sendable {
    /// A poll, ack or stop failed; `disposition` is rule 33's verdict on it.
    func workQueueCallFailed(_ call: AnthropicCall, _ disposition: ErrorDisposition)
    /// An acked item was force-stopped (rules 7, 8, 26, 37); `outcome` is nil when
    /// the stop call itself failed.
    func itemForceStopped(_ reason: ForceStopReason, outcome: StopOutcome?)
    /// `Drainer.health` changed (a poll succeeded or failed, a configuration error).
    func drainHealthChanged()
    /// Force-stops being retried now (`PendingStops`).
    func pendingStopsChanged(_ count: Int)
}

extension DrainerObserver {
    public func pendingStopsChanged(_ count: Int) {}
}

/// Why an acked item was force-stopped, as a bounded class of the logged reason.
public enum ForceStopReason: String, Sendable, CaseIterable {
    /// The ack failed fatally (rule 7).
    case ackFailed = "ack_failed"
    /// Not a session item, or a session item without an id (rule 8).
    case notSession = "not_session"
    /// No sessions token and `refuseSecretless` is set (rule 26).
    case secretless
    /// The launch failed or ran out of its budget (rule 37).
    case launchFailed = "launch_failed"
    /// The runner died after the hand-off (rules 30, 37).
    case runnerDied = "runner_died"
    /// A launch still running at the shutdown deadline was cancelled (CMA_SHUTDOWN_GRACE_SECONDS).
    case shutdown
    /// The reconciler found the item acked, without a heartbeat and without a runner.
    case orphaned
    /// Any other caller of `Drainer.forceStop`.
    case other
}
