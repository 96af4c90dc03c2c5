import Foundation
import APIClient
import Logging

/// The Anthropic work-queue client (anthropic.md §1–§3). Every call has a
/// deadline; at most `maxConcurrentCalls` (default 4) calls are in flight and at
/// most one poll (rule 36). Poll and ack make one attempt each (the drainer owns
/// their backoff and separate counters, anthropic.md §4); stop and session reads
/// retry transient failures a few times with per-item backoff (rule 34).
public final class WorkClient: Sendable {
    public let configuration: AnthropicAPIConfiguration
    private let transport: any HTTPTransport
    private let sleeper: any Sleeper
    private let backoff: Backoff
    private let calls: AsyncSemaphore
    private let polls = AsyncSemaphore(value: 1)

    public init(configuration: AnthropicAPIConfiguration, transport: any HTTPTransport,
                sleeper: any Sleeper = ContinuousSleeper(), random: (@Sendable () -> Double)? = nil) {
        self.configuration = configuration
        self.transport = transport
        self.sleeper = sleeper
        if let random {
            backoff = Backoff(cap: configuration.perItemBackoffCap, random: random)
        } else {
            backoff = Backoff(cap: configuration.perItemBackoffCap)
        }
        calls = AsyncSemaphore(value: max(1, configuration.maxConcurrentCalls))
    }

    // MARK: calls

    /// `GET …/work/poll`. `blockMs` nil (or ≤ 0) omits the parameter, never sends 0;
    /// values above 999 are clamped (§2). Returns nil for every "no work" shape (rule 4).
    public func poll(blockMs: Int?, reclaimOlderThanMs: Int?) async throws(WorkQueueError) -> WorkItem? {
        var query: [URLQueryItem] = []
        var timeout = configuration.callTimeout
        if let blockMs, blockMs > 0 {
            let clamped = min(blockMs, AnthropicAPIConfiguration.maximumBlockMs)
            query.append(URLQueryItem(name: "block_ms", value: String(clamped)))
            // The deadline must outlive the server-side wait (style habit 8).
            timeout = .milliseconds(clamped) + configuration.pollTimeoutMargin
        }
        if let reclaimOlderThanMs, reclaimOlderThanMs > 0 {
            query.append(URLQueryItem(name: "reclaim_older_than_ms", value: String(reclaimOlderThanMs)))
        }
        let request = makeRequest("GET", workPath("poll"), query: query, body: nil, timeout: timeout, workerID: true)
        do { try await polls.wait() } catch { throw .transport(.cancelled) }
        defer { polls.signal() }
        let response = try await send(request)
        if response.status == 204 { return nil }   // rule 4: tolerated "no work"
        return WorkItem.decodePoll(response.body)
    }

    /// `POST …/work/{id}/ack`, empty body, one attempt.
    public func ack(workID: String) async throws(WorkQueueError) {
        let request = makeRequest("POST", workPath(workID, "ack"), body: Data(), timeout: configuration.callTimeout)
        _ = try await send(request)
    }

    /// `POST …/work/{id}/stop` with `{}` or `{"force":true}`; 409 = already stopped
    /// (success). Transient failures are retried (`perCallAttempts`).
    public func stop(workID: String, force: Bool) async throws(WorkQueueError) -> StopOutcome {
        let body = Data((force ? #"{"force":true}"# : "{}").utf8)
        let request = makeRequest("POST", workPath(workID, "stop"), body: body, timeout: configuration.callTimeout)
        do {
            _ = try await sendRetrying(request, call: .stop)
            return .stopped
        } catch {
            if ErrorClassifier.disposition(of: error, for: .stop) == .alreadyStopped { return .alreadyStopped }
            throw error
        }
    }

    /// `GET …/work?limit=…[&page=…]` (anthropic.md §2, list; environment key). One page;
    /// transient failures are retried like stop (rule 34). The reconciler's only read.
    public func listWork(limit: Int = 1000, page: String? = nil) async throws(WorkQueueError) -> WorkListing {
        var query = [URLQueryItem(name: "limit", value: String(min(max(limit, 1), 1000)))]
        if let page { query.append(URLQueryItem(name: "page", value: page)) }
        let path = "/v1/environments/\(Self.segment(configuration.environmentID))/work"
        let request = makeRequest("GET", path, query: query, body: nil, timeout: configuration.callTimeout)
        let response = try await sendRetrying(request, call: .list)
        guard let listing = WorkListing.decode(response.body) else {
            throw .invalidResponse("work list body is not {data, next_page}")
        }
        return listing
    }

    /// `POST …/work/{id}/heartbeat?expected_last_heartbeat=…[&desired_ttl_seconds=…]`
    /// (parameters in the query, §2.3). One attempt: a heartbeat is cut off at its interval.
    public func heartbeat(workID: String, expectedLastHeartbeat: String, desiredTTLSeconds: Int? = nil) async throws(WorkQueueError) -> HeartbeatResult {
        var query = [URLQueryItem(name: "expected_last_heartbeat", value: expectedLastHeartbeat)]
        if let desiredTTLSeconds { query.append(URLQueryItem(name: "desired_ttl_seconds", value: String(desiredTTLSeconds))) }
        let request = makeRequest("POST", workPath(workID, "heartbeat"), query: query, body: Data(), timeout: configuration.callTimeout)
        let response = try await send(request)
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            throw .invalidResponse("heartbeat body is not a JSON object")
        }
        return HeartbeatResult(lastHeartbeat: object["last_heartbeat"] as? String ?? "",
                               leaseExtended: object["lease_extended"] as? Bool ?? false,
                               state: object["state"] as? String ?? "",
                               ttlSeconds: object["ttl_seconds"] as? Int)
    }

    /// `GET /v1/sessions/{id}` → id, status, metadata (rule 11, third place).
    /// 404 surfaces as an error whose disposition for `.session` is `.notFound`.
    public func session(id sessionID: String) async throws(WorkQueueError) -> SessionInfo {
        let request = makeRequest("GET", "/v1/sessions/\(Self.segment(sessionID))", body: nil, timeout: configuration.callTimeout)
        let response = try await sendRetrying(request, call: .session)
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            throw .invalidResponse("session body is not a JSON object")
        }
        return SessionInfo(id: object["id"] as? String ?? sessionID,
                           status: object["status"] as? String ?? "",
                           metadata: WorkItem.stringMap(object["metadata"]) ?? [:])
    }

