import Faults
import HTTPServer
import HTTPWire
import JSON

/// The control surface under `/_emulator/` (no auth: loopback, tests and demos only).
///
/// - `POST /_emulator/sessions` `{"environment_id"?, "metadata"?, "tool_calls"?: [{"name","input"?,"evaluated_permission"?}],
///   "end"?: "terminate"|"idle", "work_metadata"?, "data_metadata"?, "work_secret"?: false}` → `{"session_id","work_id"}`
///   (`"work_secret": false` enqueues the item with a null `secret`: no sessions token)
/// - `GET /_emulator/sessions` → `{"data":[session…]}`; `GET /_emulator/sessions/{id}` → session with `events`
/// - `POST /_emulator/sessions/{id}/webhooks` `{"type"?: "session.status_idled"}` → `{"webhook_id": id|null}`
/// - `POST /_emulator/work` `{"environment_id"?, "type":"healthcheck", "metadata"?}` → `{"work_id"}`
/// - `GET /_emulator/work` → `{"data":[item…]}`; `GET /_emulator/work/{id}` → item with `calls`
/// - `GET|POST|DELETE /_emulator/faults` → `{"faults": plan|null}`
/// - `GET /_emulator/webhooks` → `{"data":[attempt…]}`
/// - `POST /_emulator/environments/{id}/revoke` | `/restore` → `{"environment_id","revoked"}`: the
///   environment's key answers 401 until restored (a key deleted in the Console)
extension AnthropicEmulator {
    /// Session metadata limits of the SDK (anthropic.md §6, §9): 16 pairs, key ≤64, value ≤512.
    static let maximumMetadataPairs = 16
    static let maximumMetadataKeyLength = 64
    static let maximumMetadataValueLength = 512

    func handleControl(_ request: Request) async -> Response {
        let requestID = RandomID.make(prefix: "req_")
        do {
            return finish(try control(request), route: nil, requestID: requestID)
        } catch {
            return finish(errorResponse(error, requestID: requestID), route: nil, requestID: requestID)
        }
    }

    private func control(_ request: Request) throws(AnthropicEmulatorError) -> Response {
        let s = request.pathSegments.map(String.init)
        guard s.count >= 2, s[0] == "_emulator" else { throw .notFound("no route for this path") }
        let methodNotAllowed = AnthropicEmulatorError.api(AnthropicAPIFailure(status: 405, type: "invalid_request_error",
                                                                              message: "method not allowed"))
        switch (s[1], s.count, request.method) {
        case ("sessions", 2, .POST):
            return json(try createSessionFromControl(request))
        case ("sessions", 2, .GET):
            let all = state.withLock { st in st.sessions.values.sorted { $0.createdAt < $1.createdAt }.map(\.json) }
            return json(.object([("data", .array(all))]))
        case ("sessions", 3, .GET):
            guard let session = state.withLock({ $0.sessions[s[2]] }) else { throw .notFound("session not found") }
            return json(session.controlJSON)
        case ("sessions", 4, .POST) where s[3] == "webhooks":
            guard state.withLock({ $0.sessions[s[2]] != nil }) else { throw .notFound("session not found") }
            let body = try Self.jsonBody(request, allowEmpty: true) ?? .object([])
            let type = try Self.optionalString(body, "type") ?? "session.status_run_started"
            guard !type.isEmpty else { throw .invalidRequest("type must not be empty") }
            return json(.object([("webhook_id", .optionalString(deliverWebhook(eventType: type, sessionID: s[2])))]))
        case ("sessions", 4, .POST) where s[3] == "runs":
            let body = try Self.jsonBody(request, allowEmpty: true) ?? .object([])
            let calls = try Self.toolCalls(body)
            let endText = try Self.optionalString(body, "end") ?? "terminate"
            guard let end = AnthropicSessionEnd(rawValue: endText) else { throw .invalidRequest("end must be terminate or idle") }
            let workID = try startRun(sessionID: s[2], toolCalls: calls, end: end)
            return json(.object([("session_id", .string(s[2])), ("work_id", .string(workID))]))
        case ("work", 2, .POST):
            let body = try Self.jsonBody(request, allowEmpty: true) ?? .object([])
            guard (body["type"]?.stringValue ?? "healthcheck") == "healthcheck" else {
                throw .invalidRequest("type must be healthcheck (sessions are created through /_emulator/sessions)")
            }
            let id = try enqueueHealthcheck(environmentID: try Self.optionalString(body, "environment_id"),
                                            metadata: try Self.stringMap(body, "metadata") ?? [:])
            return json(.object([("work_id", .string(id))]))
        case ("work", 2, .GET):
            let all = state.withLock { st in
                st.items.values.sorted { ($0.createdDate, $0.id) < ($1.createdDate, $1.id) }.map(\.controlJSON)
            }
            return json(.object([("data", .array(all))]))
        case ("work", 3, .GET):
            guard let item = state.withLock({ $0.items[s[2]] }) else { throw .notFound("work item not found") }
            return json(item.controlJSON)
        case ("faults", 2, _):
            switch faults.control(request) {
            case .success(let answer):
                if request.method == .POST, let plan = faults.current {
                    logger.info("anthropic.emulator.faults.set", metadata: ["faults.routes": "\(plan.routes.joined(separator: ","))"])
                } else if request.method == .DELETE {
                    logger.info("anthropic.emulator.faults.cleared")
                }
                return json(answer)
            case .failure(let e):
                throw .invalidRequest(e.message)
            case nil:
                throw methodNotAllowed
            }
        case ("environments", 4, .POST) where s[3] == "revoke" || s[3] == "restore":
            let revoked = s[3] == "revoke"
            try state.withLock { st throws(AnthropicEmulatorError) in try st.setKeyRevoked(environmentID: s[2], revoked) }
            logger.info("anthropic.emulator.environment_key", metadata: ["environment.id": "\(s[2])", "key.revoked": "\(revoked)"])
            return json(.object([("environment_id", .string(s[2])), ("revoked", .bool(revoked))]))
        case ("webhooks", 2, .GET):
            return json(.object([("data", .array(webhooks.attempts.map(\.json)))]))
        case ("sessions", 4, _) where s[3] == "webhooks" || s[3] == "runs":
            throw methodNotAllowed
        case ("sessions", 2, _), ("sessions", 3, _), ("work", 2, _), ("work", 3, _), ("webhooks", 2, _):
            throw methodNotAllowed
        default:
            throw .notFound("no route for this path")
        }
    }

