import APIClient
import AnthropicEmulator
import Foundation
import HTTPServer
import HTTPWire
import JSON
import Logging
import Synchronization
import TestSupport
import XCTest

/// Test-only credentials: obvious placeholders (brief: never key-shaped strings).
enum AnthropicTestKeys {
    static let environmentKey = "sk-ant-oat01-TEST"
    static let otherEnvironmentKey = "sk-ant-oat01-OTHER"
    static let apiKey = "sk-ant-api03-TEST"
    static let signingKey = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

    static func configuration() -> AnthropicEmulatorConfiguration {
        var c = AnthropicEmulatorConfiguration()
        c.environmentID = "env_test"
        c.environmentKey = environmentKey
        c.additionalEnvironments = ["env_other": otherEnvironmentKey]
        c.apiKey = apiKey
        c.webhookSigningKey = signingKey
        return c
    }
}

/// Calls the emulator's router in process (no sockets), as the server would.
struct InProcessClient {
    let transport: RouterTransport

    init(router: Router) {
        transport = RouterTransport(router: router)
    }

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func send(_ method: HTTPMethod, _ target: String, headers: [(String, String)] = [], body: String = "",
              credential: String? = nil) async -> Answer {
        var fields = headers
        if let credential { fields.append(("Authorization", "Bearer \(credential)")) }
        let request = Self.request(method, target, headers: fields, body: body)
        do {
            let response = try await transport.send(request)
            return Answer(status: response.status, headers: HTTPHeaders(response.headers.map { ($0.key, $0.value) }),
                          body: [UInt8](response.body))
        } catch {
            XCTFail("in-process send failed: \(error)")
            return Answer(status: 0, headers: HTTPHeaders(), body: [])
        }
    }

    /// The stream route's answer with its body unrun, and a writer to run it into.
    func stream(_ target: String, credential: String) async -> (Response, CollectingWriter) {
        let request = Self.request(.GET, target, headers: [("Authorization", "Bearer \(credential)")], body: "")
        return (await transport.respond(to: request), CollectingWriter())
    }

    private static func request(_ method: HTTPMethod, _ target: String, headers: [(String, String)], body: String) -> OutboundRequest {
        OutboundRequest(method: method.description, url: URL(string: "http://anthropic.test" + target)!, headers: headers,
                        body: body.isEmpty ? nil : Data(body.utf8), timeout: .seconds(30))
    }
}

/// A `BodyWriter` that keeps what it receives and can be closed (peer gone).
final class CollectingWriter: BodyWriter {
    private let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

    func write(_ bytes: [UInt8]) async throws {
        try state.withLock { s in
            if s.closed { throw BodyWriterError.closed }
            s.bytes += bytes
        }
    }

    func close() { state.withLock { $0.closed = true } }

    var text: String { String(decoding: state.withLock { $0.bytes }, as: UTF8.self) }

    /// Data lines of `event: message` frames, parsed.
    var events: [JSONValue] {
        text.components(separatedBy: "\n\n").compactMap { frame in
            let lines = frame.split(separator: "\n")
            guard lines.contains("event: message"), let data = lines.first(where: { $0.hasPrefix("data: ") }) else { return nil }
            return try? JSONValue.parse(String(data.dropFirst(6)))
        }
    }
}

/// Waits on a condition with a deadline (never sleep to synchronise: this polls a
/// cheap in-memory predicate with a short yield and fails loudly at the deadline).
func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// `eventually` as an assertion.
func assertEventually(timeout: Duration = .seconds(10), _ message: String = "condition not met before the deadline",
                      file: StaticString = #filePath, line: UInt = #line, _ condition: () async -> Bool) async {
    let ok = await eventually(timeout: timeout, condition)
    XCTAssertTrue(ok, message, file: file, line: line)
}
