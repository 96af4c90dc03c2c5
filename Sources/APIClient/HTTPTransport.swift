import Foundation

/// One outbound HTTP request. Every call carries a deadline (style habit 8): the
/// transport gives up after `timeout` in total and reports `.timedOut`.
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: URL
    /// Header values may hold credentials: never log or echo them.
    public var headers: [(String, String)]
    public var body: Data?
    public var timeout: Duration

    public init(method: String, url: URL, headers: [(String, String)] = [], body: Data? = nil, timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// First value of a request header, case-insensitive (for tests and fakes).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// One inbound HTTP response; header names are lowercased.
public struct InboundResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        self.headers = lowered
        self.body = body
    }

    /// Case-insensitive header lookup.
    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }
}

/// What a transport throws. The associated text never contains header values
/// (credentials), only a fixed description of what failed.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case timedOut
    case connectionFailed(String)
    case cancelled
    /// A 3xx, never followed (every request carries a credential). Not a passing
    /// network trouble: the configured URL is wrong, so callers do not retry it.
    case redirectRefused(String)

    public var description: String {
        switch self {
        case .timedOut: "request timed out"
        case .connectionFailed(let why): "connection failed: \(why)"
        case .cancelled: "request cancelled"
        case .redirectRefused(let why): "redirect refused: \(why)"
        }
    }
}

/// The outbound seam: `URLSessionTransport` in production, scripted fakes in tests.
/// Implementations throw `TransportError` only; any HTTP status but a 3xx (never
/// followed, since requests carry credentials: `.redirectRefused`) is a response.
public protocol HTTPTransport: Sendable {
    func send(_ request: OutboundRequest) async throws -> InboundResponse
}
