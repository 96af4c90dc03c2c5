import Faults
import Foundation
import HTTPServer
import HTTPWire
import JSON
import LocalSandboxes
import Logging
import Synchronization

/// Loopback emulator of the Superserve control plane and data plane
/// (superserve.md §10), served by the project's own HTTP server. Sandboxes are local
/// directories with real processes (`LocalSandbox`).
///
/// Routes: `/sandboxes…` and `/templates…` (control plane, `X-API-Key`), `/files`,
/// `/exec`, `/exec/stream` (data plane, `X-Superserve-Sandbox-Id` or
/// `Host: boxd-<id>.…`, plus `X-Access-Token`), and the test switches under
/// `/_emulator/superserve/` (no auth; see `SuperserveEmulator+Switches.swift`).
public final class SuperserveEmulator: Sendable {
    let configuration: SuperserveEmulatorConfiguration
    let logger: Logger
    let state: Mutex<SuperserveStore>
    let sweeper: Mutex<Task<Void, Never>?> = Mutex(nil)
    /// Injected failures and latency (superserve.md §10.10), set through
    /// `/_emulator/superserve/faults`; public so that in-process tests read its counts.
    public let faults = FaultInjector()

    static let teamID = "team-emulator"

    public init(configuration: SuperserveEmulatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var store = SuperserveStore()
        store.holds = [.starting: configuration.startingHold, .pausing: configuration.pausingHold,
                       .resuming: configuration.resumingHold]
        let now = Date()
        // §6: the listing also returns curated system templates; `superserve/base` is
        // the create default (§3.2).
        let base = SuperserveTemplateRecord(id: "tpl-superserve-base", teamID: "system", name: "superserve/base",
                                            status: "ready", vcpu: 1, memoryMiB: 1024, diskMiB: 4096,
                                            createdAt: now, builtAt: now, latestBuildID: nil, workdir: nil, system: true)
        store.templates[base.id] = base
        if !configuration.templateName.isEmpty {
            let template = SuperserveTemplateRecord(id: "tpl-" + UUID().uuidString.lowercased(), teamID: Self.teamID,
                                                    name: configuration.templateName, status: "ready", vcpu: 2,
                                                    memoryMiB: 2048, diskMiB: 4096, createdAt: now, builtAt: now,
                                                    latestBuildID: nil, workdir: configuration.templateWorkdir, system: false)
            store.templates[template.id] = template
        }
        state = Mutex(store)
        try? FileManager.default.createDirectory(at: configuration.sandboxesRoot, withIntermediateDirectories: true)
        startSweeper()
    }

    /// Every route of the emulator, ready to be merged into a server's router.
    public var router: Router {
        var router = Router()
        addControlPlaneRoutes(to: &router)
        addTemplateRoutes(to: &router)
        addDataPlaneRoutes(to: &router)
        addSwitchRoutes(to: &router)
        return router
    }

    /// Stops the auto-pause/auto-delete sweep and kills every local sandbox process
    /// (SIGKILL). Sandbox directories stay unless `removeSandboxesOnShutdown`.
    public func shutdown() async {
        sweeper.withLock { $0?.cancel(); $0 = nil }
        let ids = state.withLock { store -> [String] in
            store.isShutDown = true
            return Array(store.sandboxes.keys)
        }
        for id in ids {
            LocalSandboxProcesses.signalAll(sandboxID: id, signal: SIGKILL)
            if configuration.removeSandboxesOnShutdown { localSandbox(id).remove() }
        }
        logger.info("superserve.emulator.stopped", metadata: ["sandbox.count": "\(ids.count)"])
    }

    func localSandbox(_ id: String) -> LocalSandbox {
        LocalSandbox(id: id, sandboxesRoot: configuration.sandboxesRoot, mappedRoots: configuration.mappedRoots)
    }

    // MARK: endpoint plumbing

    enum Plane { case control, data }

    /// Wraps a handler: counts the call, applies injected latency and faults, checks
    /// the API key on the control plane (§1).
    func endpoint(_ label: String, plane: Plane, _ body: @escaping @Sendable (Request) async -> Response) -> Handler {
        .async { [self] request in
            await self.handle(label: label, plane: plane, request: request, body: body)
        }
    }

    func handle(label: String, plane: Plane, request: Request,
                body: @Sendable (Request) async -> Response) async -> Response {
        state.withLock { $0.calls[label, default: 0] += 1 }
        let decision = faults.decide(groups: Self.faultGroups(label)) { Self.mayInject($0, method: request.method) }
        await decision.applyLatency()
        switch decision {
        case .pass: break
        case .error(let status, let retryAfter, _):
            return Self.injectedFault(status, retryAfter: retryAfter ?? 1, limit: configuration.teamRateLimit)
        case .drop: return FaultDecision.droppedResponse()
        case .lose: break   // acts below, then loses the answer
        }
        if plane == .control {
            let key = request.headers[first: "X-API-Key"] ?? ""
            guard !key.isEmpty, SuperserveStore.constantTimeEquals(key, configuration.apiKey) else {
                return Self.envelope(401, "auth_failed", "invalid or missing API key")
            }
        }
        // §7: the team bucket applies after auth. The data plane counts too: its token
        // belongs to a sandbox of the team, and every call of a launch spends the
        // team's budget (the emulator's reading; §11 leaves data-plane limits open).
        guard let limit = configuration.teamRateLimit else {
            let response = await body(request)
            // An injected lost answer: the call acted, its answer never arrives (a lost 201, rule 16).
            if case .lose = decision { return FaultDecision.droppedResponse() }
            return response
        }
        let taken = state.withLock { $0.takeToken(limit, now: .now) }
        if let wait = taken.wait {
            state.withLock { $0.rejections["rate_limited", default: 0] += 1 }
            var response = Self.envelope(429, "rate_limited", "rate limit exceeded")
            response.headers.add(name: "Retry-After", value: String(wait))
            Self.addRateLimitHeaders(&response, limit, remaining: 0, reset: wait)
            return response
        }
        var response = await body(request)
        if case .lose = decision { return FaultDecision.droppedResponse() }
        if response.status == 429, case .bytes(let bytes) = response.body,
           let code = (try? JSONValue.parse(bytes))?["error"]?["code"]?.stringValue {
            state.withLock { $0.rejections[code, default: 0] += 1 }   // too_many_sandboxes, …
        }
        Self.addRateLimitHeaders(&response, limit, remaining: taken.remaining, reset: taken.remaining > 0 ? 0 : 1)
        return response
    }

