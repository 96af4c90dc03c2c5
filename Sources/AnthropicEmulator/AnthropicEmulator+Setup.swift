import Faults
import Foundation
import HTTPServer
import HTTPWire
import JSON

/// `POST /v1/environments` and `POST /v1/agents` (the setup calls of the upstream
/// guide, as anthropic 2.10.0's `beta.environments.create` and `beta.agents.create`
/// send them), and `GET /_emulator/environments`. Organisation API key only; fault
/// plans apply under the groups `all`, `setup` and the call name
/// (`environments.create`, `agents.create`).
extension AnthropicEmulator {
    static let environmentFields: Set<String> = ["name", "config", "description", "metadata", "scope"]
    static let agentFields: Set<String> = [
        "name", "model", "system", "description", "tools", "metadata", "skills", "mcp_servers", "execution_identity",
        "multiagent",
    ]

    func handleSetup(_ request: Request) async -> Response {
        let requestID = RandomID.make(prefix: "req_")
        let s = request.pathSegments.map(String.init)
        let call: String
        switch (s, request.method) {
        case (["v1", "environments"], .POST): call = "environments.create"
        case (["v1", "agents"], .POST): call = "agents.create"
        case (["v1", "environments"], _), (["v1", "agents"], _):
            let failure = AnthropicAPIFailure(status: 405, type: "invalid_request_error", message: "method not allowed")
            return finish(errorResponse(.api(failure), requestID: requestID), route: nil, requestID: requestID)
        default:
            return finish(errorResponse(.notFound("no route for this path"), requestID: requestID), route: nil, requestID: requestID)
        }
        let decision = faults.decide(groups: ["all", "setup", call])
        await decision.applyLatency()
        switch decision {
        case .pass:
            break
        case .error(let status, let retryAfter, _):
            let failure = AnthropicAPIFailure(status: status, type: AnthropicAPIFailure.errorType(for: status),
                                              message: "injected fault", retryAfterSeconds: retryAfter)
            return finish(errorResponse(.api(failure), requestID: requestID), route: nil, requestID: requestID)
        case .drop:
            return FaultDecision.droppedResponse()
        case .lose:
            break   // acts below, then loses the answer
        }
        do throws(AnthropicEmulatorError) {
            let credential = try state.withLock { st throws(AnthropicEmulatorError) in
                try st.authenticate(Self.presentedCredential(request.headers))
            }
            guard credential == .apiKey else { throw AnthropicEmulatorError.permission("this operation needs the organization's API key") }
            let at = now()
            let body = try Self.jsonBody(request, allowEmpty: false) ?? JSONValue.object([])
            let response = call == "environments.create" ? try createEnvironment(body, at: at) : try createAgent(body, at: at)
            // An injected lost answer: the environment or agent exists, the answer never arrives.
            if case .lose = decision { return FaultDecision.droppedResponse() }
            return finish(response, route: nil, requestID: requestID)
        } catch {
            return finish(errorResponse(error, requestID: requestID), route: nil, requestID: requestID)
        }
    }

    private func createEnvironment(_ body: JSONValue, at: Date) throws(AnthropicEmulatorError) -> Response {
        try Self.onlyKnownFields(body, Self.environmentFields)
        let name = try Self.requiredName(body)
        var configType = "cloud"
        if let config = body["config"], !config.isNull {
            guard config.objectValue != nil, let type = config["type"]?.stringValue, ["cloud", "self_hosted"].contains(type) else {
                throw .invalidRequest("config.type must be cloud or self_hosted")
            }
            configType = type
        }
        let record = AnthropicSetupRecords.Environment(
            id: RandomID.make(prefix: "env_"), name: name, description: try Self.optionalString(body, "description"),
            configType: configType, metadata: try Self.metadata(body), key: RandomID.make(prefix: "sk-ant-oat01-EMULATED-"),
            createdAt: at)
        state.withLock { st in
            st.setup.environments.append(record)
            // Self-hosted environments have a work queue; its key is the Console's part.
            if configType == "self_hosted" { st.environments[record.id] = AnthropicEnvironmentQueue(key: record.key) }
        }
        return json(record.json)
    }

    private func createAgent(_ body: JSONValue, at: Date) throws(AnthropicEmulatorError) -> Response {
        try Self.onlyKnownFields(body, Self.agentFields)
        let name = try Self.requiredName(body)
        let model: String
        switch body["model"] {
        case .string(let id)? where !id.isEmpty: model = id
        case .object? where body["model"]?["id"]?.stringValue?.isEmpty == false: model = body["model"]!["id"]!.stringValue!
        default: throw .invalidRequest("model is required: a model id or {\"id\": …}")
        }
        var tools: [JSONValue] = []
        if let list = body["tools"], !list.isNull {
            guard let items = list.arrayValue else { throw .invalidRequest("tools must be a list") }
            for tool in items {
                guard let type = tool["type"]?.stringValue else { throw .invalidRequest("each tool needs a type") }
                if type == "agent_toolset_20260401" {
                    tools.append(.object([("type", .string(type)), ("configs", tool["configs"] ?? .array([])),
                                          ("default_config", tool["default_config"] ?? .object([("enabled", .bool(true))]))]))
                } else {
                    tools.append(tool)
                }
            }
        }
        let record = AnthropicSetupRecords.Agent(
            id: RandomID.make(prefix: "agent_"), name: name, model: model, system: try Self.optionalString(body, "system"),
            description: try Self.optionalString(body, "description"), tools: tools, metadata: try Self.metadata(body),
            createdAt: at)
        state.withLock { $0.setup.agents.append(record) }
        return json(record.json)
    }

    /// `GET /_emulator/environments`: the environments created through the API with
    /// their environment keys (the real service shows a key once, in the Console).
    func setupControl() -> Response {
        let all = state.withLock { st in
            st.setup.environments.map { env -> JSONValue in
                var value = env.json
                value.set("environment_key", .string(env.key))
                return value
            }
        }
        let agents = state.withLock { st in st.setup.agents.map(\.json) }
        return json(.object([("environments", .array(all)), ("agents", .array(agents))]))
    }

    static func onlyKnownFields(_ body: JSONValue, _ allowed: Set<String>) throws(AnthropicEmulatorError) {
        for (key, _) in body.objectValue ?? [] where !allowed.contains(key) {
            throw .invalidRequest("\(key): Extra inputs are not permitted")
        }
    }

    static func requiredName(_ body: JSONValue) throws(AnthropicEmulatorError) -> String {
        guard let name = body["name"]?.stringValue, !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 256 else {
            throw .invalidRequest("name is required (1–256 characters)")
        }
        return name
    }

    static func metadata(_ body: JSONValue) throws(AnthropicEmulatorError) -> [String: String] {
        guard let raw = body["metadata"], !raw.isNull else { return [:] }
        guard let members = raw.objectValue else { throw .invalidRequest("metadata must be an object of strings") }
        var out: [String: String] = [:]
        for (key, value) in members {
            guard let text = value.stringValue else { throw .invalidRequest("metadata values must be strings") }
            out[key] = text
        }
        return out
    }
}
