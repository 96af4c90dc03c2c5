import HTTPWire

/// Every limit and deadline of the server, with its default (README configuration table).
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind (`127.0.0.1`, `0.0.0.0`, `::`, `::1`, or a host name resolved once).
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks an ephemeral port (read it from `HTTPServer.boundPort`).
    public var port = 8080
    /// Parser bounds (request line, header section, body, chunk lines, trailers).
    public var limits = HTTPLimits.default
    /// From the first byte of a request to the end of its head (and, on a fresh
    /// connection, from accept to the first complete head). Over it: 408 and close.
    public var headerReadTimeout: Duration = .seconds(10)
    /// From the end of the head to the end of the body. Over it: 408 and close.
    public var bodyReadTimeout: Duration = .seconds(30)
    /// A keep-alive connection with no bytes of a next request. Over it: close, no answer.
    public var idleTimeout: Duration = .seconds(60)
    /// A response (or one streamed chunk) the peer does not read. Over it: close.
    public var writeTimeout: Duration = .seconds(30)
    /// Open connections. At it, a newcomer is admitted by closing the longest-idle
    /// keep-alive connection (else the oldest still awaiting its first head); only when
    /// every connection is busy does it get a fixed 503 and close.
    public var maxConnections = 10_000
    /// Request bytes buffered at once across all connections: partial heads and bodies
    /// being read (`BufferBudget`). A request that would go over it gets 503 with
    /// `Retry-After` and `Connection: close`. The default keeps 200 clients each holding a
    /// 1 MiB body, or 5,000 holding a 16 KiB head, under 96 MiB of RSS (the Deployment's
    /// limit is 128 Mi).
    public var bufferBudgetBytes = 32 << 20
    /// Per connection, the first bytes of a buffered (incomplete) head that are not
    /// charged to the budget, so that a probe's head split over reads is admitted when
    /// the budget is spent. At most `maxConnections ×` this is held beside the budget.
    public var headAllowanceBytes = 1024
    /// `Retry-After` of the 503 sent over the budget.
    public var budgetRetryAfterSeconds = 1
    /// Give memory back to the kernel after a burst of buffered bytes or connections:
    /// a fixed glibc mmap threshold (process-wide, set by `bind()`) and a rate-limited
    /// `malloc_trim(0)` once the burst has passed.
    public var returnsMemoryAfterBursts = true
    /// How long `shutdown()` lets in-flight requests finish before closing them.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed: addresses or
    /// CIDRs, IPv4 or IPv6 (`10.0.0.0/8`, `::1`). Invalid entries fail `start()`.
    public var trustedProxies: [String] = []
    /// Smallest byte body that is gzip-compressed (when the client and type allow it).
    public var gzipMinimumBytes = 1024
    /// After answering with `Connection: close`, how long unread request bytes are
    /// drained (write side already shut) before the socket is closed. Closing with unread
    /// bytes would make the kernel send RST, which can destroy the answer in flight.
    public var closeLingerTimeout: Duration = .seconds(2)
    /// Listen backlog handed to `listen(2)` (the kernel caps it at somaxconn).
    public var listenBacklog = 1024
    /// Serial queues connections are spread over; 0 means one per usable CPU.
    public var connectionQueues = 0
    /// Route patterns whose answers get no access line (probes polled every few seconds).
    public var accessLogExcludedRoutes: [String] = []

    public init() {}

    /// The first problem found, naming the setting (checked by `HTTPServer.start()`).
    func validationError() -> String? {
        let deadlines: [(String, Duration)] = [
            ("headerReadTimeout", headerReadTimeout), ("bodyReadTimeout", bodyReadTimeout),
            ("idleTimeout", idleTimeout), ("writeTimeout", writeTimeout), ("closeLingerTimeout", closeLingerTimeout),
        ]
        for (name, d) in deadlines where d <= .zero { return "\(name) must be positive (is \(d))" }
        if shutdownGracePeriod < .zero { return "shutdownGracePeriod must not be negative" }
        if !(0...65535).contains(port) { return "port must be 0…65535 (is \(port))" }
        if maxConnections < 1 { return "maxConnections must be at least 1 (is \(maxConnections))" }
        if gzipMinimumBytes < 0 { return "gzipMinimumBytes must not be negative" }
        if listenBacklog < 1 { return "listenBacklog must be at least 1" }
        if connectionQueues < 0 { return "connectionQueues must not be negative" }
        if bufferBudgetBytes < 64 * 1024 { return "bufferBudgetBytes must be at least 65536 (is \(bufferBudgetBytes))" }
        if headAllowanceBytes < 0 { return "headAllowanceBytes must not be negative" }
        if budgetRetryAfterSeconds < 0 { return "budgetRetryAfterSeconds must not be negative" }
        if limits.maxBodyBytes < 0 || limits.maxRequestLineBytes < 16 || limits.maxHeaderBytes < 64 {
            return "limits are too small to parse a request"
        }
        return nil
    }
}
