import JSON
@testable import SuperserveEmulator
import Foundation
import HTTPServer
import HTTPWire
import Logging
import Synchronization
import XCTest

/// Placeholder credential (brief: never key-shaped strings in tests).
enum SuperserveTestKeys {
    static let apiKey = "superserve-test-key"
}

/// One emulator on a fresh temporary sandboxes root, driven in process through its
/// router (the same handlers the server runs). `close()` kills the sandboxes'
/// processes and removes the root.
final class SuperserveHarness: Sendable {
    let emulator: SuperserveEmulator
    let root: URL
    let router: Router

    init(logger: Logger? = nil, _ configure: (inout SuperserveEmulatorConfiguration) -> Void = { _ in }) {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ss-emu-\(UUID().uuidString.prefix(8))")
        var configuration = SuperserveEmulatorConfiguration(apiKey: SuperserveTestKeys.apiKey, sandboxesRoot: root)
        configuration.activateWait = .milliseconds(400)
        configuration.templateBuildDelay = .milliseconds(150)
        configure(&configuration)
        var quiet = Logger(label: "test.superserve")
        quiet.logLevel = .critical
        emulator = SuperserveEmulator(configuration: configuration, logger: logger ?? quiet)
        router = emulator.router
    }

    func close() async {
        await emulator.shutdown()
        try? FileManager.default.removeItem(at: root)
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
        var code: String? { json?["error"]?["code"]?.stringValue }
    }

    func send(_ method: HTTPMethod, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) async -> Answer {
        let head = HTTPRequestHead(method: method, target: target, version: .http1_1, headers: HTTPHeaders(headers),
                                   framing: body.isEmpty ? .none : .contentLength(body.count))
        let request = Request(head: head, body: body, remoteAddress: "127.0.0.1", scheme: "http", requestID: "t")
        let response: Response
        switch router.resolve(method: method, path: head.path) {
        case .found(let route):
            switch route.handler {
            case .sync(let f): response = f(request)
            case .async(let f): response = await f(request)
            }
        case .methodNotAllowed: return Answer(status: 405, headers: HTTPHeaders(), body: [])
        case .notFound: return Answer(status: 404, headers: HTTPHeaders(), body: [])
        }
        switch response.body {
        case .bytes(let b):
            return Answer(status: response.status, headers: response.headers, body: b)
        case .stream(let produce):
            let writer = SuperserveCollectingWriter()
            try? await produce(writer)
            return Answer(status: response.status, headers: response.headers, body: writer.bytes)
        }
    }

    /// Control-plane call with the API key.
    func control(_ method: HTTPMethod, _ target: String, json: String? = nil, headers: [(String, String)] = []) async -> Answer {
        await send(method, target, headers: [("X-API-Key", SuperserveTestKeys.apiKey), ("Content-Type", "application/json")] + headers,
                   body: Array((json ?? "").utf8))
    }

    /// Data-plane call addressed by `X-Superserve-Sandbox-Id`.
    func data(_ method: HTTPMethod, _ target: String, sandbox: String, token: String, body: [UInt8] = []) async -> Answer {
        await send(method, target, headers: [("X-Superserve-Sandbox-Id", sandbox), ("X-Access-Token", token)], body: body)
    }

    func exec(_ sandbox: String, _ token: String, _ json: String) async -> Answer {
        await data(.POST, "/exec", sandbox: sandbox, token: token, body: Array(json.utf8))
    }

    /// Creates a sandbox and returns its id and token (fails the test otherwise).
    func create(name: String = "cma-test", extra: String = "", file: StaticString = #filePath, line: UInt = #line) async -> (id: String, token: String) {
        let body = "{\"name\":\"\(name)\",\"from_template\":\"cma-runner\"\(extra.isEmpty ? "" : "," + extra)}"
        let answer = await control(.POST, "/sandboxes", json: body)
        XCTAssertEqual(answer.status, 201, answer.text, file: file, line: line)
        return (answer.json?["id"]?.stringValue ?? "", answer.json?["access_token"]?.stringValue ?? "")
    }

    func status(_ id: String) async -> String? {
        await control(.GET, "/sandboxes/\(id)").json?["status"]?.stringValue
    }

    func pause(_ id: String) async -> Answer { await control(.POST, "/sandboxes/\(id)/pause") }

    func hold(_ id: String, _ status: String, ms: Int) async {
        let answer = await send(.POST, "/_emulator/superserve/hold", body: Array("{\"sandbox_id\":\"\(id)\",\"status\":\"\(status)\",\"ms\":\(ms)}".utf8))
        XCTAssertEqual(answer.status, 200, answer.text)
    }

    func fail(_ id: String) async {
        let answer = await send(.POST, "/_emulator/superserve/sandboxes/\(id)/fail")
        XCTAssertEqual(answer.status, 200, answer.text)
    }

    /// Host path of a sandbox path (under `fs/`).
    func hostPath(_ id: String, _ path: String) -> String {
        root.appendingPathComponent(id).path + "/fs" + path
    }
}

final class SuperserveCollectingWriter: BodyWriter {
    private let storage = Mutex<[UInt8]>([])
    func write(_ bytes: [UInt8]) async throws { storage.withLock { $0 += bytes } }
    var bytes: [UInt8] { storage.withLock { $0 } }
}

/// Waits for a condition with a deadline (never sleeps to synchronise: it re-checks
/// a cheap predicate and fails at the deadline).
func superserveEventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

