import Foundation
import JSON

/// Everything the emulator remembers, guarded by one `Mutex` in `SuperserveEmulator`.
struct SuperserveStore: Sendable {
    var sandboxes: [String: SuperserveSandboxRecord] = [:]
    var templates: [String: SuperserveTemplateRecord] = [:]
    var builds: [String: SuperserveBuildRecord] = [:]
    /// Build logs, specs, failures and log followers (`SuperserveEmulator+Templates`).
    var buildExtras = SuperserveBuildExtras()
    var sequence = 0
    /// Hold durations for `starting`, `pausing`, `resuming` (switch `hold`).
    var holds: [SuperserveSandboxStatus: Duration] = [:]
    /// Calls per endpoint label (switch `calls`).
    var calls: [String: Int] = [:]
    var isShutDown = false
    /// Team rate-limit bucket (tokens, last refill), when `teamRateLimit` is set.
    var bucket: (tokens: Double, last: ContinuousClock.Instant)?

    /// Sandboxes that count toward `maxActiveSandboxes` (§4: paused and failed do not).
    var activeCount: Int {
        sandboxes.values.filter { [.starting, .active, .pausing, .resuming].contains($0.status) }.count
    }

    /// Answers refused by a team limit, by code (switch `calls`).
    var rejections: [String: Int] = [:]

    /// Takes one token: `wait` is nil and `remaining` the whole tokens left after it,
    /// or `wait` is the seconds (≥ 1, §7) until one is there.
    mutating func takeToken(_ limit: SuperserveRateLimit, now: ContinuousClock.Instant) -> (wait: Int?, remaining: Int) {
        var (tokens, last) = bucket ?? (Double(limit.burst), now)
        let elapsed = last.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(Double(limit.burst), tokens + seconds * limit.requestsPerSecond)
        defer { bucket = (tokens, now) }
        if tokens >= 1 {
            tokens -= 1
            return (nil, Int(tokens))
        }
        return (max(1, Int(((1 - tokens) / max(limit.requestsPerSecond, 0.001)).rounded(.up))), 0)
    }

    func template(named nameOrID: String) -> SuperserveTemplateRecord? {
        templates[nameOrID] ?? templates.values.first { $0.name == nameOrID }
    }

    /// Valid (unexpired) token check for the data plane.
    func tokenIsValid(_ token: String, sandboxID: String, now: ContinuousClock.Instant) -> Bool {
        guard let record = sandboxes[sandboxID] else { return false }
        return record.tokens.contains { SuperserveStore.constantTimeEquals($0.token, token) && $0.expires > now }
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
