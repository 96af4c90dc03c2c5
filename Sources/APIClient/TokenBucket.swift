import Synchronization

/// Rule 35: one shared token bucket for a rate-limited upstream (Superserve).
///
/// **Order.** Callers that find no token wait in one queue and are served by a single
/// pump, one token at a time, in `Priority` order: calls of launches already under
/// way first (the launch that started earliest first), then ordinary calls in arrival
/// order, then background calls (janitor, after-hand-off bookkeeping). A burst thus
/// finishes launches one by one instead of advancing all of them together, where
/// each launch would wait behind every newer launch's lookup. The priority travels
/// with the task (`Priority.$current`), so the client's methods need no parameter.
///
/// **Rate.** It starts at the configured rate; once the upstream reports its limit
/// (`RateLimit-Limit`/`-Policy`, `observe(_:)`), it runs at `share` of it (default
/// 0.9), leaving the rest to the team's other clients. Tokens are never more than
/// the upstream's `RateLimit-Remaining` for the team, so what other clients spent
/// shows at once. Every 429 `rate_limited` pauses the bucket for `Retry-After`
/// (nothing is handed out; it refills from empty).
///
/// **Slowing down.** A 429 halves the rate (it then grows back by `recoveryPerSecond`
/// each second towards `share` of the limit: additive increase, multiplicative
/// decrease, as TCP shares a link) only when it is evidence that the team's budget
/// ran out at the pace this bucket keeps:
/// - the upstream has reported its limit (without one, the configured rate is the
///   operator's word and a 429 only pauses);
/// - the last answer that was not a 429 showed the team's budget low
///   (`RateLimit-Remaining` at most a quarter of the team's burst). A 429 right after
///   answers that showed plenty of room (a proxy's, a per-IP limit, another client's
///   spike already visible in `Remaining`) pauses but does not slow the bucket down;
/// - the call was sent after the last decrease, so the answers to calls already in
///   flight when it slowed down count once, as TCP halves once per round trip.
/// Without these, a steady trickle of 429s that are not about this bucket's pace
/// halved it again and again: it settled near 1–6 req/s with a limit of 20.
public final class TokenBucket: Sendable {
    /// Which waiter is served first: lower `level`, then lower `order` (a launch's
    /// ticket, or the arrival number for ordinary calls).
    public struct Priority: Sendable, Equatable {
        public enum Level: Int, Sendable, Comparable {
            case underWay = 0, normal = 1, background = 2
            public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        }
        public var level: Level
        /// nil: arrival order within the level.
        public var order: UInt64?

        public init(level: Level, order: UInt64? = nil) {
            self.level = level
            self.order = order
        }

        /// A call of a launch that has already made a call; `ticket` orders launches.
        public static func underWay(_ ticket: UInt64) -> Priority { Priority(level: .underWay, order: ticket) }
        public static let normal = Priority(level: .normal)
        public static let background = Priority(level: .background)

        /// The priority of the calls the current task makes; nil is `normal`.
        @TaskLocal public static var current: Priority?
    }

    /// The upstream's reported limit, from its `RateLimit-*` headers (any may be missing).
    public struct Report: Sendable, Equatable {
        /// Requests per second for the whole team.
        public var limitPerSecond: Double?
        /// The team's burst (`RateLimit-Policy: …;burst=N`).
        public var burst: Int?
        /// Requests the team has left right now.
        public var remaining: Int?

        public init(limitPerSecond: Double? = nil, burst: Int? = nil, remaining: Int? = nil) {
            self.limitPerSecond = limitPerSecond
            self.burst = burst
            self.remaining = remaining
        }

        public var isEmpty: Bool { limitPerSecond == nil && burst == nil && remaining == nil }
    }

    private struct Waiter {
        let id: UInt64
        let level: Priority.Level
        let order: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var tokens: Double
        var last: Duration
        var pausedUntil: Duration = .zero
        var rate: Double
        var target: Double
        var burst: Int
        var reportedLimit: Double?
        var waiters: [Waiter] = []
        var pumping = false
        var nextID: UInt64 = 0
        var rateLimited: UInt64 = 0
        var decreases: UInt64 = 0
        /// When the rate was last halved; a 429 to a call sent before it does not halve again.
        var lastDecrease: Duration?
        /// `RateLimit-Remaining` of the last answer that was not a 429.
        var lastRemaining: Int?
        /// The team's burst as the upstream reported it.
        var teamBurst: Int?
    }

