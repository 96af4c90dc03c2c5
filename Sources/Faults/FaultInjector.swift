import Synchronization

/// Holds the current plan; `decide` is called once per request, before any handler.
public final class FaultInjector: Sendable {
    private struct State {
        var plan: FaultPlan?
        var counts = FaultCounts()
    }

    private let state = Mutex(State())

    public init() {}

    public var current: FaultPlan? { state.withLock { $0.plan } }

    /// Faults decided since start (or the last `resetCounts`), by kind: what a test
    /// checks to know that its plan really hit (a lost create, rule 16).
    public var counts: FaultCounts { state.withLock { $0.counts } }

    public func set(_ newPlan: FaultPlan) { state.withLock { $0.plan = newPlan } }

    public func clear() { state.withLock { $0.plan = nil } }

    public func resetCounts() { state.withLock { $0.counts = FaultCounts() } }

    /// `groups` names the request's route groups (e.g. `["all", "work", "heartbeat"]`).
    /// The random draw and the `remaining` count are taken under the lock, so
    /// concurrent requests never overspend a limited plan.
    /// `eligible` says which statuses this request may get (Superserve injects 502–504
    /// only on GET and DELETE, superserve.md §10.10): the status is drawn among the
    /// plan's eligible ones, so `error_rate` holds for every request that may get one;
    /// a request that may get none of them passes and spends nothing.
    public func decide(groups: [String], eligible: (Int) -> Bool = { _ in true }) -> FaultDecision {
        var rng = SystemRandomNumberGenerator()
        return decide(groups: groups, eligible: eligible, using: &rng)
    }

    public func decide<R: RandomNumberGenerator>(groups: [String], eligible: (Int) -> Bool = { _ in true },
                                                 using rng: inout R) -> FaultDecision {
        state.withLock { s in
            // A plan's `all` is a group like any other: each emulator puts it in the
            // groups of the routes it means.
            guard var p = s.plan, p.routes.contains(where: groups.contains) else {
                return .pass(latency: .zero)
            }
            let latency = Duration.milliseconds(p.latencyMilliseconds)
            if let left = p.remaining, left <= 0 { return .pass(latency: latency) }
            let draw = Double.random(in: 0..<1, using: &rng)
            let decision: FaultDecision
            if draw < p.dropRate {
                decision = .drop(latency: latency)
                s.counts.drops += 1
            } else if draw < p.dropRate + p.errorRate {
                guard let status = p.statuses.filter(eligible).randomElement(using: &rng) else {
                    return .pass(latency: latency)
                }
                decision = .error(status: status, retryAfterSeconds: status == 429 ? p.retryAfterSeconds : nil, latency: latency)
                s.counts.errors += 1
            } else if draw < p.dropRate + p.errorRate + p.loseRate {
                decision = .lose(latency: latency)
                s.counts.losses += 1
                if let route = groups.last { s.counts.lossesByRoute[route, default: 0] += 1 }
            } else {
                return .pass(latency: latency)
            }
            if let left = p.remaining { p.remaining = left - 1; s.plan = p }
            return decision
        }
    }
}
