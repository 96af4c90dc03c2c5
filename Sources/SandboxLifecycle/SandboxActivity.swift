import Foundation
import Synchronization

/// In-memory view shared by the launcher and the janitor (rule 44): when each
/// sandbox's runner was last seen running, and the data-plane access the launcher
/// already holds (so a probe needs no extra activate). Lost on restart by design:
/// `cma.launched_at` in sandbox metadata is the durable fallback.
public final class SandboxActivity: Sendable {
    private struct State {
        var lastSeen: [String: Date] = [:]
        var access: [String: SandboxAccess] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func recordRunning(_ sandboxID: String, at date: Date) {
        state.withLock { state in
            if let previous = state.lastSeen[sandboxID], previous > date { return }
            state.lastSeen[sandboxID] = date
        }
    }

    public func lastSeenRunning(_ sandboxID: String) -> Date? {
        state.withLock { $0.lastSeen[sandboxID] }
    }

    func remember(_ access: SandboxAccess) {
        state.withLock { $0.access[access.sandboxID] = access }
    }

    func access(for sandboxID: String) -> SandboxAccess? {
        state.withLock { $0.access[sandboxID] }
    }
}
