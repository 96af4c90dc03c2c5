import APIClient
import Foundation
import Synchronization
@testable import SandboxLifecycle

/// An in-process transport for client unit tests: records every request and
/// answers from a handler.
final class HandlerTransport: HTTPTransport {
    typealias Handler = @Sendable (OutboundRequest) async throws -> InboundResponse
    private let handler: Handler
    private let recorded = Mutex<[OutboundRequest]>([])

    init(_ handler: @escaping Handler) {
        self.handler = handler
    }

    func send(_ request: OutboundRequest) async throws -> InboundResponse {
        recorded.withLock { $0.append(request) }
        return try await handler(request)
    }

    var requests: [OutboundRequest] { recorded.withLock { $0 } }

    /// "METHOD /path" of each request, in order.
    var calls: [String] { requests.map { "\($0.method) \($0.url.path)" } }
}

/// A sleeper that returns at once and records what was asked.
final class RecordingSleeper: Sleeper {
    private let slept = Mutex<[Duration]>([])
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        slept.withLock { $0.append(duration) }
        await Task.yield()
    }
    var durations: [Duration] { slept.withLock { $0 } }
}

extension OutboundRequest {
    var queryItems: [String: String] {
        var items: [String: String] = [:]
        for item in URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? [] {
            items[item.name] = item.value
        }
        return items
    }

    var jsonBody: [String: Any] {
        (body.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]) ?? [:]
    }
}

func json(_ status: Int, _ object: Any, headers: [String: String] = [:]) -> InboundResponse {
    let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    var all = headers
    all["content-type"] = "application/json"
    return InboundResponse(status: status, headers: all, body: data)
}

func errorResponse(_ status: Int, _ code: String, headers: [String: String] = [:]) -> InboundResponse {
    json(status, ["error": ["code": code, "message": "scripted \(code)"]], headers: headers)
}

func sandboxJSON(_ id: String, status: String = "active", token: String? = "tok-1-TEST",
                 metadata: [String: String] = [:], network: [String: [String]]? = nil) -> [String: Any] {
    var object: [String: Any] = ["id": id, "name": "cma-x", "status": status, "created_at": "2026-11-01T12:00:05.481233Z",
                                 "metadata": metadata]
    if let token { object["access_token"] = token }
    if let network { object["network"] = network }
    return object
}
