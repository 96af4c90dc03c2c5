import APIClient
import Foundation
import Synchronization

/// Launches waiting for room under the team's active-sandbox quota (superserve.md §7).
///
/// A create or activate answered 429 `too_many_sandboxes` parks its launch here
/// instead of failing it. Waiters are kept in launch order (their ticket), and one
/// maker at a time frees room for as many as wait (`Janitor.makeRoom`: the
/// longest-idle sandboxes of this environment whose runner is not running are
/// paused), then lets that many go, earliest first. When nothing could be paused, the
/// earliest waiter is let go every `retryInterval` to try again (room also frees up
/// when runners end elsewhere, sandboxes are deleted, or other clients pause theirs).
/// A launch let go that meets the quota again comes back to its place in the order.
public final class QuotaRoom: Sendable {
    public typealias Maker = @Sendable (_ count: Int) async -> Int

    private struct Waiter {
        let id: UInt64
        let ticket: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var waiters: [Waiter] = []
        var making = false
        var nextID: UInt64 = 0
        var paused = 0
        var lastPressure: Date?
    }

    private let maker: Maker?
    private let sleeper: any Sleeper
    private let now: @Sendable () -> Date
    /// How long to wait before the earliest waiter tries again when no room was made.
    public let retryInterval: Duration
    private let state = Mutex(State())

    /// `maker` pauses up to `count` sandboxes and returns how many it paused; nil
    /// means nothing can be paused here (waiters then only retry every `retryInterval`).
    public init(maker: Maker?, sleeper: any Sleeper = ContinuousSleeper(), retryInterval: Duration = .seconds(2),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.maker = maker
        self.sleeper = sleeper
        self.retryInterval = retryInterval
        self.now = now
    }

    /// Launches waiting for room now.
    public var waiting: Int { state.withLock { $0.waiters.count } }
    /// Sandboxes paused to make room since start.
    public var pausedForRoom: Int { state.withLock { $0.paused } }
    /// When a launch last met the quota.
    public var lastPressure: Date? { state.withLock { $0.lastPressure } }

    /// Parks until this launch may try again. Throws `CancellationError` when the
    /// task is cancelled meanwhile.
    public func waitForRoom(ticket: UInt64) async throws {
        try Task.checkCancellation()
        let id: UInt64 = state.withLock { s in
            s.nextID += 1
            s.lastPressure = now()
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (cancelled, start): (Bool, Bool) = state.withLock { s in
                    if Task.isCancelled { return (true, false) }
                    s.waiters.append(Waiter(id: id, ticket: ticket, continuation: continuation))
                    if s.making { return (false, false) }
                    s.making = true
                    return (false, true)
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else if start {
                    Task { await self.make() }
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { s in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func make() async {
        while true {
            let count: Int = state.withLock { s in
                if s.waiters.isEmpty { s.making = false }
                return s.waiters.count
            }
            if count == 0 { return }
            // The calls that free room serve launches already under way (rule 35's order).
            let paused = await TokenBucket.Priority.$current.withValue(.underWay(0)) {
                await maker?(count) ?? 0
            }
            let released: [Waiter] = state.withLock { s in
                s.paused += paused
                s.waiters.sort { ($0.ticket, $0.id) < ($1.ticket, $1.id) }
                let n = min(s.waiters.count, max(1, paused))
                let out = Array(s.waiters.prefix(n))
                s.waiters.removeFirst(n)
                return out
            }
            if paused == 0 {
                // Nothing to pause: the earliest waiter tries again after a while.
                try? await sleeper.sleep(for: retryInterval)
            }
            for waiter in released { waiter.continuation.resume() }
        }
    }
}
