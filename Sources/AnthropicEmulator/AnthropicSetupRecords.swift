import Foundation
import JSON

/// Environments and agents created through the API (`POST /v1/environments`,
/// `POST /v1/agents`), as the SDK's `BetaEnvironment` and `BetaManagedAgentsAgent`
/// read them. A created self-hosted environment also gets a work queue and an
/// environment key, which the real service makes in the Console; the emulator shows
/// it on `GET /_emulator/environments` so that a test can serve the new environment.
struct AnthropicSetupRecords: Sendable {
    struct Environment: Sendable {
        let id: String
        let name: String
        let description: String?
        let configType: String
        let metadata: [String: String]
        let key: String
        let createdAt: Date

        var json: JSONValue {
            let at = RFC3339.format(createdAt)
            return .object([
                ("id", .string(id)), ("type", .string("environment")), ("name", .string(name)),
                ("description", .optionalString(description)), ("config", .object([("type", .string(configType))])),
                ("metadata", .stringMap(metadata)), ("scope", .string("organization")),
                ("created_at", .string(at)), ("updated_at", .string(at)), ("archived_at", .null),
            ])
        }
    }

    struct Agent: Sendable {
        let id: String
        let name: String
        let model: String
        let system: String?
        let description: String?
        let tools: [JSONValue]
        let metadata: [String: String]
        let createdAt: Date

        var json: JSONValue {
            let at = RFC3339.format(createdAt)
            return .object([
                ("id", .string(id)), ("type", .string("agent")), ("name", .string(name)),
                ("description", .optionalString(description)),
                ("model", .object([("id", .string(model)), ("speed", .string("standard"))])),
                ("system", .optionalString(system)), ("tools", .array(tools)), ("skills", .array([])),
                ("mcp_servers", .array([])), ("metadata", .stringMap(metadata)),
                ("execution_identity", .object([("type", .string("service_account"))])),
                ("version", .int(1)), ("created_at", .string(at)), ("updated_at", .string(at)), ("archived_at", .null),
            ])
        }
    }

    var environments: [Environment] = []
    var agents: [Agent] = []
}
