import AnthropicEmulator
import Foundation
import JSON
import Logging
import SuperserveEmulator
import TestSupport
import XCTest

/// Both emulators on their own loopback ports (as `emulate anthropic|superserve`
/// runs them), for tests that run the built binary against them as against the real
/// APIs: `serve --config`, `setup …`, `prepare`.
final class UpstreamEmulators: Sendable {
    let anthropic: AnthropicEmulator
    let superserve: SuperserveEmulator
    let anthropicServer: ServerHarness
    let superserveServer: ServerHarness
    let sandboxes: URL
    static let superserveKey = "ss_live_TESTONLYKEY0000000000000000000000"
    static let apiKey = "sk-ant-api03-UPSTREAMTEST"
    static let signingKey = AnthropicEmulatorConfiguration().webhookSigningKey

    /// `additionalEnvironments`: further environments (id → key) of the Anthropic emulator.
    init(environmentID: String, environmentKey: String, template: String, pythonBin: URL? = nil,
         additionalEnvironments: [String: String] = [:]) throws {
        signal(SIGPIPE, SIG_IGN)
        var quiet = Logger(label: "test.upstreams")
        quiet.logLevel = .critical
        var a = AnthropicEmulatorConfiguration()
        a.environmentID = environmentID
        a.environmentKey = environmentKey
        a.apiKey = Self.apiKey
        a.additionalEnvironments = additionalEnvironments
        anthropic = AnthropicEmulator(configuration: a, logger: quiet)
        anthropicServer = try ServerHarness(router: anthropic.router)
        sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-up-\(UUID().uuidString.prefix(8))")
        var s = SuperserveEmulatorConfiguration(apiKey: Self.superserveKey, sandboxesRoot: sandboxes)
        s.templateName = template
        s.pythonBinDirectory = pythonBin
        s.activateWait = .milliseconds(400)
        s.templateBuildDelay = .milliseconds(150)
        s.removeSandboxesOnShutdown = true
        superserve = SuperserveEmulator(configuration: s, logger: quiet)
        superserveServer = try ServerHarness(router: superserve.router)
    }

    var anthropicURL: String { "http://127.0.0.1:\(anthropicServer.port)" }
    var superserveURL: String { "http://127.0.0.1:\(superserveServer.port)" }

    /// What the binary needs to reach both emulators (the files leave the URLs out).
    var variables: [String: String] {
        ["ANTHROPIC_BASE_URL": anthropicURL, "SUPERSERVE_BASE_URL": superserveURL, "SUPERSERVE_SANDBOX_URL": superserveURL,
         "SUPERSERVE_API_KEY": Self.superserveKey, "ANTHROPIC_WEBHOOK_SIGNING_KEY": Self.signingKey,
         "CMA_DRAIN_INTERVAL_SECONDS": "1", "CMA_SHUTDOWN_GRACE_SECONDS": "2"]
    }

    func close() async {
        await anthropic.shutdown()
        await anthropicServer.stop()
        await superserve.shutdown()
        await superserveServer.stop()
        try? FileManager.default.removeItem(at: sandboxes)
    }

    // MARK: Calls

    func call(_ method: String, _ url: String, json: String? = nil, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        let answer = try await RunningInstance.call(method, URL(string: url)!, json: json, headers: headers)
        return (answer.status, answer.body)
    }

    func object(_ method: String, _ url: String, json: String? = nil, headers: [(String, String)] = []) async throws -> [String: Any] {
        let answer = try await call(method, url, json: json, headers: headers)
        guard (200..<300).contains(answer.status),
              let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
            throw HarnessError("\(method) \(url) → \(answer.status) \(answer.body)")
        }
        return object
    }

    /// A scripted session in `environmentID` whose one bash call runs `command`.
    func createSession(environmentID: String, command: String, metadata: [String: String] = [:]) async throws -> String {
        let meta = metadata.map { "\(JSONEscape.quoted($0.key)):\(JSONEscape.quoted($0.value))" }.joined(separator: ",")
        let body = #"{"environment_id":"# + JSONEscape.quoted(environmentID) + #","metadata":{"# + meta
            + #"},"end":"terminate","tool_calls":[{"name":"bash","input":{"command":"# + JSONEscape.quoted(command) + "}}]}"
        let created = try await object("POST", anthropicURL + "/_emulator/sessions", json: body)
        return try XCTUnwrap(created["session_id"] as? String)
    }

    /// The first tool result's text, waiting up to `timeout`.
    func toolResult(_ session: String, timeout: TimeInterval = 120) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let s = try await object("GET", anthropicURL + "/_emulator/sessions/\(session)")
            let events = s["events"] as? [[String: Any]] ?? []
            if let result = events.first(where: { $0["type"] as? String == "user.tool_result" }) {
                let content = result["content"] as? [[String: Any]] ?? []
                return content.compactMap { $0["text"] as? String }.joined(separator: "\n")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("no tool result for \(session) within \(Int(timeout)) s")
    }

    /// The work item of a session, with its state and calls (force-stops show here).
    func workItems() async throws -> [[String: Any]] {
        let answer = try await call("GET", anthropicURL + "/_emulator/work")
        let parsed = try JSONSerialization.jsonObject(with: Data(answer.body.utf8))
        return (parsed as? [String: Any])?["data"] as? [[String: Any]] ?? parsed as? [[String: Any]] ?? []
    }

    /// Sandboxes tagged with `session`.
    func sandboxes(session: String) async throws -> [[String: Any]] {
        let answer = try await call("GET", superserveURL + "/sandboxes?metadata.cma.session_id=\(session)",
                                    headers: [("X-API-Key", Self.superserveKey)])
        return try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [[String: Any]] ?? []
    }

    func sandbox(_ id: String) async throws -> [String: Any] {
        try await object("GET", superserveURL + "/sandboxes/\(id)", headers: [("X-API-Key", Self.superserveKey)])
    }
}

/// Writes text to a new temporary file and returns its path.
func temporaryFile(_ text: String, name: String = "config.yaml") throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cma-cfg-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
}
