import Foundation
import APIClient
import HTTPServer
import HTTPWire

/// An `HTTPTransport` that hands each request to a `Router` in process, as the
/// server would after parsing: the real Anthropic emulator without sockets.
/// Header names and values pass through unchanged, so exact headers are checked
/// by the emulator's own auth and validation.
struct EmulatorRouterTransport: HTTPTransport {
    let router: Router

    func send(_ request: OutboundRequest) async throws -> InboundResponse {
        var target = request.url.path
        if let query = request.url.query { target += "?" + query }
        let body = request.body.map { [UInt8]($0) } ?? []
        var headers = HTTPHeaders(request.headers)
        if request.body != nil { headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        let head = HTTPRequestHead(method: HTTPMethod(token: request.method), target: target, version: .http1_1,
                                   headers: headers, framing: request.body == nil ? .none : .contentLength(body.count))
        let serverRequest = Request(head: head, body: body, remoteAddress: "127.0.0.1", scheme: "http", requestID: "test")
        let response: Response
        switch router.resolve(method: head.method, path: head.path) {
        case .found(let route):
            switch route.handler {
            case .sync(let handler): response = handler(serverRequest)
            case .async(let handler): response = await handler(serverRequest)
            }
        case .methodNotAllowed: return InboundResponse(status: 405, headers: [:], body: Data())
        case .notFound: return InboundResponse(status: 404, headers: [:], body: Data())
        }
        var out: [String: String] = [:]
        for field in response.headers { out[field.name.lowercased()] = field.value }
        guard case .bytes(let bytes) = response.body else {
            throw TransportError.connectionFailed("streaming body not supported in process")
        }
        return InboundResponse(status: response.status, headers: out, body: Data(bytes))
    }
}
