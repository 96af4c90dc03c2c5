import Faults
import Foundation
import HTTPServer
import HTTPWire
import JSON
import LocalSandboxes

/// Test switches under `/_emulator/superserve/` (no auth, never counted as calls):
///
/// - `GET|POST|DELETE /faults`: the fault plan shared with the Anthropic emulator
///   (`FaultPlan`: `{"error_rate":1,"statuses":[503],"latency_ms":200,"lose_rate":0,
///   "routes":["sandboxes.create"],"remaining":3,"retry_after_seconds":1}`) → 200
///   `{"faults": plan|null}`. Route groups are the endpoint labels, `control` (sandboxes
///   and templates), `data` (files and exec) and `all` (both planes). `lose_rate` carries
///   the call out and then breaks the connection before the answer: a create that
///   succeeded but whose 201 never arrives (orchestrator rule 16).
/// - `POST /hold` `{"status":"starting|pausing|resuming","ms":N}` sets the hold of that
///   transition for every later create/pause/resume; with `"sandbox_id"` it instead
///   puts that sandbox into the status now and lets it reach `active` (`paused` for
///   `pausing`) after N ms → 200 `{"status","ms","sandbox_id"?}`.
/// - `POST /expire-tokens` `{"sandbox_id"?}` (body optional) → 200 `{"expired":n}`.
/// - `POST /sandboxes/{id}/fail` → 200 sandbox object (status `failed`, processes killed).
/// - `GET /calls` → 200 `{"total":n,"calls":{"sandboxes.create":1,…},"rejected":{"rate_limited":n,
///   "too_many_sandboxes":n},"active_sandboxes":n}`; `DELETE /calls` resets the counts → 204.
extension SuperserveEmulator {
    static let switchPrefix = "/_emulator/superserve"

    func addSwitchRoutes(to router: inout Router) {
        router.add(nil, Self.switchPrefix, match: .prefix, .async { [self] request in
            let s = request.pathSegments.dropFirst(2).map(String.init)
            switch (s, request.method) {
            case (["faults"], _):
                switch faults.control(request, allowedStatuses: Self.faultStatuses) {
                case .success(let answer): return Self.json(answer)
                case .failure(let e): return Self.badRequest(e.message)
                case nil: return Self.envelope(404, "not_found", "unknown emulator switch")
                }
            case (["hold"], .POST): return hold(request)
            case (["expire-tokens"], .POST): return expireTokens(request)
            case (["calls"], .GET):
                let (calls, rejected, active) = state.withLock { ($0.calls, $0.rejections, $0.activeCount) }
                return Self.json(.object([
                    ("total", .int(calls.values.reduce(0, +))),
                    ("calls", .object(calls.keys.sorted().map { ($0, .int(calls[$0] ?? 0)) })),
                    ("rejected", .object(rejected.keys.sorted().map { ($0, .int(rejected[$0] ?? 0)) })),
                    ("active_sandboxes", .int(active)),
                ]))
            case (["calls"], .DELETE):
                state.withLock { $0.calls = [:]; $0.rejections = [:] }
                return .empty(status: 204)
            default:
                if s.count == 3, s[0] == "sandboxes", s[2] == "fail", request.method == .POST { return fail(s[1]) }
                return Self.envelope(404, "not_found", "unknown emulator switch")
            }
        })
    }

    private func hold(_ request: Request) -> Response {
        guard let body = try? JSONValue.parse(request.body), body.objectValue != nil,
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
        let only = request.body.isEmpty ? nil : (try? JSONValue.parse(request.body))?["sandbox_id"]?.stringValue
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
