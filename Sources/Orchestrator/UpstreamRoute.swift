/// The upstream calls the orchestrator makes, as bounded metric labels: the route
/// pattern with every id replaced by `{id}` (style habit 10). A path that matches no
/// pattern is `other`, so a changed client cannot grow the label set.
struct UpstreamRoute: Sendable, Hashable {
    let upstream: Upstream
    let method: String
    let endpoint: String

    enum Upstream: String, Sendable, CaseIterable {
        case anthropic, superserve

        /// Every route this upstream's client calls (anthropic.md, superserve.md).
        var routes: [(method: String, pattern: String)] {
            switch self {
            case .anthropic: [
                ("GET", "/v1/environments/{id}/work/poll"),
                ("GET", "/v1/environments/{id}/work"),
                ("POST", "/v1/environments/{id}/work/{id}/ack"),
                ("POST", "/v1/environments/{id}/work/{id}/stop"),
                ("POST", "/v1/environments/{id}/work/{id}/heartbeat"),
                ("GET", "/v1/sessions/{id}"),
            ]
            case .superserve: [
                ("GET", "/sandboxes"), ("POST", "/sandboxes"),
                ("GET", "/sandboxes/{id}"), ("PATCH", "/sandboxes/{id}"), ("DELETE", "/sandboxes/{id}"),
                ("POST", "/sandboxes/{id}/activate"), ("POST", "/sandboxes/{id}/pause"),
                ("GET", "/templates"), ("POST", "/templates"), ("GET", "/templates/{id}"),
                ("GET", "/templates/{id}/builds/{id}"),
                ("POST", "/files"), ("POST", "/exec"),
            ]
            }
        }
    }

    /// Every labelled route of `upstream`, `other` not included (metrics made up front).
    static func known(_ upstream: Upstream) -> [UpstreamRoute] {
        upstream.routes.map { UpstreamRoute(upstream: upstream, method: $0.method, endpoint: $0.pattern) }
    }

    /// The route of a request to `upstream`. `basePaths` are the path prefixes of the
    /// configured base URLs (a proxy may mount the API under one); `path` is percent-encoded.
    static func classify(_ upstream: Upstream, method: String, path: String, basePaths: [String]) -> UpstreamRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let prefixes = basePaths.map { $0.split(separator: "/", omittingEmptySubsequences: true) }
            .filter { segments.starts(with: $0) }
            .sorted { $0.count > $1.count }
        let rest = segments.dropFirst(prefixes.first?.count ?? 0)
        for route in upstream.routes where route.method == method {
            let pattern = route.pattern.split(separator: "/")
            guard pattern.count == rest.count else { continue }
            if zip(pattern, rest).allSatisfy({ $0 == "{id}" || $0 == $1 }) {
                return UpstreamRoute(upstream: upstream, method: method, endpoint: route.pattern)
            }
        }
        return UpstreamRoute(upstream: upstream, method: "other", endpoint: "other")
    }

    /// `2xx` … `5xx`; anything outside 100–599 is `other`.
    static func statusClass(_ status: Int) -> String {
        (100..<600).contains(status) ? "\(status / 100)xx" : "other"
    }
}
