import HTTPWire

/// Hooks for metrics. Called on the connection queues: implementations must be cheap
/// and must not block. Reasons and route patterns are bounded label values.
public protocol HTTPServerObserver: Sendable {
    func connectionOpened()
    func connectionClosed()
    /// `reason`: `HTTPParseError.metricLabel`, `header_timeout`, `body_timeout`,
    /// `write_timeout`, `connection_cap` (refused: nothing evictable), `evicted_idle` /
    /// `evicted_awaiting_head` (closed at the cap to admit a newcomer).
    func requestRejected(reason: String)
    /// `routePattern` is empty when no route matched.
    func requestCompleted(method: HTTPMethod, routePattern: String, status: Int, bytesSent: Int, duration: Duration)
}
