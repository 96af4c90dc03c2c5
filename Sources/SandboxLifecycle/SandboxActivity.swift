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
    /// Told of every probe and pause recorded here (the status page's session board).
    let observer: (any SandboxObserver)?

    public init(observer: (any SandboxObserver)? = nil) {
        self.observer = observer
    }

    public func recordRunning(_ sandboxID: String, at date: Date) {
        state.withLock { state in
            if let previous = state.lastSeen[sandboxID], previous > date { return }
            state.lastSeen[sandboxID] = date
        }
        observer?.runnerProbed(sandboxID: sandboxID, state: "running", at: date)
    }

    /// The janitor paused `sandboxID` after a probe found its runner in `runnerState`.
    public func recordPaused(_ sandboxID: String, runnerState: String, at date: Date) {
        observer?.runnerProbed(sandboxID: sandboxID, state: runnerState, at: date)
        observer?.sandboxPaused(sandboxID: sandboxID, at: date)
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
