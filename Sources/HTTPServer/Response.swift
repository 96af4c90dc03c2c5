import HTTPWire

/// What a handler answers. `Content-Length`, `Connection` and `Date`-like framing
/// headers are the server's business; handlers set only their own headers.
public struct Response: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ResponseBody

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: ResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func bytes(_ bytes: [UInt8], status: Int = 200, contentType: String) -> Response {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: contentType)
        return Response(status: status, headers: h, body: .bytes(bytes))
    }

    public static func text(_ text: String, status: Int = 200) -> Response {
        .bytes(Array(text.utf8), status: status, contentType: "text/plain; charset=utf-8")
    }

    /// `json` must already be serialized JSON text.
    public static func json(_ json: String, status: Int = 200) -> Response {
        .bytes(Array(json.utf8), status: status, contentType: "application/json")
    }

    public static func json(bytes: [UInt8], status: Int = 200) -> Response {
        .bytes(bytes, status: status, contentType: "application/json")
    }

    public static func empty(status: Int) -> Response {
        Response(status: status)
    }
}

public enum ResponseBody: Sendable {
    /// A complete body, sent with `Content-Length` in the same write as the head.
    case bytes([UInt8])
    /// A body produced over time (server-sent events, long answers). Sent with
    /// `Transfer-Encoding: chunked` on HTTP/1.1, or delimited by close on HTTP/1.0.
    /// The stream ends when the closure returns; `write` throws once the peer is gone
    /// or the server is stopping, so producers stop promptly.
    case stream(@Sendable (any BodyWriter) async throws -> Void)
}

public protocol BodyWriter: Sendable {
    /// Sends `bytes` as one chunk; returns once the bytes are handed to the socket
    /// (or queued within the write deadline). Throws `BodyWriterError.closed` when the
    /// connection is gone.
    func write(_ bytes: [UInt8]) async throws
}

public enum BodyWriterError: Error, Sendable {
    case closed
}
