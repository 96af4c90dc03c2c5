import APIClient
import AnthropicEmulator
import Foundation
import Logging
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The real runner.py (anthropic 2.10.0 from the SDK venv) launched by the real
/// launcher into an emulated Superserve sandbox, serving a session of the
/// Anthropic emulator end to end: one bash tool call, then termination.
final class EndToEndRunnerTests: XCTestCase {
    static let beta = "managed-agents-2026-04-01"

    func anthropic(_ method: String, _ url: URL, key: String) async throws -> InboundResponse {
        try await URLSessionTransport().send(OutboundRequest(
            method: method, url: url,
            headers: [("Authorization", "Bearer \(key)"), ("anthropic-version", "2026-10-21"),
                      ("anthropic-beta", Self.beta), ("Content-Type", "application/json")],
            body: method == "POST" ? Data() : nil, timeout: .seconds(10)))
    }

    /// anthropic.md §3.1: URL-safe base64 (maybe unpadded) JSON with `sessions_token`.
    static func hasSessionsToken(_ secret: String) -> Bool {
        var text = secret.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = object["sessions_token"] as? String else { return false }
        return !token.isEmpty
    }

    func testRealRunnerServesAnEmulatedSessionEndToEnd() async throws {
        let venvBin = URL(fileURLWithPath: try SDKPython.python()).deletingLastPathComponent()
        let h = try LoopbackHarness { $0.pythonBinDirectory = venvBin }
        var quiet = Logger(label: "test.anthropic")
        quiet.logLevel = .critical
        let anthropicConfig = AnthropicEmulatorConfiguration()
        let emulator = AnthropicEmulator(configuration: anthropicConfig, logger: quiet)
        let server = try ServerHarness(router: emulator.router)
        let base = URL(string: "http://127.0.0.1:\(server.port)")!
        let env = anthropicConfig.environmentID

        // A scripted session: one bash call, then terminate.
        let created = try await URLSessionTransport().send(OutboundRequest(
            method: "POST", url: base.appendingPathComponent("_emulator/sessions"),
            headers: [("Content-Type", "application/json")],
            body: Data(#"{"tool_calls":[{"name":"bash","input":{"command":"echo hello"}}],"end":"terminate"}"#.utf8),
            timeout: .seconds(10)))
        XCTAssertEqual(created.status, 200, String(decoding: created.body, as: UTF8.self))
        let ids = try XCTUnwrap(JSONSerialization.jsonObject(with: created.body) as? [String: Any])
        let sessionID = try XCTUnwrap(ids["session_id"] as? String)

        // Claim it as the drainer would: poll, then ack (rule 5).
        let poll = try await anthropic("GET", URL(string: "\(base)/v1/environments/\(env)/work/poll?reclaim_older_than_ms=2000")!,
                                       key: anthropicConfig.environmentKey)
        let item = try XCTUnwrap(JSONSerialization.jsonObject(with: poll.body) as? [String: Any], String(decoding: poll.body, as: UTF8.self))
        let workID = try XCTUnwrap(item["id"] as? String)
        let secret = item["secret"] as? String
        let ack = try await anthropic("POST", URL(string: "\(base)/v1/environments/\(env)/work/\(workID)/ack")!,
                                      key: anthropicConfig.environmentKey)
        XCTAssertEqual(ack.status, 200)

        let launcher = h.launcher { config in
            config.runnerExtraEnvironment = [:]     // the real runner.py
            config.anthropicBaseURL = base
            config.environmentKey = anthropicConfig.environmentKey
            config.maxIdleSeconds = 5
            config.probeDelay = .seconds(2)
        }
        let tracker = RecordingLaunchContext()
        let request = LaunchRequest(
            workID: workID, sessionID: sessionID, environmentID: env, workMetadata: [:], workSecret: secret,
            sessionsTokenPresent: secret.map(Self.hasSessionsToken) ?? false)
        let outcome = await launcher.launch(request, context: tracker)
        guard case .launched(let sandboxID, _, false) = outcome else { return XCTFail("launch: \(outcome)") }

        // The runner answers the tool call through the Anthropic emulator.
        let answered = await h.eventually(timeout: .seconds(90)) {
            guard let response = try? await URLSessionTransport().send(OutboundRequest(
                method: "GET", url: base.appendingPathComponent("_emulator/sessions/\(sessionID)"), timeout: .seconds(10))) else { return false }
            let session = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
            let events = session?["events"] as? [[String: Any]] ?? []
            return events.contains { event in
                guard event["type"] as? String == "user.tool_result", event["is_error"] as? Bool != true,
                      let content = event["content"] as? [[String: Any]] else { return false }
                return content.contains { $0["text"] as? String == "hello" }
            }
        }
        if !answered {
            let access = try SandboxAccess(try await h.client.activate(id: sandboxID))
            let log = try? await h.client.exec(access, command: "cat /srv/cma/runner.log", timeoutSeconds: 10)
            XCTFail("no tool result; runner.log:\n\(log?.stdout ?? "unreadable")")
        }
        await launcher.waitForBackgroundWork()
        XCTAssertEqual(tracker.failures.withLock { $0 }, [])
        // After the terminate the runner exits 0 (probe: exited 0).
        let access = try SandboxAccess(try await h.client.activate(id: sandboxID))
        let exited = await h.eventually(timeout: .seconds(60)) {
            let probe = try? await h.client.exec(access, command: "sh /srv/cma/probe.sh", timeoutSeconds: 10)
            return probe.flatMap { ProbeResult.parse($0.stdout) } == ProbeResult(state: .exited, pid: ProbeResult.parse(probe?.stdout ?? "")?.pid, exitCode: 0)
        }
        XCTAssertTrue(exited)
        let log = try await h.client.exec(access, command: "cat /srv/cma/runner.log", timeoutSeconds: 10).stdout
        XCTAssertFalse(log.contains(secret ?? "no-secret"), "rule 26: the runner never prints the secret")
        XCTAssertFalse(log.contains(anthropicConfig.environmentKey))
        await emulator.shutdown()
        await server.stop()
        await h.close()
    }
}
