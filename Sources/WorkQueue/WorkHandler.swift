/// What became of a session item handed to the launcher.
public enum WorkOutcome: Sendable, Equatable {
    /// A runner holds the item now: the orchestrator never stops or heartbeats it (rule 9).
    case handedOff
    /// Nothing runs it: the drainer force-stops it and logs the reason (rule 37).
    case failed(reason: String)
}

/// Receives session items after they are acked (rule 5). Called in a child task
/// that holds one launch slot (rule 6) until it returns. `drainer` is the one
/// that claimed the item: a failure found after `.handedOff` (rules 30, 37) ends
/// the item through its `forceStop`, the same path as every other stop.
public protocol WorkHandler: Sendable {
    func handle(_ item: WorkItem, from drainer: Drainer) async -> WorkOutcome
}

/// A `WorkHandler` from a closure (wiring and tests).
public struct ClosureWorkHandler: WorkHandler {
    private let body: @Sendable (WorkItem) async -> WorkOutcome
    public init(_ body: @escaping @Sendable (WorkItem) async -> WorkOutcome) { self.body = body }
    public func handle(_ item: WorkItem, from drainer: Drainer) async -> WorkOutcome { await body(item) }
}
