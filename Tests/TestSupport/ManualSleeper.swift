import APIClient
import Synchronization

/// A `Sleeper` whose time moves only when a test calls `advance(by:)`. Sleeps are
/// recorded (`requestedSleeps`) so tests can assert on backoff delays, and
/// `waitForSleepers(_:)` lets a test wait, with a real deadline, until the code
/// under test is parked in a sleep, instead of sleeping to synchronise.
public final class ManualSleeper: Sleeper {
    private struct Waiter {
        let id: UInt64
        let deadline: Duration
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .zero
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
        var requested: [Duration] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Current manual time.
    public var now: Duration { state.withLock { $0.now } }

    /// Every duration passed to `sleep(for:)`, in call order.
    public var requestedSleeps: [Duration] { state.withLock { $0.requested } }

    /// Number of tasks currently parked in `sleep(for:)`.
    public var pendingSleepers: Int { state.withLock { $0.waiters.count } }

    public func uptime() -> Duration { now }

    public func sleep(for duration: Duration) async throws {
        let id: UInt64 = state.withLock { s in
            s.requested.append(duration)
            s.nextID += 1
            return s.nextID
        }
        try Task.checkCancellation()
        if duration <= .zero { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled: Bool = state.withLock { s in
                    if Task.isCancelled { return true }
                    s.waiters.append(Waiter(id: id, deadline: s.now + duration, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { s in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        let due: [Waiter] = state.withLock { s in
            s.now += duration
            let now = s.now
            let due = s.waiters.filter { $0.deadline <= now }
            s.waiters.removeAll { $0.deadline <= now }
            return due
        }
        for waiter in due { waiter.continuation.resume() }
    }

    /// Moves time to the earliest pending deadline (if any) and wakes that sleeper.
    public func advanceToNextDeadline() {
        let step: Duration? = state.withLock { s in
            s.waiters.map(\.deadline).min().map { max(.zero, $0 - s.now) }
        }
        if let step { advance(by: step) }
    }

    /// Waits (real time, bounded by `timeout`) until at least `count` tasks are
    /// parked in `sleep(for:)`. Returns false when the deadline passed first.
    @discardableResult
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(10)) async -> Bool {
        await Self.waitUntil(timeout: timeout) { self.pendingSleepers >= count }
    }

    /// Polls `condition` until it holds or `timeout` (real time) passes.
    public static func waitUntil(timeout: Duration = .seconds(10), _ condition: @Sendable () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }
}

/// Alias: the same manual time source under the name other modules' tests use.
public typealias ManualClock = ManualSleeper
