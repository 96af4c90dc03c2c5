import Synchronization

/// Set once when a graceful shutdown begins. The webhook route answers 503 from then
/// on (rule 39), `/readyz` reports it, and the drainer claims nothing more (rule 47).
public final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)

    public init() {}

    public var isSet: Bool { stopped.load(ordering: .acquiring) }

    public func set() { stopped.store(true, ordering: .releasing) }
}
