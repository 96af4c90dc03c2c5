import Foundation
import HTTPServer
import HTTPWire

/// Test switches under `/_emulator/superserve/` (no auth, never counted as calls):
///
/// - `POST /faults` `{"error_rates":{"429":0.5,"503":1.0},"latency_ms":200,"retry_after_s":1,
///   "endpoints":["sandboxes.create"],"count":3}` (all optional) → 200 with the active
///   settings; `DELETE /faults` clears → 204. `GET /faults` shows them.
/// - `POST /hold` `{"status":"starting|pausing|resuming","ms":N}` sets the hold of that
///   transition for every later create/pause/resume; with `"sandbox_id"` it instead
///   puts that sandbox into the status now and lets it reach `active` (`paused` for
///   `pausing`) after N ms → 200 `{"status","ms","sandbox_id"?}`.
/// - `POST /expire-tokens` `{"sandbox_id"?}` (body optional) → 200 `{"expired":n}`.
/// - `POST /sandboxes/{id}/fail` → 200 sandbox object (status `failed`, processes killed).
/// - `GET /calls` → 200 `{"total":n,"calls":{"sandboxes.create":1,…}}`; `DELETE /calls` resets → 204.
extension SuperserveEmulator {
    static let switchPrefix = "/_emulator/superserve"

    func addSwitchRoutes(to router: inout Router) {
        router.add(nil, Self.switchPrefix, match: .prefix, .async { [self] request in
            let s = request.pathSegments.dropFirst(2).map(String.init)
            switch (s, request.method) {
            case (["faults"], .POST): return setFaults(request)
            case (["faults"], .DELETE):
                state.withLock { $0.faults = nil }
                return .empty(status: 204)
            case (["faults"], .GET):
                return Self.json(state.withLock { $0.faults?.json } ?? .null)
            case (["hold"], .POST): return hold(request)
            case (["expire-tokens"], .POST): return expireTokens(request)
            case (["calls"], .GET):
                let calls = state.withLock { $0.calls }
                return Self.json(.object([
                    ("total", .int(calls.values.reduce(0, +))),
                    ("calls", .object(calls.keys.sorted().map { ($0, .int(calls[$0] ?? 0)) })),
                ]))
            case (["calls"], .DELETE):
                state.withLock { $0.calls = [:] }
                return .empty(status: 204)
            default:
                if s.count == 3, s[0] == "sandboxes", s[2] == "fail", request.method == .POST { return fail(s[1]) }
                return Self.envelope(404, "not_found", "unknown emulator switch")
            }
        })
    }

    private func setFaults(_ request: Request) -> Response {
        let body = request.body.isEmpty ? SuperserveJSON.object([]) : (try? SuperserveJSON.parse(request.body))
        guard let body, let fields = body.objectValue else { return Self.badRequest("body must be a JSON object") }
        if let unknown = SuperserveValidation.unknownField(in: fields, allowed: ["error_rates", "latency_ms", "retry_after_s", "endpoints", "count"]) {
            return Self.badRequest(unknown)
        }
        var rates: [Int: Double] = [:]
        if let raw = body["error_rates"], let entries = raw.objectValue {
            for (key, value) in entries {
                let rate = value.doubleValue
                guard let status = Int(key), SuperserveFaults.allowedStatuses.contains(status), let rate, (0...1).contains(rate) else {
                    return Self.badRequest("error_rates maps 429, 500, 502, 503, 504 to a probability in [0, 1]")
                }
                rates[status] = rate
            }
            guard rates.values.reduce(0, +) <= 1.0 + 1e-9 else { return Self.badRequest("error_rates must sum to at most 1") }
        }
        let latency = body["latency_ms"]?.intValue ?? 0
        let retryAfter = body["retry_after_s"]?.intValue ?? 1
        var endpoints: Set<String>?
        if let raw = body["endpoints"], case .array(let items) = raw { endpoints = Set(items.compactMap(\.stringValue)) }
        let faults = SuperserveFaults(errorRates: rates, latency: .milliseconds(max(0, latency)),
                                      retryAfterSeconds: max(1, retryAfter), endpoints: endpoints,
                                      remaining: body["count"]?.intValue)
        state.withLock { $0.faults = faults }
        return Self.json(faults.json)
    }

    private func hold(_ request: Request) -> Response {
        guard let body = try? SuperserveJSON.parse(request.body), body.objectValue != nil,
              let raw = body["status"]?.stringValue, let status = SuperserveSandboxStatus(rawValue: raw), status.isTransitional,
              let ms = body["ms"]?.intValue, ms >= 0 else {
            return Self.badRequest("body must be {\"status\":\"starting|pausing|resuming\",\"ms\":N,\"sandbox_id\"?:id}")
        }
        if let id = body["sandbox_id"]?.stringValue {
            guard state.withLock({ $0.sandboxes[id] }) != nil else { return Self.notFound() }
            beginTransition(id, status, hold: .milliseconds(ms))
            return Self.json(.object([("status", .string(raw)), ("ms", .int(ms)), ("sandbox_id", .string(id))]))
        }
        state.withLock { $0.holds[status] = .milliseconds(ms) }
        return Self.json(.object([("status", .string(raw)), ("ms", .int(ms))]))
    }

    private func expireTokens(_ request: Request) -> Response {
        let only = request.body.isEmpty ? nil : (try? SuperserveJSON.parse(request.body))?["sandbox_id"]?.stringValue
        let count = state.withLock { store -> Int in
            var n = 0
            for id in Array(store.sandboxes.keys) where only == nil || only == id {
                n += store.sandboxes[id]?.tokens.count ?? 0
                store.sandboxes[id]?.tokens = []
            }
            return n
        }
        return Self.json(.object([("expired", .int(count))]))
    }

    private func fail(_ id: String) -> Response {
        guard setStatus(id, .failed) != nil else { return Self.notFound() }
        // A failed VM's processes are gone.
        LocalSandboxProcesses.signalAll(sandboxID: id, signal: SIGKILL)
        guard let record = state.withLock({ $0.sandboxes[id] }) else { return Self.notFound() }
        return Self.json(record.json())
    }
}
