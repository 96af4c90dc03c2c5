import APIClient
import Synchronization

/// Coalesces drain triggers (rule 40) and drains on a timer (rule 42).
///
/// One drain at a time. A `trigger()` while a drain runs sets a rerun flag, and
/// exactly one more drain follows however many triggers arrived; dropping the
/// trigger could miss an item enqueued after the running drain's last empty poll.
/// Between drains, `run()` waits for a trigger or for `interval` (default 30 s)
/// since the end of the previous drain, whichever comes first.
///
/// A drain that gives up (`DrainEnd.gaveUp`: failures in a row, the rule 47 gate)
/// has not seen the queue empty, so the triggers it absorbed are still owed: another
/// drain follows after a backoff (1 s doubling up to `interval`) instead of waiting
/// for a new trigger or the timer.
public final class DrainScheduler: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var draining = false
        var drainsStarted = 0
        var triggers = 0
        var lastStart: Duration?
        /// Drains in a row that gave up, and the earliest start of the one owed.
        var giveUps = 0
        var retryNotBefore: Duration?
    }

    /// Rule 42: timer drain interval.
    public let interval: Duration
    /// Least time between the starts of two drains. A burst of webhooks then costs at
    /// most one poll per gap instead of a poll storm; the rerun flag (rule 40) still
    /// guarantees the drain that follows, it just starts no earlier than this.
    public let minimumGap: Duration
    private let drainAtStart: Bool
    private let sleeper: any Sleeper
    private let drainBody: @Sendable () async -> DrainEnd
    private let giveUpBackoff: Backoff
    private let state = Mutex(State())

    /// `drain` is the work to coalesce: the pipeline's `drainer.drain()`, or a closure a test controls.
    /// `random` (values in [0, 1)) jitters the backoff after a drain that gave up.
    public init(interval: Duration = .seconds(30), minimumGap: Duration = .zero, drainAtStart: Bool = true,
                sleeper: any Sleeper = ContinuousSleeper(),
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                drain: @escaping @Sendable () async -> DrainEnd) {
        self.interval = interval
        self.minimumGap = minimumGap
        self.drainAtStart = drainAtStart
        self.sleeper = sleeper
        self.drainBody = drain
        self.giveUpBackoff = Backoff(base: .seconds(1), cap: max(interval, .seconds(1)), random: random)
    }

    /// A drain that always ends `.finished` (tests, embedders without a `Drainer`).
    public convenience init(interval: Duration = .seconds(30), minimumGap: Duration = .zero, drainAtStart: Bool = true,
                            sleeper: any Sleeper = ContinuousSleeper(), drain: @escaping @Sendable () async -> Void) {
        self.init(interval: interval, minimumGap: minimumGap, drainAtStart: drainAtStart, sleeper: sleeper) {
            await drain()
            return .finished
        }
    }

    /// Drains in a row that gave up (0 after one that finished).
    public var drainsGivenUp: Int { state.withLock { $0.giveUps } }

    /// Asks for a drain. Cheap and non-blocking: safe from a webhook handler.
    public func trigger() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.pending = true
            s.triggers += 1
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Asks for a drain as `trigger()` does, without counting a trigger: the app's own
    /// request (the first drain once the template check passes, rule 47).
    public func requestDrain() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.pending = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Triggers received so far, coalesced or not: a signal for tests that a delivery
    /// did (or did not) ask for a drain, without waiting for one to run.
    public var triggersReceived: Int { state.withLock { $0.triggers } }

    /// True while a drain runs.
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Drains started so far (for `/status` and tests).
    public var drainsStarted: Int { state.withLock { $0.drainsStarted } }

    /// Runs until the task is cancelled; a drain in progress finishes first.
    public func run() async {
        if drainAtStart { state.withLock { $0.pending = true } }
        while !Task.isCancelled {
            let due = state.withLock { s in
                defer { s.pending = false }
                return s.pending
            }
            if !due {
                await waitForTriggerOrTimer()
                if Task.isCancelled { return }
                // Either a trigger (pending set) or the timer: drain either way.
                state.withLock { $0.pending = false }
            }
            let (last, retry) = state.withLock { ($0.lastStart, $0.retryNotBefore) }
            if let earliest = [last.map { $0 + minimumGap }, retry].compactMap({ $0 }).max() {
                let wait = earliest - sleeper.uptime()
                if wait > .zero {
                    do { try await sleeper.sleep(for: wait) } catch { return }
                    // Triggers that came during the gap are served by this drain.
                    state.withLock { $0.pending = false }
                }
            }
            let start = sleeper.uptime()
            state.withLock { s in
                s.draining = true
                s.drainsStarted += 1
                s.lastStart = start
            }
            let end = await drainBody()
            state.withLock { s in
                s.draining = false
                switch end {
                case .finished:
                    s.giveUps = 0
                    s.retryNotBefore = nil
                case .gaveUp:
                    // The triggers this drain absorbed are still owed one.
                    s.pending = true
                    s.retryNotBefore = sleeper.uptime() + giveUpBackoff.delay(attempt: s.giveUps, hint: nil)
                    s.giveUps += 1
                }
            }
        }
    }

    /// Returns on the first of: a trigger, `interval` elapsed, cancellation.
    private func waitForTriggerOrTimer() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [sleeper, interval] in
                try? await sleeper.sleep(for: interval)
            }
            group.addTask { [self] in
                await waitForTrigger()
            }
            await group.next()
            group.cancelAll()
            // Unblock the trigger waiter if the timer (or cancellation) won.
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
            await group.waitForAll()
        }
    }

    private func waitForTrigger() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { s in
                if s.pending || Task.isCancelled { return true }
                s.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
