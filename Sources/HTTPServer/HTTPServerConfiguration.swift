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
    /// Open connections; over it, new connections get a fixed 503 and are closed.
    public var maxConnections = 10_000
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

    public init() {}
}
