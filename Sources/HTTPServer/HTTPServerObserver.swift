import HTTPWire

/// Hooks for metrics. Called on the connection queues: implementations must be cheap
/// and must not block. Reasons and route patterns are bounded label values.
public protocol HTTPServerObserver: Sendable {
    func connectionOpened()
    func connectionClosed()
    /// `reason`: `HTTPParseError.metricLabel`, `header_timeout`, `body_timeout`,
    /// `write_timeout`, `connection_cap` (refused: nothing evictable), `evicted_idle` /
    /// `evicted_awaiting_head` (closed at the cap to admit a newcomer), `budget` (503:
    /// the request bytes buffered across connections are at `bufferBudgetBytes`).
    func requestRejected(reason: String)
    /// `routePattern` is empty when no route matched.
    func requestCompleted(method: HTTPMethod, routePattern: String, status: Int, bytesSent: Int, duration: Duration)
    /// Request bytes buffered across all connections (heads and bodies, as reserved
    /// from the buffer budget). Sent by the deadline timers when it changed, a few
    /// times a second at most, not per request.
    func bufferedBytesChanged(_ bytes: Int)
}

extension HTTPServerObserver {
    public func bufferedBytesChanged(_ bytes: Int) {}
}
