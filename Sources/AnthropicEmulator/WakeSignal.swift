import Synchronization

/// Keyed broadcast wake-ups for long polls and event streams, without parking a
/// thread: a waiter suspends on a continuation and is resumed by `notify(key)`, by its
/// timeout, by task cancellation or by `close()`, whichever comes first, exactly once.
///
/// Lost wake-ups are ruled out with generations: read `generation(key)`, check your
/// state, then `wait(key, ifGenerationIs:)`. A `notify` between the read and the wait
/// bumps the generation and the wait returns at once.
public final class WakeSignal: Sendable {
    public enum WakeReason: Sendable, Equatable { case notified, timedOut, cancelled, closed }

    private struct Waiter {
        var key: String
        var continuation: CheckedContinuation<WakeReason, Never>
        var timer: Task<Void, Never>?
    }

    private struct State {
        var generations: [String: UInt64] = [:]
        var waiters: [UInt64: Waiter] = [:]
        /// Ids allocated whose continuation is not registered yet, and those of them
        /// cancelled in that window (so the registration resumes at once).
        var registering: Set<UInt64> = []
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    public func generation(_ key: String) -> UInt64 {
        state.withLock { $0.generations[key, default: 0] }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// How many tasks are parked on `key` right now (tests wait for a long poll to park).
    public func waiterCount(_ key: String) -> Int {
        state.withLock { s in s.waiters.values.filter { $0.key == key }.count }
    }

    /// Wakes every waiter of `key`.
    public func notify(_ key: String) {
        let woken: [Waiter] = state.withLock { s in
            s.generations[key, default: 0] &+= 1
            let ids = s.waiters.filter { $0.value.key == key }.map(\.key)
            return ids.compactMap { s.waiters.removeValue(forKey: $0) }
        }
        for w in woken { w.timer?.cancel(); w.continuation.resume(returning: .notified) }
    }

    /// Wakes every waiter now and every later waiter at once (shutdown).
    public func close() {
        let woken: [Waiter] = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in woken { w.timer?.cancel(); w.continuation.resume(returning: .closed) }
    }

    /// Suspends until `key` is notified, `timeout` passes, the task is cancelled or the
    /// signal is closed. Returns at once when the generation already moved on.
    @discardableResult
    public func wait(_ key: String, ifGenerationIs expected: UInt64, timeout: Duration) async -> WakeReason {
        let id: UInt64 = state.withLock { s in
            defer { s.nextID &+= 1 }
            s.registering.insert(s.nextID)
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WakeReason, Never>) in
                let immediate: WakeReason? = state.withLock { s in
                    s.registering.remove(id)
                    let cancelled = s.cancelledEarly.remove(id) != nil
                    if s.closed { return .closed }
                    if cancelled { return .cancelled }
                    if s.generations[key, default: 0] != expected { return .notified }
                    s.waiters[id] = Waiter(key: key, continuation: continuation, timer: nil)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate); return }
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    if Task.isCancelled { return }
                    self?.resume(id, with: .timedOut)
                }
                let stillWaiting = state.withLock { s -> Bool in
                    guard s.waiters[id] != nil else { return false }
                    s.waiters[id]?.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            let registered = state.withLock { s -> Bool in
                if s.waiters[id] != nil { return true }
                if s.registering.contains(id) { s.cancelledEarly.insert(id) }
                return false
            }
            if registered { resume(id, with: .cancelled) }
        }
    }

    private func resume(_ id: UInt64, with reason: WakeReason) {
        let waiter = state.withLock { s -> Waiter? in
            s.waiters.removeValue(forKey: id)
        }
        guard let waiter else { return }
        if reason != .timedOut { waiter.timer?.cancel() }
        waiter.continuation.resume(returning: reason)
    }
}
