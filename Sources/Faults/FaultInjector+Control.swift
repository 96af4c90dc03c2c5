import HTTPServer
import HTTPWire
import JSON

/// The control endpoint both emulators mount, so that a plan is set, shown and cleared
/// the same way on either: `GET` shows it, `POST` sets it (a `FaultPlan` object),
/// `DELETE` clears it, and each answers `{"faults": plan|null}`.
extension FaultInjector {
    /// The answer to one control request: `.success` with the body to send as 200,
    /// `.failure` naming what is wrong with a plan (the emulator's 400), nil for a
    /// method other than GET, POST and DELETE (its 405).
    public func control(_ request: Request, allowedStatuses: Set<Int> = Set(400...599)) -> Result<JSONValue, FaultPlanError>? {
        switch request.method {
        case .GET:
            return .success(Self.answer(current))
        case .POST:
            guard !request.body.isEmpty else { return .failure(.init(message: "body required")) }
            guard let body = try? JSONValue.parse(request.body) else { return .failure(.init(message: "body must be JSON")) }
            switch FaultPlan.decode(body, allowedStatuses: allowedStatuses) {
            case .success(let plan):
                set(plan)
                return .success(Self.answer(plan))
            case .failure(let e):
                return .failure(e)
            }
        case .DELETE:
            clear()
            return .success(Self.answer(nil))
        default:
            return nil
        }
    }

    private static func answer(_ plan: FaultPlan?) -> JSONValue {
        .object([("faults", plan?.json ?? .null)])
    }
}
