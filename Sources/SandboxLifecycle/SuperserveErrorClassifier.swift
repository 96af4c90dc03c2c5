/// Which Superserve call failed: rule 33's rows differ by method.
public enum SuperserveCall: String, Sendable, CaseIterable {
    /// `GET` (list, read, templates) and `DELETE`.
    case read
    /// `POST /sandboxes` (rules 15, 16).
    case create
    /// `POST /sandboxes/{id}/activate` (rules 19, 20).
    case activate
    /// `POST /sandboxes/{id}/pause` (rule 44).
    case pause
    /// `PATCH /sandboxes/{id}`: metadata (rule 18) or network (rule 23).
    case update
    /// Files and exec, after the client's own refresh-and-retry (rule 32).
    case dataPlane
    /// Data-plane calls that are safe to repeat whatever the first one did: the
    /// runner bundle write (the same bytes to the same path), the launch exec
    /// (`launch.sh` is idempotent per work id, rule 31) and the probe.
    case idempotentDataPlane
}

/// What to do with a failed Superserve call (rule 33). The caller decides by this,
/// never by the status code.
public enum SuperserveDisposition: Sendable, Equatable {
    /// Back off and retry, honouring the server's hint (rule 34). For create, look
    /// up again before creating again (rule 16).
    case retry(hint: Duration?)
    /// 429 `too_many_sandboxes`: the team's active-sandbox quota; back off within
    /// the launch budget like `retry` (rule 20, superserve.md §7).
    case quota(hint: Duration?)
    /// 404: the sandbox is gone (rule 33, "404 = gone"; rules 12, 13, 20).
    case notFound
    /// 409 with the server's code: what it means is the call's special case
    /// (create: template not ready; activate: rule 20; pause: not active; PATCH
    /// network: not active, rule 23).
    case conflict(code: String?, hint: Duration?)
    /// Do not retry this step.
    case fatal
}

/// Rule 33's Superserve rows in ONE function, a pure function of the error.
///
/// | call | retry | not found | conflict | fatal |
/// |---|---|---|---|---|
/// | read (GET, DELETE) | transport, 429, 502, 503, 504 | 404 | – | everything else (400, 401, 403, 409, 500) |
/// | create | transport, 429, ≥500 | – | 409 (template not ready) | everything else (400, 404 template) |
/// | activate, pause, update | transport, 429, ≥500 | 404 | 409 | everything else (400, 401, 403) |
/// | data plane | transport, 429, 502, 503, 504 | – | – | everything else (400) |
/// | idempotent data plane | transport, 429, ≥500 | – | – | everything else (400) |
///
/// A 429 whose code is `too_many_sandboxes` is `quota` wherever 429 is retried.
/// Answers that were not an HTTP error (unreadable 2xx, bad bundle, configuration)
/// are fatal, and so is a redirect (never followed: the configured URL is wrong).
/// A 500 on a data-plane call that is safe to repeat (the bundle write, the launch
/// exec, the probe) is retried: whether the first attempt acted does not matter, and
/// failing the launch would force-stop a session that a retry serves. The data
/// plane's 429, 503 and 504 are retried beyond the table's 502: a sandbox still
/// waking answers them, and the client has already spent rule 32's single refresh.
public enum SuperserveErrorClassifier {
    public static func disposition(of error: SandboxLifecycleError, for call: SuperserveCall) -> SuperserveDisposition {
        switch error {
        case .transport(.redirectRefused):
            return .fatal
        case .transport:
            return .retry(hint: nil)
        case .invalidResponse, .invalidBundle, .invalidConfiguration, .buildFailed:
            return .fatal
        case .http(let status, let code, _, let hint):
            return disposition(status: status, code: code, hint: hint, for: call)
        }
    }

    static func disposition(status: Int, code: String?, hint: Duration?, for call: SuperserveCall) -> SuperserveDisposition {
        if status == 429 { return code == "too_many_sandboxes" ? .quota(hint: hint) : .retry(hint: hint) }
        switch call {
        case .read, .dataPlane:
            if [502, 503, 504].contains(status) { return .retry(hint: hint) }
            if call == .read, status == 404 { return .notFound }
            return .fatal
        case .idempotentDataPlane:
            return status >= 500 ? .retry(hint: hint) : .fatal
        case .create, .activate, .pause, .update:
            if status >= 500 { return .retry(hint: hint) }
            if status == 409 { return .conflict(code: code, hint: hint) }
            if status == 404, call != .create { return .notFound }
            return .fatal
        }
    }

    /// Rule 32 / superserve.md §8.4: which data-plane answers call for one refresh
    /// (activate, single flight per sandbox) and one retry: 401/403, 404
    /// `sandbox_route_stale`, and 503 (with a routing hint: only 503 `sandbox_unavailable`).
    public static func refreshesAccess(_ error: SandboxLifecycleError, routingHint: String?) -> Bool {
        guard case .http(let status, let code, _, _) = error else { return false }
        switch status {
        case 401, 403: return true
        case 404: return code == "sandbox_route_stale"
        case 503: return routingHint == nil || routingHint?.isEmpty == true || code == "sandbox_unavailable"
        default: return false
        }
    }
}