    /// The rate it starts with, and keeps until the upstream reports one.
    public let ratePerSecond: Double
    /// The configured burst; a smaller one reported by the upstream wins.
    public let burst: Int
    /// Part of the upstream's reported limit this bucket uses (0 < share ≤ 1).
    public let share: Double
    /// How fast the rate grows back after a 429, in requests/s per second.
    public let recoveryPerSecond: Double
    /// The least rate a 429 can bring it down to.
    public let minimumRate: Double
    private let sleeper: any Sleeper
    private let observer: (any TokenBucketObserver)?
    private let state: Mutex<State>

    public convenience init(ratePerSecond: Double, burst: Int) {
        self.init(ratePerSecond: ratePerSecond, burst: burst, sleeper: ContinuousSleeper())
    }

    /// `sleeper` provides both the waits and the clock (`uptime()`); tests pass a manual one.
    /// `observer` hears of every wait for a token (metrics).
    public init(ratePerSecond: Double, burst: Int, sleeper: any Sleeper, observer: (any TokenBucketObserver)? = nil,
                share: Double = 0.9, recoveryPerSecond: Double = 1, minimumRate: Double = 1) {
        precondition(ratePerSecond > 0 && burst >= 1, "TokenBucket needs rate > 0 and burst >= 1")
        precondition(share > 0 && share <= 1, "TokenBucket share must be in (0, 1]")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.share = share
        self.recoveryPerSecond = recoveryPerSecond
        self.minimumRate = min(minimumRate, ratePerSecond)
        self.sleeper = sleeper
        self.observer = observer
        self.state = Mutex(State(tokens: Double(burst), last: sleeper.uptime(), rate: ratePerSecond,
                                 target: ratePerSecond, burst: burst))
    }

    /// The rate in force now (requests per second).
    public var currentRate: Double { state.withLock { $0.rate } }
    /// The team limit the upstream last reported, if any.
    public var reportedLimit: Double? { state.withLock { $0.reportedLimit } }
    /// Callers waiting for a token.
    public var waiting: Int { state.withLock { $0.waiters.count } }
    /// 429s answered with `rateLimited()` since start.
    public var rateLimitedCount: UInt64 { state.withLock { $0.rateLimited } }
    /// How many of them halved the rate.
    public var decreaseCount: UInt64 { state.withLock { $0.decreases } }

    /// The bucket's clock: pass its value as `sentAt` to `rateLimited`.
    public func uptime() -> Duration { sleeper.uptime() }

