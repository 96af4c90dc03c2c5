/// How many faults an injector decided, by kind.
public struct FaultCounts: Sendable, Equatable {
    /// Error answers (nothing was done).
    public var errors = 0
    /// Requests left without an answer before anything was done.
    public var drops = 0
    /// Requests carried out whose answer was then lost.
    public var losses = 0

    public init() {}
}
