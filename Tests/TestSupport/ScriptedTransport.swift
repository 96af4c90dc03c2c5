import Foundation
import APIClient
import Synchronization

/// A scripted fake `HTTPTransport` for unit tests (owner: hooks-queue).
///
/// Script answers per `(method, path)`; each request takes the next answer queued
/// for its route (the last one repeats when `repeatLast` is set). Unscripted
/// requests get a 418 with body `unscripted` and are listed in `unscripted`, so a
/// test can assert that nothing unexpected was sent. Every request is recorded.
///
///     let transport = ScriptedTransport()
///     transport.script("GET", "/v1/environments/env_1/work/poll", [.json(200, "null")])
///     transport.script("POST", "/v1/.../ack", [.error(.timedOut), .json(200, "{}")])
public final class ScriptedTransport: HTTPTransport {
    public enum Answer: Sendable {
        /// A response with the given status, headers and body text.
        case response(status: Int, headers: [String: String] = [:], body: String = "")
        /// Throws the transport error.
        case error(TransportError)
        /// Never answers: waits until the caller's task is cancelled (→ `.cancelled`)
        /// or the request's own timeout passes in real time (→ `.timedOut`).
        case hang
        /// Computes the answer from the request (may await, e.g. on a test gate).
        case dynamic(@Sendable (OutboundRequest) async throws -> InboundResponse)

        public static func json(_ status: Int, _ body: String, headers: [String: String] = [:]) -> Answer {
            var all = headers
            all["content-type"] = "application/json"
            return .response(status: status, headers: all, body: body)
        }

        public static func status(_ status: Int, headers: [String: String] = [:]) -> Answer {
            .response(status: status, headers: headers, body: "")
        }
    }

    private struct Route {
        var answers: [Answer]
        var repeatLast: Bool
    }

    private struct State {
        var routes: [String: Route] = [:]
        var requests: [OutboundRequest] = []
        var unscripted: [String] = []
        var inFlight = 0
        var peakInFlight = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues answers for `method path` (path without query), after any already queued.
    public func script(_ method: String, _ path: String, _ answers: [Answer], repeatLast: Bool = false) {
        state.withLock { s in
            let key = "\(method) \(path)"
            var route = s.routes[key] ?? Route(answers: [], repeatLast: false)
            route.answers += answers
            route.repeatLast = repeatLast
            s.routes[key] = route
        }
    }

    /// Every request sent so far, in order.
    public var requests: [OutboundRequest] { state.withLock { $0.requests } }

    /// Requests to a given `method path`.
    public func requests(_ method: String, _ path: String) -> [OutboundRequest] {
        state.withLock { s in s.requests.filter { $0.method == method && $0.url.path == path } }
    }

    /// `method path` of requests nothing was scripted for.
    public var unscripted: [String] { state.withLock { $0.unscripted } }

    /// Highest number of requests in flight at once.
    public var peakInFlight: Int { state.withLock { $0.peakInFlight } }

    /// Requests currently in flight.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    /// Waits (real time, bounded) until `condition` holds for the recorded requests.
    @discardableResult
    public func waitUntil(timeout: Duration = .seconds(10), _ condition: @escaping @Sendable ([OutboundRequest]) -> Bool) async -> Bool {
        await ManualSleeper.waitUntil(timeout: timeout) { condition(self.requests) }
    }

    public func send(_ request: OutboundRequest) async throws -> InboundResponse {
        let key = "\(request.method) \(request.url.path)"
        let answer: Answer? = state.withLock { s in
            s.requests.append(request)
            s.inFlight += 1
            s.peakInFlight = max(s.peakInFlight, s.inFlight)
            guard var route = s.routes[key], !route.answers.isEmpty else {
                s.unscripted.append(key)
                return nil
            }
            let next = route.answers[0]
            if route.answers.count > 1 || !route.repeatLast { route.answers.removeFirst() }
            s.routes[key] = route
            return next
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        guard let answer else {
            return InboundResponse(status: 418, headers: [:], body: Data("unscripted".utf8))
        }
        switch answer {
        case .response(let status, let headers, let body):
            return InboundResponse(status: status, headers: headers, body: Data(body.utf8))
        case .error(let error):
            throw error
        case .hang:
            do {
                try await Task.sleep(for: request.timeout)
            } catch {
                throw TransportError.cancelled
            }
            throw TransportError.timedOut
        case .dynamic(let body):
            return try await body(request)
        }
    }
}