    /// Waits for a token, served in `Priority.current` order. Throws
    /// `CancellationError` if the task is cancelled while waiting.
    public func acquire() async throws {
        try Task.checkCancellation()
        let priority = Priority.current ?? .normal
        let (taken, id): (Bool, UInt64) = state.withLock { s in
            let now = sleeper.uptime()
            refill(&s, now: now)
            if s.waiters.isEmpty, now >= s.pausedUntil, s.tokens >= 1 {
                s.tokens -= 1
                return (true, 0)
            }
            s.nextID += 1
            return (false, s.nextID)
        }
        if taken {
            BucketWaitMeter.current?.tokenTaken()
            return
        }
        let waitStarted = sleeper.uptime()
        observer?.bucketWaitStarted()
        defer {
            let waited = sleeper.uptime() - waitStarted
            observer?.bucketWaitEnded(waited: waited)
            // A launch's budget is not charged for its turn in the bucket (BucketWaitMeter).
            BucketWaitMeter.current?.add(waited)
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (cancelled, startPump): (Bool, Bool) = state.withLock { s in
                    if Task.isCancelled { return (true, false) }
                    s.waiters.append(Waiter(id: id, level: priority.level, order: priority.order ?? id,
                                            continuation: continuation))
                    if s.pumping { return (false, false) }
                    s.pumping = true
                    return (false, true)
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else if startPump {
                    Task { await self.pump() }
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { s in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        BucketWaitMeter.current?.tokenTaken()
    }

    /// Takes a token only if one is available now and nobody is waiting.
    public func tryAcquire() -> Bool {
        state.withLock { s in
            let now = sleeper.uptime()
            if now < s.pausedUntil || !s.waiters.isEmpty { return false }
            refill(&s, now: now)
            guard s.tokens >= 1 else { return false }
            s.tokens -= 1
            return true
        }
    }

    /// The burst in force: the configured one, or the team's burst Superserve reported
    /// when that is smaller (`observe`).
    public var burstInForce: Int { state.withLock { $0.burst } }

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

    /// A 429 `rate_limited` to a call sent at `sentAt` (`uptime()` when its token was
    /// taken), with the `RateLimit-*` report it carried: pause for the server's
    /// `Retry-After` (rule 35) and, when it is evidence of this bucket's pace (see the
    /// type's comment), halve the rate. Returns whether it halved.
    @discardableResult
    public func rateLimited(retryAfter: Duration, sentAt: Duration, report: Report = Report()) -> Bool {
        let halved: Bool = state.withLock { s in
            s.rateLimited += 1
            let lowWater = max(1, (s.teamBurst ?? s.burst) / 4)
            let budgetWasLow = s.lastRemaining.map { $0 <= lowWater } ?? true
            let afterLastDecrease = s.lastDecrease.map { sentAt >= $0 } ?? true
            guard s.reportedLimit != nil, budgetWasLow, afterLastDecrease else { return false }
            refill(&s, now: sleeper.uptime())
            s.rate = max(minimumRate, s.rate / 2)
            s.decreases += 1
            s.lastDecrease = sleeper.uptime()
            return true
        }
        apply(report, fromRateLimited: true)
        pause(for: retryAfter)
        observer?.bucketRateLimited(halved: halved)
        return halved
    }

    /// What the upstream reported about the team's limit on an answer.
    public func observe(_ report: Report) {
        apply(report, fromRateLimited: false)
    }

    private func apply(_ report: Report, fromRateLimited: Bool) {
        guard !report.isEmpty else { return }
        state.withLock { s in
            if !fromRateLimited, let remaining = report.remaining { s.lastRemaining = remaining }
            if let reported = report.burst, reported >= 1 { s.teamBurst = reported }
            refill(&s, now: sleeper.uptime())
            if let limit = report.limitPerSecond, limit > 0 {
                s.reportedLimit = limit
                s.target = max(minimumRate, limit * share)
                // Above the new target: come down at once; below it: grow back gradually.
                if s.rate > s.target { s.rate = s.target }
            }
            if let reported = report.burst, reported >= 1 { s.burst = min(burst, reported) }
            if let remaining = report.remaining { s.tokens = min(s.tokens, Double(max(0, remaining))) }
            s.tokens = min(s.tokens, Double(s.burst))
        }
    }

    /// Serves the queue one token at a time, best priority first; exits when empty.
    private func pump() async {
        while true {
            let (grant, wait): (Waiter?, Duration?) = state.withLock { s in
                if s.waiters.isEmpty {
                    s.pumping = false
                    return (nil, nil)
                }
                let now = sleeper.uptime()
                if now < s.pausedUntil { return (nil, s.pausedUntil - now) }
                refill(&s, now: now)
                if s.tokens >= 1 {
                    s.tokens -= 1
                    var best = 0
                    for i in 1..<s.waiters.count {
                        let (a, b) = (s.waiters[i], s.waiters[best])
                        if (a.level, a.order, a.id) < (b.level, b.order, b.id) { best = i }
                    }
                    return (s.waiters.remove(at: best), nil)
                }
                let seconds = (1 - s.tokens) / s.rate
                return (nil, .nanoseconds(max(1, Int64((seconds * 1e9).rounded(.up)))))
            }
            if let grant {
                grant.continuation.resume()
                continue
            }
            guard let wait else { return }
            // The pump itself is never cancelled; a cancelled waiter leaves the queue.
            try? await sleeper.sleep(for: wait)
        }
    }

    private func refill(_ s: inout State, now: Duration) {
        guard now > s.last else { return }
        let elapsed = (now - s.last).secondsDouble
        if s.rate < s.target { s.rate = min(s.target, s.rate + elapsed * recoveryPerSecond) }
        s.tokens = min(Double(s.burst), s.tokens + elapsed * s.rate)
        s.last = now
    }
}
