import JSON

/// A fault-injection plan, the one shape both emulators take on their control surface
/// (`/_emulator/faults` for Anthropic, `/_emulator/superserve/faults` for Superserve).
/// Faults are decided **before** a request touches any state, so an injected failure
/// never half-applies (a faulted ack does not ack).
///
/// JSON shape (every key optional, any other key refused):
/// `{"error_rate":0.2,"statuses":[429,500,503],"latency_ms":0,"drop_rate":0.0,"lose_rate":0.0,
///   "routes":"work"|["poll","heartbeat"],"remaining":null,"retry_after_seconds":1}`
///
/// `statuses` is drawn from uniformly among those the request may get (an emulator
/// can refuse some statuses for some requests), so a status listed twice comes twice
/// as often. A request is dropped with `drop_rate` (nothing happens), answered with
/// an error with `error_rate` (nothing happens), or carried out and its answer lost
/// with `lose_rate`: the one fault that does touch state, as a connection that breaks
/// after the server acted does.
/// `routes` names route groups; which groups a request is in is each emulator's
/// business (its `faultGroups`), `all` being every API route of that emulator.
public struct FaultPlan: Sendable, Equatable {
    /// Probability (0…1) that a matching request is answered with one of `statuses`.
    public var errorRate: Double = 0
    /// Statuses to pick from, uniformly. 429 answers carry `retry-after`.
    public var statuses: [Int] = [500]
    /// Delay added to every matching request before it is handled (slow polls, slow heartbeats).
    public var latencyMilliseconds: Int = 0
    /// Probability (0…1) that a matching request gets no answer (see the emulator's docs for how).
    public var dropRate: Double = 0
    /// Probability (0…1) that a matching request is carried out and then gets no
    /// answer: a create that succeeded but whose 201 never arrives.
    public var loseRate: Double = 0
    /// Route groups the plan applies to; `all` matches every route of the emulator.
    public var routes: [String] = ["all"]
    /// Errors plus drops left before the plan stops injecting; nil = unlimited.
    public var remaining: Int?
    /// `retry-after` seconds sent with injected 429s.
    public var retryAfterSeconds: Int = 1

    public init() {}

    /// Upper bound on `latency_ms`, so that a typo cannot park requests for hours.
    public static let maximumLatencyMilliseconds = 120_000

    /// Every key `decode` accepts.
    public static let keys: Set<String> = [
        "error_rate", "statuses", "latency_ms", "drop_rate", "lose_rate", "routes", "remaining", "retry_after_seconds",
    ]

    /// Reads the control-surface JSON; the error text names the offending key.
    /// `allowedStatuses` are the statuses the emulator knows how to inject.
    public static func decode(_ json: JSONValue, allowedStatuses: Set<Int> = Set(400...599)) -> Result<FaultPlan, FaultPlanError> {
        guard let members = json.objectValue else { return .failure(.init(message: "body must be a JSON object")) }
        if let unknown = members.first(where: { !keys.contains($0.0) }) {
            return .failure(.init(message: "unknown field \(unknown.0)"))
        }
        var plan = FaultPlan()
        func rate(_ key: String) -> Result<Double?, FaultPlanError> {
            guard let v = json[key], !v.isNull else { return .success(nil) }
            guard let d = v.doubleValue, d >= 0, d <= 1 else { return .failure(.init(message: "\(key) must be a number between 0 and 1")) }
            return .success(d)
        }
        switch rate("error_rate") { case .success(let d): if let d { plan.errorRate = d }; case .failure(let e): return .failure(e) }
        switch rate("drop_rate") { case .success(let d): if let d { plan.dropRate = d }; case .failure(let e): return .failure(e) }
        switch rate("lose_rate") { case .success(let d): if let d { plan.loseRate = d }; case .failure(let e): return .failure(e) }
        guard plan.errorRate + plan.dropRate + plan.loseRate <= 1 + 1e-9 else {
            return .failure(.init(message: "error_rate, drop_rate and lose_rate must sum to at most 1"))
        }
        if let v = json["statuses"], !v.isNull {
            guard let list = v.arrayValue, !list.isEmpty else { return .failure(.init(message: "statuses must be a non-empty array of integers")) }
            var statuses: [Int] = []
            for s in list {
                guard let i = s.intValue, allowedStatuses.contains(i) else {
                    return .failure(.init(message: "statuses must hold only \(allowedStatuses.sorted().map(String.init).joined(separator: ", "))"))
                }
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

    public var json: JSONValue {
        .object([
            ("error_rate", .double(errorRate)),
            ("statuses", .array(statuses.map { .int($0) })),
            ("latency_ms", .int(latencyMilliseconds)),
            ("drop_rate", .double(dropRate)),
            ("lose_rate", .double(loseRate)),
            ("routes", .array(routes.map { .string($0) })),
            ("remaining", remaining.map { .int($0) } ?? .null),
            ("retry_after_seconds", .int(retryAfterSeconds)),
        ])
    }
}
