import Synchronization

/// A fault-injection plan set through an emulator's control surface
/// (`POST /_emulator/faults`). Faults are decided **before** a request touches any
/// state, so an injected failure never half-applies (a faulted ack does not ack).
///
/// JSON shape (every key optional):
/// `{"error_rate":0.2,"statuses":[429,500,503],"latency_ms":0,"drop_rate":0.0,
///   "routes":"work"|["poll","heartbeat"],"remaining":null,"retry_after_seconds":1}`
public struct EmulatorSharedFaultPlan: Sendable, Equatable {
    /// Probability (0…1) that a matching request is answered with one of `statuses`.
    public var errorRate: Double = 0
    /// Statuses to pick from, uniformly. 429 answers carry `retry-after`.
    public var statuses: [Int] = [500]
    /// Delay added to every matching request before it is handled (slow polls, slow heartbeats).
    public var latencyMilliseconds: Int = 0
    /// Probability (0…1) that a matching request gets no answer (see the emulator's docs for how).
    public var dropRate: Double = 0
    /// Route groups the plan applies to; `all` matches every route of the emulator.
    public var routes: [String] = ["all"]
    /// Errors plus drops left before the plan stops injecting; nil = unlimited.
    public var remaining: Int?
    /// `retry-after` seconds sent with injected 429s.
    public var retryAfterSeconds: Int = 1

    public init() {}

    /// Upper bound on `latency_ms`, so that a typo cannot park requests for hours.
    public static let maximumLatencyMilliseconds = 120_000

    /// Reads the control-surface JSON; the error text names the offending key.
    public static func decode(_ json: EmulatorSharedJSON) -> Result<EmulatorSharedFaultPlan, EmulatorSharedFaultPlanError> {
        guard json.objectValue != nil else { return .failure(.init(message: "body must be a JSON object")) }
        var plan = EmulatorSharedFaultPlan()
        func rate(_ key: String) -> Result<Double?, EmulatorSharedFaultPlanError> {
            guard let v = json[key], !v.isNull else { return .success(nil) }
            guard let d = v.doubleValue, d >= 0, d <= 1 else { return .failure(.init(message: "\(key) must be a number between 0 and 1")) }
            return .success(d)
        }
        switch rate("error_rate") { case .success(let d): if let d { plan.errorRate = d }; case .failure(let e): return .failure(e) }
        switch rate("drop_rate") { case .success(let d): if let d { plan.dropRate = d }; case .failure(let e): return .failure(e) }
        if let v = json["statuses"], !v.isNull {
            guard let list = v.arrayValue, !list.isEmpty else { return .failure(.init(message: "statuses must be a non-empty array of integers")) }
            var statuses: [Int] = []
            for s in list {
                guard let i = s.intValue, (400...599).contains(i) else { return .failure(.init(message: "statuses must hold integers between 400 and 599")) }
                statuses.append(i)
            }
            plan.statuses = statuses
        }
        if let v = json["latency_ms"], !v.isNull {
            guard let i = v.intValue, i >= 0, i <= maximumLatencyMilliseconds else {
                return .failure(.init(message: "latency_ms must be an integer between 0 and \(maximumLatencyMilliseconds)"))
            }
            plan.latencyMilliseconds = i
        }
        if let v = json["routes"], !v.isNull {
            if let s = v.stringValue {
                plan.routes = [s]
            } else if let list = v.arrayValue, !list.isEmpty, list.allSatisfy({ $0.stringValue != nil }) {
                plan.routes = list.compactMap(\.stringValue)
            } else {
                return .failure(.init(message: "routes must be a string or a non-empty array of strings"))
            }
        }
        if let v = json["remaining"], !v.isNull {
            guard let i = v.intValue, i >= 0 else { return .failure(.init(message: "remaining must be a non-negative integer or null")) }
            plan.remaining = i
        }
        if let v = json["retry_after_seconds"], !v.isNull {
            guard let i = v.intValue, i >= 0, i <= 3600 else { return .failure(.init(message: "retry_after_seconds must be an integer between 0 and 3600")) }
            plan.retryAfterSeconds = i
        }
        return .success(plan)
    }

    public var json: EmulatorSharedJSON {
        .object([
            ("error_rate", .double(errorRate)),
            ("statuses", .array(statuses.map { .int($0) })),
            ("latency_ms", .int(latencyMilliseconds)),
            ("drop_rate", .double(dropRate)),
            ("routes", .array(routes.map { .string($0) })),
            ("remaining", remaining.map { .int($0) } ?? .null),
            ("retry_after_seconds", .int(retryAfterSeconds)),
        ])
    }
}

public struct EmulatorSharedFaultPlanError: Error, Sendable, Equatable {
    public let message: String
}

/// What to do with one request.
public enum EmulatorSharedFaultDecision: Sendable, Equatable {
    case pass(latency: Duration)
    case error(status: Int, retryAfterSeconds: Int?, latency: Duration)
    case drop(latency: Duration)
}

/// Holds the current plan; `decide` is called once per request, before any handler.
public final class EmulatorSharedFaultInjector: Sendable {
    private let plan = Mutex<EmulatorSharedFaultPlan?>(nil)

    public init() {}

    public var current: EmulatorSharedFaultPlan? { plan.withLock { $0 } }

    public func set(_ newPlan: EmulatorSharedFaultPlan) { plan.withLock { $0 = newPlan } }

    public func clear() { plan.withLock { $0 = nil } }

    /// `groups` names the request's route groups (e.g. `["all", "work", "heartbeat"]`).
    /// The random draw and the `remaining` count are taken under the lock, so
    /// concurrent requests never overspend a limited plan.
    public func decide(groups: [String]) -> EmulatorSharedFaultDecision {
        var rng = SystemRandomNumberGenerator()
        return decide(groups: groups, using: &rng)
    }

    public func decide<R: RandomNumberGenerator>(groups: [String], using rng: inout R) -> EmulatorSharedFaultDecision {
        plan.withLock { stored in
            guard var p = stored, p.routes.contains(where: { $0 == "all" || groups.contains($0) }) else {
                return .pass(latency: .zero)
            }
            let latency = Duration.milliseconds(p.latencyMilliseconds)
            if let left = p.remaining, left <= 0 { return .pass(latency: latency) }
            let draw = Double.random(in: 0..<1, using: &rng)
            let decision: EmulatorSharedFaultDecision
            if draw < p.dropRate {
                decision = .drop(latency: latency)
            } else if draw < p.dropRate + p.errorRate, let status = p.statuses.randomElement(using: &rng) {
                decision = .error(status: status, retryAfterSeconds: status == 429 ? p.retryAfterSeconds : nil, latency: latency)
            } else {
                return .pass(latency: latency)
            }
            if let left = p.remaining { p.remaining = left - 1; stored = p }
            return decision
        }
    }
}
