import Foundation

/// Everything the emulator remembers, guarded by one `Mutex` in `SuperserveEmulator`.
struct SuperserveStore: Sendable {
    var sandboxes: [String: SuperserveSandboxRecord] = [:]
    var templates: [String: SuperserveTemplateRecord] = [:]
    var builds: [String: SuperserveBuildRecord] = [:]
    var sequence = 0
    /// Hold durations for `starting`, `pausing`, `resuming` (switch `hold`).
    var holds: [SuperserveSandboxStatus: Duration] = [:]
    var faults: SuperserveFaults?
    /// Calls per endpoint label (switch `calls`).
    var calls: [String: Int] = [:]
    var isShutDown = false
    /// Team rate-limit bucket (tokens, last refill), when `teamRateLimit` is set.
    var bucket: (tokens: Double, last: ContinuousClock.Instant)?

    /// Sandboxes that count toward `maxActiveSandboxes` (§4: paused and failed do not).
    var activeCount: Int {
        sandboxes.values.filter { [.starting, .active, .pausing, .resuming].contains($0.status) }.count
    }

    /// Takes one token; returns the seconds to wait when none is left.
    mutating func takeToken(_ limit: SuperserveRateLimit, now: ContinuousClock.Instant) -> Int? {
        var (tokens, last) = bucket ?? (Double(limit.burst), now)
        let elapsed = last.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(Double(limit.burst), tokens + seconds * limit.requestsPerSecond)
        defer { bucket = (tokens, now) }
        if tokens >= 1 { tokens -= 1; return nil }
        return max(1, Int(((1 - tokens) / max(limit.requestsPerSecond, 0.001)).rounded(.up)))
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

/// Injected failures and latency (superserve.md §10.10), set by
/// `POST /_emulator/superserve/faults`.
struct SuperserveFaults: Sendable {
    /// HTTP status → probability in [0, 1]. 429 applies to every method, 502/503/504
    /// to GET and DELETE (what the SDK retries, §9), 500 to POST and PATCH.
    var errorRates: [Int: Double]
    var latency: Duration
    var retryAfterSeconds: Int
    /// Endpoint labels the faults apply to; nil = every control-plane endpoint.
    var endpoints: Set<String>?
    /// Errors still to inject; nil = unlimited.
    var remaining: Int?

    static let allowedStatuses: Set<Int> = [429, 500, 502, 503, 504]

    func applies(to label: String) -> Bool {
        if let endpoints { return endpoints.contains(label) }
        return label.hasPrefix("sandboxes.") || label.hasPrefix("templates.")
    }

    /// The status to inject for a request, given a uniform roll in [0, 1).
    func status(forMethod method: String, roll: Double) -> Int? {
        if let remaining, remaining <= 0 { return nil }
        var cumulative = 0.0
        for status in errorRates.keys.sorted() {
            cumulative += errorRates[status] ?? 0
            if roll < cumulative {
                switch status {
                case 429: return 429
                case 502, 503, 504: return method == "GET" || method == "DELETE" ? status : nil
                case 500: return method == "POST" || method == "PATCH" ? 500 : nil
                default: return nil
                }
            }
        }
        return nil
    }

    var json: SuperserveJSON {
        var fields: [(String, SuperserveJSON)] = [
            ("error_rates", .object(errorRates.keys.sorted().map { (String($0), .double(errorRates[$0] ?? 0)) })),
            ("latency_ms", .int(Int(latency.components.seconds * 1000 + latency.components.attoseconds / 1_000_000_000_000_000))),
            ("retry_after_s", .int(retryAfterSeconds)),
        ]
        fields.append(("endpoints", endpoints.map { .array($0.sorted().map { .string($0) }) } ?? .null))
        fields.append(("count", remaining.map { .int($0) } ?? .null))
        return .object(fields)
    }
}

/// The Superserve emulator reads and writes JSON with the emulators' shared value
/// type (ordered members, bools apart from numbers, strict RFC 8259 parser).
typealias SuperserveJSON = EmulatorSharedJSON
