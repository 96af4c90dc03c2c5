import Faults
import Foundation
import HTTPServer
import HTTPWire
import JSON

/// The `/v1/…` handlers: routing, fault injection, authentication, then the call.
extension AnthropicEmulator {
    /// Upper bound of `block_ms` (anthropic.md §2, §9).
    static let maximumBlockMilliseconds = 999
    /// Work list and event list `limit` bounds (§2, §9).
    static let listLimitRange = 1...1000
    static let defaultListLimit = 20

    func handleAPI(_ request: Request) async -> Response {
        let requestID = RandomID.make(prefix: "req_")
        let route: AnthropicRoute
        switch AnthropicRoute.resolve(method: request.method, segments: request.pathSegments) {
        case .success(let r): route = r
        case .failure(let e): return finish(errorResponse(e, requestID: requestID), route: nil, requestID: requestID)
        }

        // Faults are decided before the state is touched: an injected error or drop
        // never half-applies (a faulted ack does not ack); a lost answer acts in full.
        let decision = faults.decide(groups: route.faultGroups)
        await decision.applyLatency()
        switch decision {
        case .pass:
            break
        case .error(let status, let retryAfter, _):
            record(route, status: status, injected: true)
            let failure = AnthropicAPIFailure(status: status, type: AnthropicAPIFailure.errorType(for: status),
                                              message: "injected fault", retryAfterSeconds: retryAfter)
            return finish(errorResponse(.api(failure), requestID: requestID), route: route, requestID: requestID)
        case .drop:
            record(route, status: 0, injected: true)
            logger.debug("anthropic.emulator.request.dropped", metadata: ["request.id": "\(requestID)", "http.route": "\(route.kind)"])
            return FaultDecision.droppedResponse()
        case .lose:
            // The call acts (an ack acks), and its answer never arrives.
            _ = await authorizedCall(route, request, requestID: requestID)
            logger.debug("anthropic.emulator.answer.lost", metadata: ["request.id": "\(requestID)", "http.route": "\(route.kind)"])
            return FaultDecision.droppedResponse()
        }
        return await authorizedCall(route, request, requestID: requestID)
    }

    /// Authentication, authorisation, then the call; every answer is recorded.
    private func authorizedCall(_ route: AnthropicRoute, _ request: Request, requestID: String) async -> Response {
        do {
            try state.withLock { s throws(AnthropicEmulatorError) in
                let c = try s.authenticate(Self.presentedCredential(request.headers))
                try s.authorize(c, route.access, environmentID: route.environmentID, workID: route.workID,
                                sessionID: route.sessionID)
            }
            let response = try await perform(route, request)
            record(route, status: response.status, injected: false)
            return finish(response, route: route, requestID: requestID)
        } catch {
            let response = errorResponse(error, requestID: requestID)
            record(route, status: response.status, injected: false)
            return finish(response, route: route, requestID: requestID)
        }
    }

