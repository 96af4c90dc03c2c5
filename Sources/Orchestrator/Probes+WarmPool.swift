import JSON
import SandboxLifecycle

extension Probes {
    /// The environment's warm pool on `/status` (README "Warm pool"), or null when it
    /// is off. `ready` counts claimable sandboxes as this replica last listed them.
    func warmPoolJSON() -> String {
        guard let pool = pipeline.warmPool else { return "null" }
        let s = pool.snapshot
        let claims: [String] = WarmPoolClaimOutcome.allCases.map { outcome in
            JSONEscape.quoted(outcome.rawValue) + ":" + String(s.claims[outcome] ?? 0)
        }
        var out = #"{"size":"# + String(s.size)
        out += #","ready":"# + String(s.ready)
        out += #","max_age_seconds":"# + String(pool.configuration.maxAge.components.seconds)
        out += #","claims":{"# + claims.joined(separator: ",") + "}"
        out += #","created":"# + String(s.created)
        out += #","refill_failures":"# + String(s.refillFailures)
        out += #","recycled":"# + String(s.recycled) + "}"
        return out
    }
}
