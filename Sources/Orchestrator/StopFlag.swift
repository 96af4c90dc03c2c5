import Synchronization

/// Set once when a graceful shutdown begins. The webhook route answers 503 from then
/// on (rule 39), `/readyz` reports it, and the drainer claims nothing more (rule 47).
/// It keeps the moment it was set: the shutdown's deadlines count from it (`ShutdownPlan`).
public final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let setAt = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    public var isSet: Bool { stopped.load(ordering: .acquiring) }

    /// When the stop began (the first `set()`); nil before.
    public var since: ContinuousClock.Instant? { setAt.withLock { $0 } }

    public func set() {
        setAt.withLock { $0 = $0 ?? .now }
        stopped.store(true, ordering: .releasing)
    }
}