    /// The call itself, once authorised.
    private func perform(_ route: AnthropicRoute, _ request: Request) async throws(AnthropicEmulatorError) -> Response {
        let at = now()
        switch route {
        case .poll(let env):
            return try await poll(environmentID: env, request)
        case .ack(let env, let work):
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.ack(environmentID: env, workID: work, now: at) })
        case .heartbeat(let env, let work):
            let expected = request.query("expected_last_heartbeat")
            var ttl: Int?
            if let raw = request.query("desired_ttl_seconds") {
                guard let v = Int(raw), v >= 1, v <= 3600 else { throw .invalidRequest("desired_ttl_seconds must be an integer between 1 and 3600") }
                ttl = v
            }
            return json(try state.withLock { s throws(AnthropicEmulatorError) in
                try s.heartbeat(environmentID: env, workID: work, expected: expected, desiredTTLSeconds: ttl, now: at)
            })
        case .stop(let env, let work):
            let body = try Self.jsonBody(request, allowEmpty: true)
            var force = false
            if let f = body?["force"], !f.isNull {
                guard let b = f.boolValue else { throw .invalidRequest("force must be a boolean") }
                force = b
            }
            let item = try state.withLock { s throws(AnthropicEmulatorError) in
                try s.stop(environmentID: env, workID: work, force: force, now: at)
            }
            logger.info("anthropic.emulator.work.stopped", metadata: ["work.id": "\(work)", "work.force": "\(force)"])
            return json(item)
        case .retrieve(let env, let work):
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.retrieve(environmentID: env, workID: work) })
        case .update(let env, let work):
            guard let body = try Self.jsonBody(request, allowEmpty: false), let members = body["metadata"]?.objectValue else {
                throw .invalidRequest("metadata must be an object")
            }
            var changes: [(String, String?)] = []
            for (k, v) in members {
                if v.isNull { changes.append((k, nil)); continue }
                guard let s = v.stringValue else { throw .invalidRequest("metadata values must be strings or null") }
                changes.append((k, s))
            }
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.update(environmentID: env, workID: work, metadata: changes) })
        case .list(let env):
            let limit = try Self.limit(request)
            let page = request.query("page")
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.list(environmentID: env, limit: limit, page: page) })
        case .stats(let env):
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.stats(environmentID: env, now: at) })
        case .session(let sid):
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.session(sid) })
        case .listEvents(let sid):
            let limit = try Self.limit(request)
            let page = request.query("page")
            return json(try state.withLock { s throws(AnthropicEmulatorError) in try s.events(sessionID: sid, limit: limit, page: page) })
        case .sendEvents(let sid):
            guard let body = try Self.jsonBody(request, allowEmpty: false), let events = body["events"]?.arrayValue else {
                throw .invalidRequest("events must be an array")
            }
            let stored = try state.withLock { s throws(AnthropicEmulatorError) in try s.appendEvents(sessionID: sid, events, now: at) }
            logger.info("anthropic.emulator.session.events_received",
                        metadata: ["session.id": "\(sid)", "events.count": "\(stored.count)"])
            signal.notify(Self.sessionKey(sid))
            return json(.object([("data", .array(stored))]))
        case .streamEvents(let sid):
            return streamResponse(sessionID: sid)
        }
    }

    /// Poll with optional long-poll (§2, §8.1): validate, try, then wait for an enqueue
    /// notification until `block_ms` has passed, trying once more at the end (which
    /// also picks up an item whose reclaim age passed meanwhile). Never `{}` (§2.1).
    private func poll(environmentID: String, _ request: Request) async throws(AnthropicEmulatorError) -> Response {
        var blockMs = 0
        if let raw = request.query("block_ms") {
            guard let v = Int(raw), v >= 1, v <= Self.maximumBlockMilliseconds else {
                throw .invalidRequest("block_ms must be an integer between 1 and \(Self.maximumBlockMilliseconds)")
            }
            blockMs = v
        }
        var reclaim = configuration.defaultReclaimOlderThanMilliseconds
        if let raw = request.query("reclaim_older_than_ms") {
            guard let v = Int(raw), v >= 1 else { throw .invalidRequest("reclaim_older_than_ms must be a positive integer") }
            reclaim = v
        }
        let worker = request.headers[first: "Anthropic-Worker-ID"]
        let key = Self.queueKey(environmentID)
        let deadline = ContinuousClock.now + .milliseconds(blockMs)
        while true {
            let generation = signal.generation(key)
            let at = now()
            let (item, reclaimIn) = try state.withLock { s throws(AnthropicEmulatorError) -> (JSONValue?, TimeInterval?) in
                let item = try s.poll(environmentID: environmentID, reclaimOlderThanMilliseconds: reclaim, workerID: worker, now: at)
                if let id = item?["id"]?.stringValue { s.recordCall(workID: id, kind: "poll", status: 200, injected: false, now: at) }
                return (item, s.secondsUntilReclaimable(environmentID: environmentID, reclaimOlderThanMilliseconds: reclaim, now: at))
            }
            if let item {
                logger.debug("anthropic.emulator.work.handed_out", metadata: ["work.id": "\(item["id"]?.stringValue ?? "")"])
                return json(item)
            }
            var remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return json(.null) }
            // Wake when a pending item turns reclaimable (+1 ms: reclaim needs "older than").
            if let reclaimIn { remaining = min(remaining, .milliseconds(Int64(reclaimIn * 1000) + 1)) }
            switch await signal.wait(key, ifGenerationIs: generation, timeout: remaining) {
            case .notified, .timedOut: continue
            case .cancelled, .closed: return json(.null)
            }
        }
    }

    // MARK: Helpers

    /// `Authorization: Bearer …` first (what SDK 2.10.0 sends), else `x-api-key` (§1, §11).
    static func presentedCredential(_ headers: HTTPHeaders) -> String? {
        if let auth = headers[first: "Authorization"] {
            let parts = auth.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            if parts.count == 2, parts[0].asciiCaseInsensitiveEquals("bearer") {
                return String(parts[1].trimmingOWS())
            }
        }
        return headers[first: "x-api-key"]
    }

    static func limit(_ request: Request) throws(AnthropicEmulatorError) -> Int {
        guard let raw = request.query("limit") else { return defaultListLimit }
        guard let v = Int(raw), listLimitRange.contains(v) else {
            throw .invalidRequest("limit must be an integer between \(listLimitRange.lowerBound) and \(listLimitRange.upperBound)")
        }
        return v
    }

    /// nil for an empty body when `allowEmpty`; 400 for anything that is not a JSON object.
    static func jsonBody(_ request: Request, allowEmpty: Bool) throws(AnthropicEmulatorError) -> JSONValue? {
        if request.body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            if allowEmpty { return nil }
            throw .invalidRequest("request body must be a JSON object")
        }
        guard let value = try? JSONValue.parse(request.body), value.objectValue != nil else {
            throw .invalidRequest("request body must be a JSON object")
        }
        return value
    }

    func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response.json(bytes: value.bytes, status: status)
    }

    func errorResponse(_ error: AnthropicEmulatorError, requestID: String) -> Response {
        let failure: AnthropicAPIFailure
        switch error {
        case .api(let f): failure = f
        case .invalidConfiguration(let m): failure = AnthropicAPIFailure(status: 500, type: "api_error", message: m)
        }
        var response = Response.json(bytes: failure.envelope(requestID: requestID).bytes, status: failure.status)
        if let retry = failure.shouldRetry { response.headers.add(name: "x-should-retry", value: retry ? "true" : "false") }
        if let seconds = failure.retryAfterSeconds { response.headers.add(name: "retry-after", value: String(seconds)) }
        if failure.status == 405 { response.headers.add(name: "Allow", value: "GET, POST") }
        return response
    }

    /// Every answer carries `request-id` (§1).
    func finish(_ response: Response, route: AnthropicRoute?, requestID: String) -> Response {
        var r = response
        r.headers.replaceOrAdd(name: "request-id", value: requestID)
        logger.debug("anthropic.emulator.request",
                     metadata: ["request.id": "\(requestID)", "http.route": "\(route?.kind ?? "unknown")", "http.status": "\(r.status)"])
        return r
    }

    /// Keeps the per-item call history (control surface `GET /_emulator/work/{id}`).
    func record(_ route: AnthropicRoute, status: Int, injected: Bool) {
        guard let work = route.workID else { return }
        let at = now()
        state.withLock { $0.recordCall(workID: work, kind: route.kind, status: status, injected: injected, now: at) }
    }
}