    private func createSessionFromControl(_ request: Request) throws(AnthropicEmulatorError) -> JSONValue {
        let body = try Self.jsonBody(request, allowEmpty: true) ?? .object([])
        let metadata = try Self.stringMap(body, "metadata") ?? [:]
        guard metadata.count <= Self.maximumMetadataPairs,
              metadata.allSatisfy({ $0.key.count <= Self.maximumMetadataKeyLength && $0.value.count <= Self.maximumMetadataValueLength })
        else {
            throw .invalidRequest("metadata allows at most \(Self.maximumMetadataPairs) pairs, keys up to \(Self.maximumMetadataKeyLength) and values up to \(Self.maximumMetadataValueLength) characters")
        }
        let calls = try Self.toolCalls(body)
        let endText = try Self.optionalString(body, "end") ?? "terminate"
        guard let end = AnthropicSessionEnd(rawValue: endText) else { throw .invalidRequest("end must be terminate or idle") }
        let created = try createSession(environmentID: try Self.optionalString(body, "environment_id"), metadata: metadata,
                                        toolCalls: calls, end: end, workMetadata: try Self.stringMap(body, "work_metadata") ?? [:],
                                        dataMetadata: try Self.stringMap(body, "data_metadata"),
                                        workSecret: try Self.optionalBool(body, "work_secret") ?? true)
        return .object([("session_id", .string(created.sessionID)), ("work_id", .string(created.workID))])
    }

    /// The `tool_calls` array of a control request (absent → none).
    static func toolCalls(_ body: JSONValue) throws(AnthropicEmulatorError) -> [AnthropicScriptedToolCall] {
        var calls: [AnthropicScriptedToolCall] = []
        if let raw = body["tool_calls"], !raw.isNull {
            guard let list = raw.arrayValue else { throw .invalidRequest("tool_calls must be an array") }
            for entry in list {
                guard let name = entry["name"]?.stringValue, !name.isEmpty else { throw .invalidRequest("every tool call needs a name") }
                let input = entry["input"] ?? .object([])
                guard input.objectValue != nil else { throw .invalidRequest("tool call input must be an object") }
                let permission = try Self.optionalString(entry, "evaluated_permission") ?? "allow"
                guard ["allow", "ask", "deny"].contains(permission) else {
                    throw .invalidRequest("evaluated_permission must be allow, ask or deny")
                }
                calls.append(AnthropicScriptedToolCall(name: name, input: input, evaluatedPermission: permission))
            }
        }
        return calls
    }

    static func optionalString(_ body: JSONValue, _ key: String) throws(AnthropicEmulatorError) -> String? {
        guard let v = body[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw .invalidRequest("\(key) must be a string") }
        return s
    }

    static func optionalBool(_ body: JSONValue, _ key: String) throws(AnthropicEmulatorError) -> Bool? {
        guard let v = body[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw .invalidRequest("\(key) must be true or false") }
        return b
    }

    static func stringMap(_ body: JSONValue, _ key: String) throws(AnthropicEmulatorError) -> [String: String]? {
        guard let v = body[key], !v.isNull else { return nil }
        guard let members = v.objectValue else { throw .invalidRequest("\(key) must be an object of strings") }
        var map: [String: String] = [:]
        for (k, value) in members {
            guard let s = value.stringValue else { throw .invalidRequest("\(key) values must be strings") }
            map[k] = s
        }
        return map
    }
}
