import Foundation

/// The warm pool's pure core (style habit 2): from one listing of the environment's
/// pool sandboxes (`metadata.cma.pool=<environment>`), the clock and the pool's
/// settings, what is claimable, what is recycled and how many to create. No I/O.
///
/// Tags of a pool sandbox (README "Warm pool"):
/// - `cma.pool` = environment id: membership; the only key the pool lists by. It
///   carries no `cma.environment_id`, so the janitor (rule 44) never lists an
///   unclaimed pool sandbox: the pool alone looks after it (refill, recycle).
/// - `cma.pool_state` = `staging` while the runner bundle is being written, `ready`
///   once it is in place: only `ready` ones are claimed.
/// - `cma.pooled_at`: when it was created; the age that `warm_pool_max_age` measures.
/// - `cma.pool_profile`: digest of the runner bundle staged in it and of the profile it
///   was created with (template, egress, timeouts); a replica claims only sandboxes
///   with its own digest (rule 24: a sandbox runs the current version; rule 22: the
///   current egress policy).
public struct WarmPoolPlan: Sendable, Equatable {
    public static let poolTag = "cma.pool"
    public static let stateTag = "cma.pool_state"
    public static let pooledAtTag = "cma.pooled_at"
    public static let bundleTag = "cma.pool_profile"
    /// Every key that marks a sandbox as an unclaimed pool member; a claim removes them.
    public static let poolKeys: Set<String> = [poolTag, stateTag, pooledAtTag, bundleTag]

    public enum RecycleReason: String, Sendable, CaseIterable {
        /// Older than `warm_pool_max_age`.
        case age
        /// Its status is `failed`.
        case failed
        /// Still `staging` long after its creation: the replica that staged it is gone.
        case staging
    }

    /// Claimable now, oldest first.
    public var ready: [Sandbox] = []
    /// Not claimable yet, but counted towards the size (starting, resuming, pausing,
    /// staging).
    public var pending = 0
    public var recycle: [(Sandbox, RecycleReason)] = []
    public var create = 0
    /// Ids excluded earlier that the listing no longer shows (re-tagged or deleted): forget them.
    public var forget: Set<String> = []

    public static func == (a: WarmPoolPlan, b: WarmPoolPlan) -> Bool {
        a.ready.map(\.id) == b.ready.map(\.id) && a.pending == b.pending && a.create == b.create
            && a.recycle.map { "\($0.0.id):\($0.1.rawValue)" } == b.recycle.map { "\($0.0.id):\($0.1.rawValue)" }
            && a.forget == b.forget
    }

    public init() {}

    /// `excluded`: ids this process took for a claim (won or lost) or is recycling.
    public static func make(listed: [Sandbox], now: Date, size: Int, maxAge: Duration, stagingTimeout: Duration,
                            bundleDigest: String, excluded: Set<String>) -> WarmPoolPlan {
        var plan = WarmPoolPlan()
        var fresh: [(Sandbox, Date)] = []
        let listedIDs = Set(listed.map(\.id))
        plan.forget = excluded.subtracting(listedIDs)
        for sandbox in listed where sandbox.status != .deleted {
            let born = pooledAt(sandbox) ?? now
            let age = now.timeIntervalSince(born)
            if sandbox.status == .failed {
                plan.recycle.append((sandbox, .failed))
                continue
            }
            let staging = sandbox.metadata[stateTag] != "ready"
            if staging {
                if age > stagingTimeout.seconds { plan.recycle.append((sandbox, .staging)) } else { plan.pending += 1 }
                continue
            }
            // Age first: an old sandbox is recycled even when another bundle staged it,
            // or this process once took it (the recycle's own claim settles who holds it).
            if age > maxAge.seconds {
                plan.recycle.append((sandbox, .age))
                continue
            }
            // Taken by this process (claimed and not yet re-tagged, or lost to another
            // holder): it is someone's now, so it neither counts nor is offered.
            guard sandbox.metadata[bundleTag] == bundleDigest, !excluded.contains(sandbox.id) else { continue }
            switch sandbox.status {
            case .active, .paused: fresh.append((sandbox, born))
            default: plan.pending += 1
            }
        }
        plan.ready = fresh.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.id < $1.0.id }.map(\.0)
        plan.create = max(0, size - plan.ready.count - plan.pending)
        return plan
    }

    static func pooledAt(_ sandbox: Sandbox) -> Date? {
        sandbox.metadata[pooledAtTag].flatMap(Timestamp.parse) ?? sandbox.createdAt
    }
}