    /// §7's `RateLimit-*` headers, on every answer the team bucket let through and on
    /// its 429s: `RateLimit-Limit` is the team's sustained rate in requests per second,
    /// `RateLimit-Remaining` the whole tokens left (up to the burst), `RateLimit-Reset`
    /// the seconds until the next token, and `RateLimit-Policy` names both
    /// (`20;w=1;burst=40`), so a client can size its own bucket from any answer.
    static func addRateLimitHeaders(_ response: inout Response, _ limit: SuperserveRateLimit, remaining: Int, reset: Int) {
        let rate = max(1, Int(limit.requestsPerSecond.rounded()))
        response.headers.add(name: "RateLimit-Limit", value: String(rate))
        response.headers.add(name: "RateLimit-Remaining", value: String(max(0, remaining)))
        response.headers.add(name: "RateLimit-Reset", value: String(max(0, reset)))
        response.headers.add(name: "RateLimit-Policy", value: "\(rate);w=1;burst=\(limit.burst)")
    }

    /// What the emulator can inject (§10.10): 429 anywhere, 502/503/504 on GET and
    /// DELETE (what the SDK retries, §9), 500 on POST and PATCH.
    static let faultStatuses: Set<Int> = [429, 500, 502, 503, 504]

    static func mayInject(_ status: Int, method: HTTPMethod) -> Bool {
        switch status {
        case 429: true
        case 502, 503, 504: method == .GET || method == .DELETE
        case 500: method == .POST || method == .PATCH
        default: false
        }
    }

    /// Fault-plan route groups of an endpoint: `all`, its plane (`control`: sandboxes
    /// and templates; `data`: files and exec) and its label.
    static func faultGroups(_ label: String) -> [String] {
        label.hasPrefix("sandboxes.") || label.hasPrefix("templates.") ? ["all", "control", label] : ["all", "data", label]
    }

    /// An injected 429 reports the team limit in force (none when it is lifted), so a
    /// client adapting to `RateLimit-*` is not told of a limit that does not exist.
    static func injectedFault(_ status: Int, retryAfter: Int, limit: SuperserveRateLimit? = nil) -> Response {
        switch status {
        case 429:
            var response = envelope(429, "rate_limited", "rate limit exceeded")
            response.headers.add(name: "Retry-After", value: String(max(1, retryAfter)))
            if let limit {
                addRateLimitHeaders(&response, limit, remaining: 0, reset: max(1, retryAfter))
            } else {
                response.headers.add(name: "RateLimit-Remaining", value: "0")
                response.headers.add(name: "RateLimit-Reset", value: String(max(1, retryAfter)))
            }
            return response
        case 500:
            return envelope(500, "internal_error", "injected internal error")
        default:
            return envelope(status, "service_unavailable", "injected upstream failure")
        }
    }

    // MARK: answers

    /// §2 error body: `{"error":{"code","message"}}`.
    static func envelope(_ status: Int, _ code: String, _ message: String) -> Response {
        json(.object([("error", .object([("code", .string(code)), ("message", .string(message))]))]), status: status)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response.json(bytes: value.bytes, status: status)
    }

    static func badRequest(_ message: String) -> Response { envelope(400, "bad_request", message) }
    /// §7: no `Retry-After` (room is made by pausing or deleting, not by waiting).
    static func tooManySandboxes() -> Response { envelope(429, "too_many_sandboxes", "active sandbox limit reached") }

    /// §7 quota check for create, resume and activate of a paused sandbox.
    func overQuota(_ store: SuperserveStore) -> Bool {
        guard let max = configuration.maxActiveSandboxes else { return false }
        return store.activeCount >= max
    }
    static func notFound(_ what: String = "Sandbox not found") -> Response { envelope(404, "not_found", what) }
    static func conflict(_ message: String = "Sandbox is not in a valid state for this operation",
                         code: String = "conflict") -> Response {
        envelope(409, code, message)
    }

    /// Parses a strict JSON object body: non-JSON, a non-object or an unknown field
    /// is 400 (§2).
    static func strictObject(_ body: [UInt8], allowed: Set<String>) -> Result<JSONValue, SuperserveValidation.Message> {
        guard !body.isEmpty else { return .failure("request body is required") }
        guard let value = try? JSONValue.parse(body), let fields = value.objectValue else {
            return .failure("request body must be a JSON object")
        }
        if let unknown = SuperserveValidation.unknownField(in: fields, allowed: allowed) {
            return .failure(.init(unknown))
        }
        return .success(value)
    }
}
