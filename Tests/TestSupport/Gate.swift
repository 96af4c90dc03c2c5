import Synchronization

/// A one-shot latch that async handlers wait on (test-controlled release): a handler
/// held at `wait()` until the test has seen what it needs, instead of a sleep.
public final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    public func open() {
        let w = state.withLock { s -> [CheckedContinuation<Void, Never>] in s.open = true; defer { s.waiters = [] }; return s.waiters }
        for c in w { c.resume() }
    }
}
