/// Why a fault plan was refused; `message` names the offending key.
public struct FaultPlanError: Error, Sendable, Equatable {
    public let message: String
}
