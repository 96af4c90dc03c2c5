import APIClient
import Foundation
import Logging
import Synchronization

/// Superserve control plane (`X-API-Key`) and data plane (`X-Superserve-Sandbox-Id`
/// + `X-Access-Token`), superserve.md §1–§8.
///
/// Every call goes through one shared token bucket and an in-flight cap (rule 35)
/// and has a deadline (rule 21 for create/activate/pause). The client makes one
/// attempt per call, except the data plane's single refresh-and-retry (rule 32):
/// what is retried, and when, is the caller's decision (`LaunchPlanner`, rule 33).
/// Tokens and the API key never reach a log line or an error.
public final class SuperserveClient: Sendable {
    public let configuration: SuperserveConfiguration
    let transport: any HTTPTransport
    let logger: Logger
    let sleeper: any Sleeper
    let bucket: TokenBucket
    let inFlight: AsyncSemaphore
    /// Rule 32: one refresh (activate) per sandbox at a time.
    let refreshes = Mutex<[String: Task<Sandbox, any Error>]>([:])

    /// `bucketObserver` hears every wait for a token of the shared bucket (metrics).
    public init(configuration: SuperserveConfiguration, transport: any HTTPTransport,
                logger: Logger, sleeper: any Sleeper = ContinuousSleeper(),
                bucketObserver: (any TokenBucketObserver)? = nil) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.sleeper = sleeper
        self.bucket = TokenBucket(ratePerSecond: configuration.ratePerSecond, burst: configuration.burst, sleeper: sleeper,
                                  observer: bucketObserver, share: configuration.rateShare)
        self.inFlight = AsyncSemaphore(value: configuration.maxInFlight)
    }

    /// The shared bucket's rate in force now (requests per second, rule 35).
    public var rateInForce: Double { bucket.currentRate }
    /// The team limit Superserve last reported (`RateLimit-Limit`), if any.
    public var reportedRateLimit: Double? { bucket.reportedLimit }
    /// Calls waiting for a token now.
    public var bucketWaiters: Int { bucket.waiting }
    /// 429 `rate_limited` answers since start, and how many of them halved the rate.
    public var rateLimitedAnswers: (total: UInt64, halved: UInt64) { (bucket.rateLimitedCount, bucket.decreaseCount) }

    // MARK: - Sandboxes

    /// `GET /sandboxes?metadata.<k>=<v>…[&status=a,b]` (superserve.md §3.3); keys and
    /// values are percent-encoded. Without `status` every status comes back (rule 13).
    public func listSandboxes(metadata: [String: String], status: [String]? = nil,
                              timeout: Duration? = nil) async throws(SandboxLifecycleError) -> [Sandbox] {
        var query = metadata.sorted { $0.key < $1.key }.map { ("metadata.\($0.key)", $0.value) }
        if let status, !status.isEmpty { query.append(("status", status.joined(separator: ","))) }
        let response = try await control("GET", "/sandboxes", query: query, timeout: timeout)
        guard let array = try? JSONSerialization.jsonObject(with: response.body) as? [[String: Any]] else {
            throw .invalidResponse("sandbox list is not a JSON array")
        }
        var sandboxes: [Sandbox] = []
        for object in array { sandboxes.append(try Sandbox(json: object)) }
        return sandboxes
    }

    /// `GET /sandboxes/{id}`.
    public func getSandbox(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> Sandbox {
        let response = try await control("GET", "/sandboxes/\(Self.segment(id))", timeout: timeout)
        return try Self.sandbox(from: response)
    }

    /// `POST /sandboxes` with a strict body: unset optionals are omitted (superserve.md §3.2).
    /// Never retried here (rule 16).
    public func createSandbox(_ request: CreateSandboxRequest, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> Sandbox {
        let response = try await control("POST", "/sandboxes", body: request.jsonBody(),
                                         timeout: timeout ?? configuration.lifecycleTimeout)
        return try Self.sandbox(from: response)
    }

    /// `POST /sandboxes/{id}/activate`: wakes a paused sandbox and returns a fresh
    /// token (rule 19). Conflicts are the caller's to retry (rule 20).
    public func activate(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> Sandbox {
        let response = try await control("POST", "/sandboxes/\(Self.segment(id))/activate",
                                         timeout: timeout ?? configuration.lifecycleTimeout)
        var sandbox = try Self.sandbox(from: response)
        if sandbox.id.isEmpty { sandbox.id = id }
        return sandbox
    }

    public enum PauseOutcome: Sendable, Equatable {
        /// 204 (paused) or `{"status":"pausing"}` (accepted, still pausing).
        case accepted
        /// 409: the sandbox was not active; nothing to do (rule 33).
        case notActive
        /// 404: the sandbox is gone.
        case gone
    }

    /// `POST /sandboxes/{id}/pause` with `Prefer: respond-async`: does not wait and
    /// never polls (rule 44, superserve.md §3.5).
    public func pause(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> PauseOutcome {
        let response = try await send(request("POST", configuration.controlPlaneURL, "/sandboxes/\(Self.segment(id))/pause",
                                              headers: controlHeaders + [("Prefer", "respond-async")],
                                              timeout: timeout ?? configuration.lifecycleTimeout))
        if (200..<300).contains(response.status) { return .accepted }
        let error = SandboxLifecycleError.from(response)
        switch SuperserveErrorClassifier.disposition(of: error, for: .pause) {
        case .conflict: return .notActive   // rule 33: pause 409 = not active, ignore
        case .notFound: return .gone
        case .retry, .quota, .fatal: throw error
        }
    }

    /// `PATCH /sandboxes/{id}`: `metadata` replaces the whole map (rule 18), `network`
    /// replaces both lists and needs `active` (rule 23). At least one must be given.
    public func updateSandbox(id: String, metadata: [String: String]? = nil, network: NetworkPolicy? = nil,
                              timeout: Duration? = nil) async throws(SandboxLifecycleError) {
        var body: [String: Any] = [:]
        if let metadata { body["metadata"] = metadata }
        if let network { body["network"] = network.json }
        guard !body.isEmpty else { throw .invalidConfiguration("a sandbox update needs metadata or network") }
        _ = try await control("PATCH", "/sandboxes/\(Self.segment(id))", body: try Self.json(body), timeout: timeout)
    }

    /// `DELETE /sandboxes/{id}`; `false` when it was already gone (404). The
    /// orchestrator never deletes automatically (rule 45); this serves tools and tests.
    @discardableResult
    public func deleteSandbox(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> Bool {
        let response = try await send(request("DELETE", configuration.controlPlaneURL, "/sandboxes/\(Self.segment(id))",
                                              headers: controlHeaders, timeout: timeout ?? configuration.requestTimeout))
        if (200..<300).contains(response.status) { return true }
        let error = SandboxLifecycleError.from(response)
        // Rule 33, DELETE row: 404 = gone.
        if SuperserveErrorClassifier.disposition(of: error, for: .read) == .notFound { return false }
        throw error
    }

    // MARK: - Plumbing

    var controlHeaders: [(String, String)] {
        [("X-API-Key", configuration.apiKey), ("Content-Type", "application/json"),
         ("Accept", "application/json"), ("User-Agent", configuration.userAgent)]
    }

    /// One control-plane call; a non-2xx answer becomes `SandboxLifecycleError.http`.
    func control(_ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil,
                 timeout: Duration?) async throws(SandboxLifecycleError) -> InboundResponse {
        let response = try await send(request(method, configuration.controlPlaneURL, path, query: query,
                                              headers: controlHeaders, body: body,
                                              timeout: timeout ?? configuration.requestTimeout))
        guard (200..<300).contains(response.status) else { throw SandboxLifecycleError.from(response) }
        return response
    }

    func request(_ method: String, _ base: URL, _ path: String, query: [(String, String)] = [],
                 headers: [(String, String)], body: Data? = nil, timeout: Duration) throws(SandboxLifecycleError) -> OutboundRequest {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        text += path
        if !query.isEmpty {
            text += "?" + query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
        }
        guard let url = URL(string: text) else { throw .invalidConfiguration("cannot form a URL for \(path)") }
        return OutboundRequest(method: method, url: url, headers: headers, body: body, timeout: timeout)
    }

    /// Rule 35: every call takes a bucket token (in `TokenBucket.Priority.current`
    /// order), then an in-flight slot, so the bucket's order decides who goes next;
    /// every answer's `RateLimit-*` headers adapt the bucket, and a 429
    /// `rate_limited` pauses it for `Retry-After` (a `too_many_sandboxes` 429 is a
    /// quota, not a rate: it leaves the bucket alone).
    func send(_ request: OutboundRequest) async throws(SandboxLifecycleError) -> InboundResponse {
        do { try await bucket.acquire() } catch { throw .transport(.cancelled) }
        let sentAt = bucket.uptime()
        do { try await inFlight.wait() } catch { throw .transport(.cancelled) }
        defer { inFlight.signal() }
        let response: InboundResponse
        do {
            response = try await transport.send(request)
        } catch let error as TransportError {
            throw .transport(error)
        } catch {
            throw .transport(.connectionFailed(String(describing: type(of: error))))
        }
        let report = TokenBucket.Report.parse(response)
        if response.status == 429, SandboxLifecycleError.from(response).code != "too_many_sandboxes" {
            let pause = RetryHint.delay(from: response) ?? configuration.defaultRateLimitPause
            let halved = bucket.rateLimited(retryAfter: pause, sentAt: sentAt, report: report)
            logger.warning("superserve.rate_limited", metadata: [
                "http.status": "429", "pause.ms": "\(pause.milliseconds)", "rate.halved": "\(halved)",
            ])
        } else {
            bucket.observe(report)
        }
        return response
    }

    static func sandbox(from response: InboundResponse) throws(SandboxLifecycleError) -> Sandbox {
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            throw .invalidResponse("sandbox answer is not a JSON object")
        }
        return try Sandbox(json: object)
    }

    static func json(_ object: [String: Any]) throws(SandboxLifecycleError) -> Data {
        do {
            return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw .invalidConfiguration("request body is not JSON-serialisable")
        }
    }

    /// RFC 3986 unreserved characters stay; everything else (`+ & = #` included,
    /// superserve.md §3.3) is percent-encoded.
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// A path segment (ids are opaque, superserve.md §2).
    static func segment(_ id: String) -> String { percentEncode(id) }
}

/// The create body (superserve.md §3.2, rule 15).
public struct CreateSandboxRequest: Sendable, Equatable {
    public var name: String
    public var fromTemplate: String?
    public var metadata: [String: String]
    public var network: NetworkPolicy?
    public var timeoutSeconds: Int?
    public var autoDeleteSeconds: Int?

    public init(name: String, fromTemplate: String?, metadata: [String: String], network: NetworkPolicy?,
                timeoutSeconds: Int? = nil, autoDeleteSeconds: Int? = nil) {
        self.name = name
        self.fromTemplate = fromTemplate
        self.metadata = metadata
        self.network = network
        self.timeoutSeconds = timeoutSeconds
        self.autoDeleteSeconds = autoDeleteSeconds
    }

    /// Strict body: unset optionals are left out, never sent as null.
    func jsonBody() throws(SandboxLifecycleError) -> Data {
        var body: [String: Any] = ["name": name, "metadata": metadata]
        if let fromTemplate { body["from_template"] = fromTemplate }
        if let network { body["network"] = network.json }
        if let timeoutSeconds { body["timeout_seconds"] = timeoutSeconds }
        if let autoDeleteSeconds { body["auto_delete_seconds"] = autoDeleteSeconds }
        return try SuperserveClient.json(body)
    }
}

