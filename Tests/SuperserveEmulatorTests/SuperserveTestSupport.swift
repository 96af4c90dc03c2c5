import APIClient
import JSON
@testable import SuperserveEmulator
import Foundation
import HTTPServer
import HTTPWire
import Logging
import TestSupport
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
        // These suites check one endpoint behaviour at a time, dozens of calls in a
        // tight loop and many sandboxes: the team limits (on by default, §7) are
        // lifted here, and the tests of the limits themselves set them explicitly
        // (SuperserveTeamLimitTests, SuperserveQuotaTests).
        configuration.teamRateLimit = nil
        configuration.maxActiveSandboxes = nil
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
        let request = OutboundRequest(method: method.description, url: URL(string: "http://superserve.test" + target)!,
                                      headers: headers, body: body.isEmpty ? nil : Data(body), timeout: .seconds(30))
        do {
            let response = try await RouterTransport(router: router).send(request)
            return Answer(status: response.status, headers: HTTPHeaders(response.headers.map { ($0.key, $0.value) }),
                          body: [UInt8](response.body))
        } catch {
            XCTFail("in-process send failed: \(error)")
            return Answer(status: 0, headers: HTTPHeaders(), body: [])
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

