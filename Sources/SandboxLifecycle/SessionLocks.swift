import Synchronization

/// Per-session in-process lock shared by the launcher, the janitor and idle pauses
/// (rule 10): two tasks touching one session's sandbox could otherwise create
/// twins or pause a sandbox that is being launched into. Waiters are served in order.
public final class SessionLocks: Sendable {
    private struct Entry {
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex<[String: Entry]>([:])

    public init() {}

    /// Runs `body` while holding the lock of `sessionID`, waiting for it if needed.
    public func withLock<T>(_ sessionID: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(sessionID)
        defer { release(sessionID) }
        return try await body()
    }

    /// Runs `body` only if nobody holds the lock (the janitor skips a session that
    /// is being launched: it is not idle). Returns nil when the lock was taken.
    public func withLockIfAvailable<T>(_ sessionID: String, _ body: () async throws -> T) async rethrows -> T? {
        let acquired = state.withLock { entries -> Bool in
            if entries[sessionID] != nil { return false }
            entries[sessionID] = Entry()
            return true
        }
        guard acquired else { return nil }
        defer { release(sessionID) }
        return try await body()
    }

    /// Whether some task holds the lock of `sessionID` right now.
    public func isHeld(_ sessionID: String) -> Bool {
        state.withLock { $0[sessionID] != nil }
    }

    private func acquire(_ sessionID: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { entries -> Bool in
                if entries[sessionID] == nil {
                    entries[sessionID] = Entry()
                    return true
                }
                entries[sessionID]!.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    private func release(_ sessionID: String) {
        let next = state.withLock { entries -> CheckedContinuation<Void, Never>? in
            guard var entry = entries[sessionID] else { return nil }
            if entry.waiters.isEmpty {
                entries[sessionID] = nil
                return nil
            }
            let first = entry.waiters.removeFirst()
            entries[sessionID] = entry
            return first
        }
        next?.resume()   // ownership passes straight to the next waiter
    }
}
