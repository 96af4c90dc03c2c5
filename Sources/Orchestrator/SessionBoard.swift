import Foundation
import SandboxLifecycle
import Synchronization

/// One row per session seen recently, for the status page: where it runs, in which
/// state, how its last launch went. Bounded: past `capacity` rows the least recently
/// updated one is dropped. Rows hold ids, states and the launcher's failure reasons
/// only, which never carry keys or tokens (style habit 6).
///
/// Updated where each fact is known: `LaunchHandler` (launching → running / failed,
/// late failures), `WebhookEndpoint` (a terminated or deleted session → stopped) and,
/// as the `SandboxObserver` handed down through `SandboxActivity`, the launcher's and
/// the janitor's probes and the janitor's pauses.
public final class SessionBoard: SandboxObserver {
    public enum State: String, Sendable, CaseIterable {
        case launching, running, paused, failed, stopped
    }

    public struct Row: Sendable, Equatable {
        public var environmentID: String
        public var sessionID: String
        public var workID: String?
        public var sandboxID: String?
        public var state: State
        /// Why the session failed or stopped; nil otherwise.
        public var reason: String?
        public var launchStartedAt: Date?
        public var launchSeconds: Double?
        /// The runner's state from the last probe (`running`, `exited`, …), if any.
        public var runnerState: String?
        /// When the runner was last seen running (launch or probe).
        public var runnerSeenAt: Date?
        public var updatedAt: Date
    }

    public static let defaultCapacity = 500
    /// Reasons come from upstream error texts; cut, so one row stays one row.
    static let maxReasonBytes = 300

    public let capacity: Int
    private let now: @Sendable () -> Date
    private let rows = Mutex([String: Row]())

    public init(capacity: Int = SessionBoard.defaultCapacity, now: @escaping @Sendable () -> Date = { Date() }) {
        self.capacity = max(1, capacity)
        self.now = now
    }

    // MARK: Updates

    public func launching(sessionID: String, environmentID: String, workID: String?) {
        let at = now()
        update(sessionID, create: environmentID) { row in
            row.workID = workID
            row.state = .launching
            row.reason = nil
            row.launchStartedAt = at
            row.launchSeconds = nil
        }
    }

    public func launched(sessionID: String, sandboxID: String, duration: Duration) {
        let at = now()
        update(sessionID) { row in
            row.sandboxID = sandboxID
            row.state = .running
            row.reason = nil
            row.launchSeconds = duration.secondsDouble
            row.runnerState = "running"
            row.runnerSeenAt = at
        }
    }

    /// A launch that failed (`duration` set), or a runner that died after the hand-off.
    public func failed(sessionID: String, sandboxID: String?, reason: String, duration: Duration? = nil) {
        update(sessionID) { row in
            if let sandboxID { row.sandboxID = sandboxID }
            row.state = .failed
            row.reason = Self.cut(reason)
            if let duration { row.launchSeconds = duration.secondsDouble }
        }
    }

    /// The session ended (terminated or deleted upstream). Only rows already on the
    /// board: a session this instance never launched is not its to show.
    public func stopped(sessionID: String, reason: String) {
        update(sessionID) { row in
            row.state = .stopped
            row.reason = Self.cut(reason)
        }
    }

    public func runnerProbed(sandboxID: String, state: String, at date: Date) {
        updateSandbox(sandboxID) { row in
            row.runnerState = state
            if state == "running", row.runnerSeenAt.map({ $0 < date }) ?? true { row.runnerSeenAt = date }
        }
    }

    public func sandboxPaused(sandboxID: String, at date: Date) {
        updateSandbox(sandboxID) { row in
            row.state = .paused
            row.reason = nil
        }
    }

    // MARK: Reads

    /// Newest first (most recently updated).
    public var snapshot: [Row] {
        rows.withLock { Array($0.values) }.sorted { ($0.updatedAt, $0.sessionID) > ($1.updatedAt, $1.sessionID) }
    }

    public var count: Int { rows.withLock { $0.count } }

    /// The environment of a session on the board (one this instance launched).
    public func environmentID(ofSession sessionID: String) -> String? {
        rows.withLock { $0[sessionID]?.environmentID }
    }

    /// Rows per state, every state present (zero when none).
    public func countsByState() -> [(state: State, count: Int)] {
        let all = rows.withLock { $0.values.map(\.state) }
        return State.allCases.map { state in (state, all.filter { $0 == state }.count) }
    }

    // MARK: Internals

    /// Applies `change` to the session's row; creates it (evicting the least recently
    /// updated row when full) only when `create` names its environment.
    private func update(_ sessionID: String, create environmentID: String? = nil, _ change: (inout Row) -> Void) {
        let at = now()
        rows.withLock { rows in
            var row: Row
            if let existing = rows[sessionID] {
                row = existing
            } else if let environmentID {
                if rows.count >= capacity, let oldest = rows.values.min(by: { $0.updatedAt < $1.updatedAt }) {
                    rows[oldest.sessionID] = nil
                }
                row = Row(environmentID: environmentID, sessionID: sessionID, state: .launching, updatedAt: at)
            } else {
                return
            }
            change(&row)
            row.updatedAt = at
            rows[sessionID] = row
        }
    }

    /// A linear scan: the board is small (`capacity`) and probes are rare (the janitor's interval).
    private func updateSandbox(_ sandboxID: String, _ change: (inout Row) -> Void) {
        let at = now()
        rows.withLock { rows in
            for (key, var row) in rows where row.sandboxID == sandboxID {
                change(&row)
                row.updatedAt = at
                rows[key] = row
            }
        }
    }

    static func cut(_ reason: String) -> String {
        reason.utf8.count <= maxReasonBytes ? reason : String(reason.prefix(maxReasonBytes)) + "…"
    }
}