    // MARK: plumbing

    /// One attempt under the in-flight cap; non-2xx becomes `.http`.
    func send(_ request: OutboundRequest) async throws(WorkQueueError) -> InboundResponse {
        do { try await calls.wait() } catch { throw .transport(.cancelled) }
        defer { calls.signal() }
        let response: InboundResponse
        do {
            response = try await transport.send(request)
        } catch let error as TransportError {
            throw .transport(error)
        } catch is CancellationError {
            throw .transport(.cancelled)
        } catch {
            throw .transport(.connectionFailed("unexpected transport error"))
        }
        guard (200..<300).contains(response.status) else { throw Self.httpError(response) }
        return response
    }

    /// Retries transient failures up to `perCallAttempts` with per-item backoff,
    /// honouring server hints (rule 34).
    func sendRetrying(_ request: OutboundRequest, call: AnthropicCall) async throws(WorkQueueError) -> InboundResponse {
        var attempt = 0
        while true {
            do {
                return try await send(request)
            } catch {
                attempt += 1
                guard !error.isCancellation, attempt < configuration.perCallAttempts,
                      ErrorClassifier.disposition(of: error, for: call) == .transient else { throw error }
                do {
                    try await sleeper.sleep(for: backoff.delay(attempt: attempt - 1, hint: error.retryAfter))
                } catch {
                    throw .transport(.cancelled)
                }
            }
        }
    }

    static func httpError(_ response: InboundResponse) -> WorkQueueError {
        var errorType: String?
        var requestID = response.header("request-id")
        if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            errorType = (object["error"] as? [String: Any])?["type"] as? String
            if requestID == nil { requestID = object["request_id"] as? String }
        }
        // Bounded tokens from a fixed alphabet only: these end up in logs and
        // /readyz, so nothing the server echoes (a key has `-`) can pass.
        func clean(_ text: String?, extra: String) -> String? {
            guard let text, !text.isEmpty, text.count <= 64,
                  text.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || "_".unicodeScalars.contains($0) || extra.unicodeScalars.contains($0) }) else {
                return nil
            }
            return text
        }
        let shouldRetry: Bool? = switch response.header("x-should-retry")?.lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
        return .http(status: response.status, errorType: clean(errorType, extra: ""),
                     requestID: clean(requestID, extra: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
                     retryAfter: RetryHint.delay(from: response), shouldRetry: shouldRetry)
    }

    func workPath(_ components: String...) -> String {
        "/v1/environments/\(Self.segment(configuration.environmentID))/work/" + components.map(Self.segment).joined(separator: "/")
    }

    /// Percent-encodes one path segment (ids are opaque, §3).
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Builds a request with the exact headers of anthropic.md §1.
    func makeRequest(_ method: String, _ path: String, query: [URLQueryItem] = [], body: Data?, timeout: Duration, workerID: Bool = false) -> OutboundRequest {
        var components = URLComponents(url: configuration.baseURL, resolvingAgainstBaseURL: false) ?? URLComponents()
        var prefix = components.percentEncodedPath
        while prefix.hasSuffix("/") { prefix.removeLast() }
        components.percentEncodedPath = prefix + path
        components.percentEncodedQuery = nil
        if !query.isEmpty { components.queryItems = query }
        // `+` in a query value would read as a space to form decoders; RFC 3339
        // timestamps (heartbeat) can carry one.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var headers: [(String, String)] = [
            ("Authorization", "Bearer \(configuration.environmentKey)"),
            ("anthropic-version", AnthropicAPIConfiguration.anthropicVersion),
            ("anthropic-beta", AnthropicAPIConfiguration.anthropicBeta),
            ("Accept", "application/json"),
        ]
        if method == "POST" { headers.append(("Content-Type", "application/json")) }
        if workerID { headers.append(("Anthropic-Worker-ID", configuration.workerID)) }
        return OutboundRequest(method: method, url: components.url ?? configuration.baseURL, headers: headers,
                               body: method == "POST" ? (body ?? Data()) : body, timeout: timeout)
    }
}
