import JSON
import LocalSandboxes
@testable import SuperserveEmulator
import Foundation
import HTTPServer
import TestSupport
import XCTest

/// The emulator on a real `HTTPServer` (port 0) spoken to with raw HTTP/1.1: wire
/// framing of its answers, and long execs that must not hold up other requests.
final class SuperserveLiveServerTests: XCTestCase {
    var harness: SuperserveHarness!
    var server: ServerHarness!

    override func setUp() async throws {
        harness = SuperserveHarness()
        server = try ServerHarness(router: harness.router)
    }

    override func tearDown() async throws {
        await server.stop()
        await harness.close()
    }

    /// One request on a fresh connection, run on a global queue (RawClient blocks).
    func call(_ method: String, _ target: String, headers: [(String, String)] = [], body: String = "") async throws -> RawResponse {
        try await Self.call(port: server.port, method, target, headers: headers, body: body)
    }

    static func call(port: Int, _ method: String, _ target: String, headers: [(String, String)], body: String,
                     timeout: Duration = .seconds(30)) async throws -> RawResponse {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do {
                    let client = try RawClient(port: port)
                    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n"
                    for (name, value) in headers { head += "\(name): \(value)\r\n" }
                    try client.send(head + "\r\n" + body)
                    c.resume(returning: try client.readResponse(timeout: timeout))
                } catch { c.resume(throwing: error) }
            }
        }
    }

    var key: (String, String) { ("X-API-Key", SuperserveTestKeys.apiKey) }

    func testAnswersKeepTheirFramingOnTheWire() async throws {
        let created = try await call("POST", "/sandboxes", headers: [key], body: #"{"name":"w","from_template":"cma-runner"}"#)
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.header("Content-Type"), "application/json")
        let id = try XCTUnwrap((try? JSONValue.parse(created.body))?["id"]?.stringValue)
        let list = try await call("GET", "/sandboxes?metadata.none=x", headers: [key])
        XCTAssertEqual(list.status, 200)
        XCTAssertEqual(list.bodyText, "[]")
        XCTAssertEqual(list.header("X-Total-Count"), "0")
        let paused = try await call("POST", "/sandboxes/\(id)/pause", headers: [key])
        XCTAssertEqual(paused.status, 204)
        XCTAssertTrue(paused.body.isEmpty)
        let denied = try await call("GET", "/sandboxes", headers: [("X-API-Key", "nope")])
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual((try? JSONValue.parse(denied.body))?["error"]?["code"]?.stringValue, "auth_failed")
    }

    func testLongExecsDoNotHoldUpOtherRequests() async throws {
        let created = try await call("POST", "/sandboxes", headers: [key], body: #"{"name":"w","from_template":"cma-runner"}"#)
        let json = try? JSONValue.parse(created.body)
        let id = try XCTUnwrap(json?["id"]?.stringValue), token = try XCTUnwrap(json?["access_token"]?.stringValue)
        let dataHeaders = [("X-Superserve-Sandbox-Id", id), ("X-Access-Token", token)]
        // More concurrent execs than the machine has cores: none may occupy a
        // server thread or the cooperative pool while it waits.
        let port = server.port
        let execs = (0..<6).map { _ in
            Task { try await Self.call(port: port, "POST", "/exec", headers: dataHeaders, body: #"{"command":"sleep 2; echo slept"}"#) }
        }
        let running = await superserveEventually { LocalSandboxProcesses.pids(sandboxID: id).count >= 6 }
        XCTAssertTrue(running)
        let started = ContinuousClock.now
        let list = try await call("GET", "/sandboxes", headers: [key])
        XCTAssertEqual(list.status, 200)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "a control-plane call answers while execs wait")
        for exec in execs {
            let answer = try await exec.value
            XCTAssertEqual((try? JSONValue.parse(answer.body))?["stdout"]?.stringValue, "slept\n")
        }
    }

    func testNoSecretReachesTheLogs() async throws {
        let capture = LogRecorder()
        let h = SuperserveHarness(logger: capture.logger("test.superserve"))
        addTeardownBlock { await h.close() }
        let s = await h.create(extra: #""env_vars":{"SANDBOX_SECRET":"env-var-secret-value"}"#)
        let secret = "work-secret-value-123"
        _ = await h.exec(s.id, s.token, "{\"command\":\"echo $ANTHROPIC_WORK_SECRET\",\"env\":{\"ANTHROPIC_WORK_SECRET\":\"\(secret)\"}}")
        _ = await h.exec(s.id, s.token, #"{"command":"true","working_dir":"/nonexistent"}"#)
        _ = await h.pause(s.id)
        let activated = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        _ = await h.send(.GET, "/sandboxes", headers: [("X-API-Key", "wrong-key-value")])
        _ = await h.control(.DELETE, "/sandboxes/\(s.id)")
        await h.emulator.shutdown()
        let logs = capture.text
        XCTAssertTrue(logs.contains("superserve.sandbox.created"), "the capture works")
        for forbidden in [SuperserveTestKeys.apiKey, "wrong-key-value", s.token, secret, "env-var-secret-value",
                          activated.json?["access_token"]?.stringValue ?? "-"] {
            XCTAssertFalse(logs.contains(forbidden), "a secret reached the logs")
        }
    }
}
