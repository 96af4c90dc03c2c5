/// Hooks for the warm pool's metrics, implemented by the app. Arguments are bounded
/// label values (the environment is one of the configured ones); never a sandbox id.
public protocol WarmPoolObserver: Sendable {
    /// Claimable pool sandboxes after a maintenance pass or a claim.
    func warmPoolReady(environment: String, count: Int)
    /// A launch asked the pool for a sandbox.
    func warmPoolClaim(environment: String, outcome: WarmPoolClaimOutcome)
    /// A pool sandbox was created and staged (`created`) or the attempt failed.
    func warmPoolRefill(environment: String, created: Bool)
    /// A pool sandbox was deleted to be replaced.
    func warmPoolRecycle(environment: String, reason: WarmPoolPlan.RecycleReason)
}

/// What one claim attempt came to.
public enum WarmPoolClaimOutcome: String, Sendable, CaseIterable {
    /// The claim inside the sandbox was ours: the runner was started in it.
    case won
    /// Another replica (or a recycle) held the sandbox's claim first.
    case lost
    /// Nothing claimable: the launch creates a sandbox as without a pool.
    case empty
}
