import APIClient
import Foundation
import JSON

/// `cma-orchestrator demo`: one scripted session on a `serve --emulated` instance.
/// The session asks for one bash call; the real runner.py in a local sandbox runs
/// it and posts the result, which this reads back from the emulator.
public enum DemoSession {
    public struct Outcome: Sendable {
        public var sessionID: String
        public var toolOutput: String
        public var isError: Bool
        public var elapsed: Duration
    }

    public enum Failure: Error, CustomStringConvertible {
        case server(String)
        case timedOut(sessionID: String, status: String)

        public var description: String {
            switch self {
            case .server(let why): why
            case .timedOut(let id, let status):
                "no tool result for session \(id) in time (session status \(status)); see the server's log and /status"
            }
        }
    }

    public static let command = "echo hello from the sandbox && uname -s"

    public static func run(server: URL, timeout: Duration = .seconds(120),
                           transport: any HTTPTransport = URLSessionTransport()) async throws -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let body = #"{"tool_calls":[{"name":"bash","input":{"command":"# + JSONEscape.quoted(command) + #"}}],"end":"terminate"}"#
        let created: InboundResponse
        do {
            created = try await transport.send(OutboundRequest(
                method: "POST", url: server.appendingPathComponent("_emulator/sessions"),
                headers: [("Content-Type", "application/json")], body: Data(body.utf8), timeout: .seconds(10)))
        } catch {
            throw Failure.server("cannot reach \(server.absoluteString): is `cma-orchestrator serve --emulated` running? (\(error))")
        }
        guard created.status == 200,
              let object = try? JSONSerialization.jsonObject(with: created.body) as? [String: Any],
              let sessionID = object["session_id"] as? String else {
            throw Failure.server("\(server.absoluteString) did not create a session (HTTP \(created.status)); it must run with --emulated")
        }
        var status = "unknown"
        while clock.now - start < timeout {
            let answer = try await transport.send(OutboundRequest(
                method: "GET", url: server.appendingPathComponent("_emulator/sessions/\(sessionID)"), timeout: .seconds(10)))
            if answer.status == 200, let session = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any] {
                status = session["status"] as? String ?? status
                let events = session["events"] as? [[String: Any]] ?? []
                if let result = events.first(where: { $0["type"] as? String == "user.tool_result" }) {
                    return Outcome(sessionID: sessionID, toolOutput: texts(in: result["content"]).joined(separator: "\n"),
                                   isError: result["is_error"] as? Bool ?? false, elapsed: clock.now - start)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure.timedOut(sessionID: sessionID, status: status)
    }

    /// Every `text` string inside a tool result's content.
    static func texts(in value: Any?) -> [String] {
        switch value {
        case let s as String: return [s]
        case let list as [Any]: return list.flatMap { texts(in: $0) }
        case let object as [String: Any]:
            if let text = object["text"] as? String { return [text] }
            return object.values.flatMap { texts(in: $0) }
        default: return []
        }
    }
}
