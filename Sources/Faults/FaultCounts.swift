/// How many faults an injector decided, by kind.
public struct FaultCounts: Sendable, Equatable {
    /// Error answers (nothing was done).
    public var errors = 0
    /// Requests left without an answer before anything was done.
    public var drops = 0
    /// Requests carried out whose answer was then lost.
    public var losses = 0
    /// Lost answers by the request's most specific route group (its label or call
    /// name, the last of its groups): which calls a test's plan really hit.
    public var lossesByRoute: [String: Int] = [:]

    public init() {}
}
