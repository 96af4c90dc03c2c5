import Synchronization

/// A counting semaphore for async code: in-flight caps (rule 35: 8 Superserve calls;
/// rule 36: 4 Anthropic calls) and launch slots (rule 6). `wait()` is
/// cancellation-safe: a cancelled waiter leaves the queue and throws
/// `CancellationError` without consuming a permit.
public final class AsyncSemaphore: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var value: Int
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state: Mutex<State>
    /// Runs between finding no permit and parking (tests: a signal in that gap).
    private let beforeParking: (@Sendable () -> Void)?

    public convenience init(value: Int) {
        self.init(value: value, beforeParking: nil)
    }

    init(value: Int, beforeParking: (@Sendable () -> Void)?) {
        precondition(value >= 0, "AsyncSemaphore value must be >= 0")
        state = Mutex(State(value: value))
        self.beforeParking = beforeParking
    }

    /// Permits available right now (for tests and status output).
    public var available: Int { state.withLock { $0.value } }

    /// Tasks queued in `wait()`.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a permit if one is free, without waiting.
    public func tryWait() -> Bool {
        state.withLock { s in
            guard s.value > 0 else { return false }
            s.value -= 1
            return true
        }
    }

    public func wait() async throws {
        try Task.checkCancellation()
        let id: UInt64? = state.withLock { s in
            if s.value > 0 {
                s.value -= 1
                return nil
            }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        beforeParking?()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case parked, cancelled, acquired }
                let outcome: Outcome = state.withLock { s in
                    // Checked under the lock: if onCancel already ran it found no
                    // waiter, and the flag is set, so we give up here.
                    if Task.isCancelled { return .cancelled }
                    // A signal since the first look found no waiter and left a permit:
                    // take it, or this waiter would sleep beside a free permit.
                    if s.value > 0 {
                        s.value -= 1
                        return .acquired
                    }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    return .parked
                }
                switch outcome {
                case .parked: break
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .acquired: continuation.resume()
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

    public func signal() {
        let waiter: Waiter? = state.withLock { s in
            if s.waiters.isEmpty {
                s.value += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        waiter?.continuation.resume()
    }

    /// Runs `body` holding one permit.
    public func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await wait()
        defer { signal() }
        return try await body()
    }
}
