import APIClient
import Foundation
import HTTPServer
import HTTPWire
import Synchronization

/// An `HTTPTransport` that hands each request to a `Router` in process, as a
/// connection would after parsing it (`Router.respond(to:)`): an emulator, or any
/// router, without sockets. The raw (still percent-encoded) path and query are
/// routed; header names and values pass through unchanged, plus the
/// `Content-Length` the wire would carry for a body, so exact headers are checked by
/// the handlers' own validation.
public struct RouterTransport: HTTPTransport {
    public let router: Router

    public init(router: Router) {
        self.router = router
    }

    /// The router's answer, a streamed body returned unrun (for tests that drive it).
    public func respond(to request: OutboundRequest) async -> Response {
        await router.respond(to: Self.serverRequest(request))
    }

    /// The router's answer as a client reads it: a streamed body is run to its end,
    /// as `URLSessionTransport` reads a whole body before returning.
    public func send(_ request: OutboundRequest) async throws -> InboundResponse {
        let response = await respond(to: request)
        var headers: [String: String] = [:]
        for field in response.headers { headers[field.name.lowercased()] = field.value }
        switch response.body {
        case .bytes(let bytes):
            return InboundResponse(status: response.status, headers: headers, body: Data(bytes))
        case .stream(let produce):
            let writer = BodyCollector()
            try await produce(writer)
            return InboundResponse(status: response.status, headers: headers, body: Data(writer.bytes))
        }
    }

    /// The server-side `Request` the parser would hand the router for `request`.
    static func serverRequest(_ request: OutboundRequest) -> Request {
        let components = URLComponents(url: request.url, resolvingAgainstBaseURL: false)
        var target = components?.percentEncodedPath ?? request.url.path
        if target.isEmpty { target = "/" }
        if let query = components?.percentEncodedQuery { target += "?" + query }
        let body = request.body.map { [UInt8]($0) } ?? []
        var headers = HTTPHeaders(request.headers)
        if request.body != nil { headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        let head = HTTPRequestHead(method: HTTPMethod(token: request.method), target: target, version: .http1_1,
                                   headers: headers, framing: request.body == nil ? .none : .contentLength(body.count))
        return Request(head: head, body: body, remoteAddress: "127.0.0.1", scheme: "http", requestID: "test")
    }
}

/// Keeps every chunk a streamed body writes.
private final class BodyCollector: BodyWriter {
    private let storage = Mutex<[UInt8]>([])
    func write(_ bytes: [UInt8]) async throws { storage.withLock { $0 += bytes } }
    var bytes: [UInt8] { storage.withLock { $0 } }
}
