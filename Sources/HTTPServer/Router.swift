import HTTPWire

/// How a handler runs. `.sync` runs inline on the connection's queue (probes,
/// webhooks: no hop, no task); `.async` runs in a Task for handlers that wait
/// (long polls, streams, upstream calls).
public enum Handler: Sendable {
    case sync(@Sendable (Request) -> Response)
    case async(@Sendable (Request) async -> Response)
}

public struct Route: Sendable {
    public enum Match: Sendable, Equatable {
        /// The path equals the pattern.
        case exact
        /// The path equals the pattern or continues it after a `/`
        /// (pattern `/v1` matches `/v1` and `/v1/x`, not `/v10`). Pattern `/` matches every path.
        case prefix
    }

    public let method: HTTPMethod?
    public let pattern: String
    public let match: Match
    public let handler: Handler
    /// Body limit for this route (over it: 413 and close); nil means the server's
    /// `HTTPLimits.maxBodyBytes`. GET and HEAD routes default to 0: they take no body
    /// (content in a GET has no defined meaning, RFC 9110 §9.3.1), so a probe, the
    /// status page or a static file never buffers one.
    public let maxBodyBytes: Int?

    public init(method: HTTPMethod?, pattern: String, match: Match, maxBodyBytes: Int? = nil, handler: Handler) {
        self.method = method
        self.pattern = pattern
        self.match = match
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes ?? (method == .GET || method == .HEAD ? 0 : nil)
    }

    func matches(path: Substring) -> Bool {
        switch match {
        case .exact:
            return path == pattern
        case .prefix:
            if pattern == "/" { return path.utf8.first == UInt8(ascii: "/") }
            guard path.hasPrefix(pattern) else { return false }
            let rest = path.utf8.dropFirst(pattern.utf8.count)
            return rest.isEmpty || rest.first == UInt8(ascii: "/")
        }
    }
}

/// Built mutably, then frozen by `HTTPServer.serve(router:)`, which only reads it. Exact
/// routes win over prefix routes; among prefix routes the longest pattern wins.
public struct Router: Sendable {
    public enum Resolution: Sendable {
        case found(Route)
        /// The path is known but not for this method: 405 with `Allow`.
        case methodNotAllowed(pattern: String, allowed: [HTTPMethod])
        case notFound
    }

    private var exact: [String: [Route]] = [:]
    private var prefixes: [Route] = []

    public init() {}

    public mutating func add(_ route: Route) {
        switch route.match {
        case .exact:
            exact[route.pattern, default: []].append(route)
        case .prefix:
            prefixes.append(route)
            prefixes.sort { $0.pattern.utf8.count > $1.pattern.utf8.count }
        }
    }

    public mutating func add(_ method: HTTPMethod?, _ pattern: String, match: Route.Match = .exact,
                             maxBodyBytes: Int? = nil, _ handler: Handler) {
        add(Route(method: method, pattern: pattern, match: match, maxBodyBytes: maxBodyBytes, handler: handler))
    }

    /// Adds every route of `other` (used to mount the emulators on the orchestrator's port).
    public mutating func merge(_ other: Router) {
        for routes in other.exact.values { for r in routes { add(r) } }
        for r in other.prefixes { add(r) }
    }

    /// Answers `request` in process exactly as a connection routes and dispatches it:
    /// the same resolution (absolute-form targets included), the same 404 and 405
    /// answers, and the handler, sync or async, seeing `routePattern` set. What the wire
    /// adds on the way out (framing, `Date`, `X-Request-Id`, gzip, no body for HEAD) is
    /// the connection's and is not applied. Streamed bodies are returned unrun.
    public func respond(to request: Request) async -> Response {
        var head = request.head
        switch route(&head) {
        case .notFound:
            return Self.notFoundAnswer()
        case .methodNotAllowed(_, let allowed):
            return Self.methodNotAllowedAnswer(allowed: allowed)
        case .found(let route):
            let routed = Request(head: head, body: request.body, remoteAddress: request.remoteAddress,
                                 scheme: request.scheme, requestID: request.requestID, routePattern: route.pattern)
            switch route.handler {
            case .sync(let handler): return handler(routed)
            case .async(let handler): return await handler(routed)
            }
        }
    }

    /// The route for a parsed head, as connections and `respond(to:)` resolve it.
    /// RFC 9112 §3.2.2: absolute-form must be accepted; its path and query are routed
    /// (and shown to handlers) as if sent in origin-form, so `head.target` is rewritten.
    func route(_ head: inout HTTPRequestHead) -> Resolution {
        if let origin = Self.originForm(of: head.target) { head.target = origin }
        return resolve(method: head.method, path: head.path)
    }

    /// `/path?query` of an absolute-form target (`http://host/path?query`), nil otherwise.
    static func originForm(of target: String) -> String? {
        let u = target.utf8
        guard let first = u.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") else { return nil }
        let lower = target.prefix(8).lowercased()
        let schemeLength: Int
        if lower.hasPrefix("http://") { schemeLength = 7 } else if lower.hasPrefix("https://") { schemeLength = 8 } else { return nil }
        let rest = target.utf8.dropFirst(schemeLength)
        guard let cut = rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) else { return "/" }
        let tail = String(target[cut...])
        return tail.hasPrefix("?") ? "/" + tail : tail
    }

    /// The answer when no route has the path.
    static func notFoundAnswer() -> Response {
        .text("not found\n", status: 404)
    }

    /// The answer when the path is routed for other methods: 405 with `Allow`
    /// (RFC 9110 §15.5.6), where HEAD is allowed wherever GET is (§9.3.2).
    static func methodNotAllowedAnswer(allowed: [HTTPMethod]) -> Response {
        var names: [String] = []
        for m in allowed {
            names.append(m.description)
            if m == .GET && !allowed.contains(.HEAD) { names.append("HEAD") }
        }
        var r = Response.text("method not allowed\n", status: 405)
        r.headers.add(name: "Allow", value: names.joined(separator: ", "))
        return r
    }

    /// `path` is the raw (still percent-encoded) path of the target.
    public func resolve(method: HTTPMethod, path: Substring) -> Resolution {
        if let candidates = exact[String(path)] {
            if let r = pick(candidates, method) { return .found(r) }
            return .methodNotAllowed(pattern: candidates[0].pattern, allowed: candidates.compactMap(\.method))
        }
        var mismatched: [Route] = []
        for r in prefixes where r.matches(path: path) {
            if r.method == nil || r.method == method || (method == .HEAD && r.method == .GET) { return .found(r) }
            mismatched.append(r)
        }
        if let first = mismatched.first {
            let sameLength = mismatched.filter { $0.pattern == first.pattern }
            return .methodNotAllowed(pattern: first.pattern, allowed: sameLength.compactMap(\.method))
        }
        return .notFound
    }

    private func pick(_ candidates: [Route], _ method: HTTPMethod) -> Route? {
        if let r = candidates.first(where: { $0.method == method }) { return r }
        if method == .HEAD, let r = candidates.first(where: { $0.method == .GET }) { return r }
        return candidates.first(where: { $0.method == nil })
    }
}
