/// Time seam for every wait in the outbound path (backoff, token bucket, poll
/// loop): production uses `ContinuousSleeper`, tests a manual one they advance
/// (`ManualSleeper` in the TestSupport target, never in the product).
public protocol Sleeper: Sendable {
    /// Sleeps for `duration`; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
    /// Monotonic time since an arbitrary origin (token buckets measure refill with it).
    func uptime() -> Duration
}

extension Sleeper {
    public func uptime() -> Duration {
        ContinuousSleeper.origin.duration(to: .now)
    }
}

/// The real sleeper, on `ContinuousClock`.
public struct ContinuousSleeper: Sleeper {
    static let origin = ContinuousClock.now

    public init() {}

    public func sleep(for duration: Duration) async throws {
        guard duration > .zero else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: duration, clock: .continuous)
    }

    public func uptime() -> Duration {
        Self.origin.duration(to: .now)
    }
}
