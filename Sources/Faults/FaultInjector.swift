import Synchronization

/// Holds the current plan; `decide` is called once per request, before any handler.
public final class FaultInjector: Sendable {
    private let plan = Mutex<FaultPlan?>(nil)

    public init() {}

    public var current: FaultPlan? { plan.withLock { $0 } }

    public func set(_ newPlan: FaultPlan) { plan.withLock { $0 = newPlan } }

    public func clear() { plan.withLock { $0 = nil } }

    /// `groups` names the request's route groups (e.g. `["all", "work", "heartbeat"]`).
    /// The random draw and the `remaining` count are taken under the lock, so
    /// concurrent requests never overspend a limited plan.
    /// `eligible` says which statuses this request may get (Superserve injects 502–504
    /// only on GET and DELETE, superserve.md §10.10); a draw of another status passes
    /// and spends nothing.
    public func decide(groups: [String], eligible: (Int) -> Bool = { _ in true }) -> FaultDecision {
        var rng = SystemRandomNumberGenerator()
        return decide(groups: groups, eligible: eligible, using: &rng)
    }

    public func decide<R: RandomNumberGenerator>(groups: [String], eligible: (Int) -> Bool = { _ in true },
                                                 using rng: inout R) -> FaultDecision {
        plan.withLock { stored in
            // A plan's `all` is a group like any other: each emulator puts it in the
            // groups of the routes it means (Superserve: its control plane only).
            guard var p = stored, p.routes.contains(where: groups.contains) else {
                return .pass(latency: .zero)
            }
            let latency = Duration.milliseconds(p.latencyMilliseconds)
            if let left = p.remaining, left <= 0 { return .pass(latency: latency) }
            let draw = Double.random(in: 0..<1, using: &rng)
            let decision: FaultDecision
            if draw < p.dropRate {
                decision = .drop(latency: latency)
            } else if draw < p.dropRate + p.errorRate, let status = p.statuses.randomElement(using: &rng), eligible(status) {
                decision = .error(status: status, retryAfterSeconds: status == 429 ? p.retryAfterSeconds : nil, latency: latency)
            } else {
                return .pass(latency: latency)
            }
            if let left = p.remaining { p.remaining = left - 1; stored = p }
            return decision
        }
    }
}
