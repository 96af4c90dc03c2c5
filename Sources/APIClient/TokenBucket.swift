import Synchronization

/// Rule 35: one shared token bucket for a rate-limited upstream (Superserve default
/// 15 req/s, burst 20). A 429 calls `pause(for:)` with the server's `Retry-After`;
/// no token is handed out until the pause ends, and the bucket then refills from empty.
public final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var last: Duration
        var pausedUntil: Duration = .zero
    }

    public let ratePerSecond: Double
    public let burst: Int
    private let sleeper: any Sleeper
    private let observer: (any TokenBucketObserver)?
    private let state: Mutex<State>

    public convenience init(ratePerSecond: Double, burst: Int) {
        self.init(ratePerSecond: ratePerSecond, burst: burst, sleeper: ContinuousSleeper())
    }

    /// `sleeper` provides both the waits and the clock (`uptime()`); tests pass a manual one.
    /// `observer` hears of every wait for a token (metrics).
    public init(ratePerSecond: Double, burst: Int, sleeper: any Sleeper, observer: (any TokenBucketObserver)? = nil) {
        precondition(ratePerSecond > 0 && burst >= 1, "TokenBucket needs rate > 0 and burst >= 1")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.sleeper = sleeper
        self.observer = observer
        self.state = Mutex(State(tokens: Double(burst), last: sleeper.uptime()))
    }

    /// Waits for a token. Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire() async throws {
        var waitStarted: Duration?
        defer {
            if let waitStarted { observer?.bucketWaitEnded(waited: sleeper.uptime() - waitStarted) }
        }
        while true {
            let wait: Duration? = state.withLock { s in
                let now = sleeper.uptime()
                if now < s.pausedUntil { return s.pausedUntil - now }
                refill(&s, now: now)
                if s.tokens >= 1 {
                    s.tokens -= 1
                    return nil
                }
                let seconds = (1 - s.tokens) / ratePerSecond
                return .nanoseconds(max(1, Int64((seconds * 1e9).rounded(.up))))
            }
            guard let wait else { return }
            if waitStarted == nil {
                waitStarted = sleeper.uptime()
                observer?.bucketWaitStarted()
            }
            try await sleeper.sleep(for: wait)
        }
    }

    /// Takes a token only if one is available now.
    public func tryAcquire() -> Bool {
        state.withLock { s in
            let now = sleeper.uptime()
            if now < s.pausedUntil { return false }
            refill(&s, now: now)
            guard s.tokens >= 1 else { return false }
            s.tokens -= 1
            return true
        }
    }

    /// Tokens available now (0 while paused after a 429), without taking one: for
    /// low-priority callers that only use what others leave (the warm pool).
    public func available() -> Double {
        state.withLock { s in
            let now = sleeper.uptime()
            if now < s.pausedUntil { return 0 }
            refill(&s, now: now)
            return s.tokens
        }
    }

    /// Rule 35: after a 429, hand out nothing for `duration`; a longer pause already
    /// in force is kept.
    public func pause(for duration: Duration) {
        state.withLock { s in
            let until = sleeper.uptime() + max(duration, .zero)
            if until > s.pausedUntil {
                s.pausedUntil = until
                s.tokens = 0
                s.last = until
            }
        }
    }

    private func refill(_ s: inout State, now: Duration) {
        guard now > s.last else { return }
        s.tokens = min(Double(burst), s.tokens + (now - s.last).secondsDouble * ratePerSecond)
        s.last = now
    }
}
