import Foundation
import Synchronization

/// In-memory view shared by the launcher and the janitor (rule 44): when each
/// sandbox's runner was last seen running, and the data-plane access the launcher
/// already holds (so a probe needs no extra activate). Lost on restart by design:
/// `cma.launched_at` in sandbox metadata is the durable fallback.
public final class SandboxActivity: Sendable {
    private struct Entry {
        var lastSeen: Date?
        var access: SandboxAccess?
        /// The runner's state when a probe last found it not running, until a later
        /// launch or probe says otherwise.
        var ended: ProbeResult.State?
        var endedSeen: Date?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Ids in the order they were first recorded; `head` is the oldest still kept.
        var order: [String] = []
        var head = 0

        /// The entry of `id`, made (and the oldest evicted past `capacity`) if new.
        mutating func update(_ id: String, capacity: Int, _ change: (inout Entry) -> Void) {
            if entries[id] == nil {
                order.append(id)
                while entries.count >= capacity, head < order.count {
                    entries[order[head]] = nil
                    head += 1
                }
                if head > capacity {
                    order.removeFirst(head)
                    head = 0
                }
            }
            change(&entries[id, default: Entry()])
        }
    }

    /// Ids come from upstream lists and session metadata, so the table is bounded:
    /// past `capacity` the sandbox recorded first is forgotten (the janitor then
    /// falls back to `cma.launched_at`, and the launcher activates again).
    public static let defaultCapacity = 10_000
    public let capacity: Int

    private let state = Mutex(State())
    /// Sandboxes whose launch's after-hand-off work (metadata, probe) has not ended:
    /// making room under the quota leaves them alone, or the probe would wake them.
    private let handOffs = Mutex<[String: Int]>([:])
    /// Told of every probe and pause recorded here (the status page's session board).
    let observer: (any SandboxObserver)?

    public init(observer: (any SandboxObserver)? = nil, capacity: Int = SandboxActivity.defaultCapacity) {
        self.observer = observer
        self.capacity = max(1, capacity)
    }

    /// Sandboxes currently remembered.
    var count: Int { state.withLock { $0.entries.count } }

    public func recordRunning(_ sandboxID: String, at date: Date) {
        let capacity = capacity
        state.withLock { state in
            state.update(sandboxID, capacity: capacity) { entry in
                entry.ended = nil
                if let previous = entry.lastSeen, previous > date { return }
                entry.lastSeen = date
            }
        }
        observer?.runnerProbed(sandboxID: sandboxID, state: "running", at: date)
    }

    /// The janitor paused `sandboxID` after a probe found its runner in `runnerState`.
    public func recordPaused(_ sandboxID: String, runnerState: String, at date: Date) {
        observer?.runnerProbed(sandboxID: sandboxID, state: runnerState, at: date)
        observer?.sandboxPaused(sandboxID: sandboxID, at: date)
    }

    public func lastSeenRunning(_ sandboxID: String) -> Date? {
        state.withLock { $0.entries[sandboxID]?.lastSeen }
    }

    func handOffStarted(_ sandboxID: String) {
        state.withLock { $0.entries[sandboxID]?.ended = nil }
        handOffs.withLock { $0[sandboxID, default: 0] += 1 }
    }

    /// A probe after the hand-off found the runner ended (`exited`, `dead`, …).
    func recordEnded(_ sandboxID: String, state runnerState: ProbeResult.State, at date: Date) {
        let capacity = capacity
        state.withLock {
            $0.update(sandboxID, capacity: capacity) { entry in
                entry.ended = runnerState
                entry.endedSeen = date
            }
        }
    }

    /// The runner's state, and when it was seen, if a probe found it ended and no launch
    /// or probe of this process since says otherwise: making room under the quota
    /// pauses such a sandbox without probing again (unless its `cma.launched_at` says
    /// another replica launched since).
    func endedRunner(_ sandboxID: String) -> (state: ProbeResult.State, seen: Date)? {
        state.withLock { s in
            guard let entry = s.entries[sandboxID], let ended = entry.ended, let seen = entry.endedSeen else { return nil }
            return (ended, seen)
        }
    }

    func handOffEnded(_ sandboxID: String) {
        handOffs.withLock { pending in
            let left = (pending[sandboxID] ?? 1) - 1
            pending[sandboxID] = left > 0 ? left : nil
        }
    }

    /// Whether a launch's after-hand-off work on `sandboxID` is still running.
    public func handOffPending(_ sandboxID: String) -> Bool {
        handOffs.withLock { $0[sandboxID] != nil }
    }

    func remember(_ access: SandboxAccess) {
        let capacity = capacity
        state.withLock { $0.update(access.sandboxID, capacity: capacity) { $0.access = access } }
    }

    func access(for sandboxID: String) -> SandboxAccess? {
        state.withLock { $0.entries[sandboxID]?.access }
    }
}
