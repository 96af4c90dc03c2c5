import APIClient
import Foundation
import JSON

/// `setup environment` and `setup agent`: the upstream guide's setup script as two
/// commands. They call the Anthropic API with the organisation's API key
/// (`ANTHROPIC_API_KEY`, `x-api-key`), which only these commands read: it never
/// reaches `serve`, a sandbox or a log. Transient answers (408, 429, 5xx, transport
/// errors) are retried with backoff and `Retry-After`; anything else ends the
/// command with the API's own error message.
public enum AnthropicSetup {
    /// The beta every Managed Agents call carries (anthropic.md §1).
    public static let beta = "managed-agents-2026-04-01"
    public static let apiVersion = "2023-06-01"
    /// `setup agent`'s model when `--model` is not given.
    public static let defaultModel = "claude-sonnet-5-5"

    public struct Plan: Sendable {
        public var baseURL: URL
        let apiKey: String
        /// Tries of one call on transient answers.
        public var attempts = 6
        public var backoff = Backoff(base: .milliseconds(500), cap: .seconds(10))
        public var timeout: Duration = .seconds(60)
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let status: Int?
        public let message: String
        public var description: String {
            status.map { "HTTP \($0): \(message)" } ?? message
        }
    }

    /// `ANTHROPIC_API_KEY` (required) and `ANTHROPIC_BASE_URL`; a configuration file's
    /// `anthropic.base_url` wins over the variable.
    public static func plan(environment: [String: String], file: ConfigFile? = nil) throws(ConfigurationLoadError) -> Plan {
        let reader = EnvironmentReader(environment)
        do throws(Configuration.Error) {
            let key = try reader.required("ANTHROPIC_API_KEY")
            guard !key.contains(where: \.isWhitespace) else {
                throw Configuration.Error("ANTHROPIC_API_KEY", "must not contain whitespace")
            }
            var base = try reader.url("ANTHROPIC_BASE_URL") ?? URL(string: "https://api.anthropic.com")!
            if let fromFile = file?.anthropicBaseURL { base = fromFile }
            return Plan(baseURL: base, apiKey: key)
        } catch {
            throw .variables(error)
        }
    }

    /// `POST /v1/environments` with `config.type = self_hosted`; returns the new id.
    public static func createEnvironment(name: String, description: String? = nil, plan: Plan,
                                         transport: any HTTPTransport = URLSessionTransport()) async throws -> String {
        var fields = [#""name":"# + JSONEscape.quoted(name), #""config":{"type":"self_hosted"}"#]
        if let description { fields.append(#""description":"# + JSONEscape.quoted(description)) }
        let object = try await post("/v1/environments", body: "{" + fields.joined(separator: ",") + "}", plan: plan, transport: transport)
        guard let id = object["id"] as? String, id.hasPrefix("env_") else {
            throw Failure(status: nil, message: "the answer carries no environment id")
        }
        return id
    }

    /// `POST /v1/agents` with the model, the optional system prompt and the agent
    /// toolset (bash, read, write, … run by the runner in the sandbox); returns the id.
    public static func createAgent(name: String, model: String = defaultModel, system: String? = nil, plan: Plan,
                                   transport: any HTTPTransport = URLSessionTransport()) async throws -> String {
        var fields = [#""name":"# + JSONEscape.quoted(name), #""model":"# + JSONEscape.quoted(model),
                      #""tools":[{"type":"agent_toolset_20260401"}]"#]
        if let system { fields.append(#""system":"# + JSONEscape.quoted(system)) }
        let object = try await post("/v1/agents", body: "{" + fields.joined(separator: ",") + "}", plan: plan, transport: transport)
        guard let id = object["id"] as? String, !id.isEmpty else {
            throw Failure(status: nil, message: "the answer carries no agent id")
        }
        return id
    }

    static func post(_ path: String, body: String, plan: Plan, transport: any HTTPTransport) async throws -> [String: Any] {
        var text = plan.baseURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text + path) else { throw Failure(status: nil, message: "cannot form a URL for \(path)") }
        let request = OutboundRequest(method: "POST", url: url, headers: [
            ("x-api-key", plan.apiKey), ("anthropic-version", apiVersion), ("anthropic-beta", beta),
            ("content-type", "application/json"), ("accept", "application/json"), ("user-agent", "cma-orchestrator"),
        ], body: Data(body.utf8), timeout: plan.timeout)
        var attempt = 0
        while true {
            attempt += 1
            var hint: Duration?
            var failure: Failure
            do {
                let response = try await transport.send(request)
                if (200..<300).contains(response.status) {
                    guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
                        throw Failure(status: response.status, message: "the answer is not a JSON object")
                    }
                    return object
                }
                failure = Failure(status: response.status, message: apiMessage(response.body))
                guard [408, 429].contains(response.status) || response.status >= 500 else { throw failure }
                hint = RetryHint.delay(from: response)
            } catch let error as Failure {
                throw error
            } catch {
                failure = Failure(status: nil, message: "transport: \(error)")
            }
            guard attempt < plan.attempts else { throw failure }
            try await Task.sleep(for: plan.backoff.delay(attempt: attempt, hint: hint))
        }
    }

    /// `error.message` of an API error body (anthropic.md §1); never echoes a request.
    static func apiMessage(_ body: Data) -> String {
        let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        return (error?["message"] as? String).map { String($0.prefix(300)) } ?? "no error message"
    }
}
