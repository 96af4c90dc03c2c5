/// How a webhook-shape drain ended (rules 2, 40).
public enum DrainEnd: Sendable, Equatable {
    /// An empty poll that followed a success: the queue was seen empty.
    case finished
    /// It stopped without seeing the queue empty (failures in a row, a fatal poll
    /// error, the rule 47 gate): the triggers it absorbed still need a drain.
    case gaveUp
}
