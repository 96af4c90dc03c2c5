import Foundation
import JSON

/// Work item states in the SDK's vocabulary (anthropic.md §2.2; only these are emitted, §8.1).
public enum AnthropicWorkState: String, Sendable, Equatable {
    case queued, starting, active, stopping, stopped
}

/// One call the emulator answered for a work item (control surface `GET /_emulator/work/{id}`).
public struct AnthropicWorkCall: Sendable, Equatable {
    /// `poll`, `ack`, `heartbeat`, `stop`, `retrieve`, `update`.
    public var kind: String
    public var at: String
    public var status: Int
    /// True when the answer was an injected fault (the state was not touched).
    public var injected: Bool

    var json: JSONValue {
        .object([("call", .string(kind)), ("at", .string(at)), ("status", .int(status)), ("injected", .bool(injected))])
    }
}

/// An environment work item as the emulator stores it (anthropic.md §3).
public struct AnthropicWorkRecord: Sendable {
    public let id: String
    public let environmentID: String
    public var state: AnthropicWorkState = .queued
    public let createdDate: Date
    public let createdAt: String
    public var acknowledgedAt: String?
    public var startedAt: String?
    public var latestHeartbeatAt: String?
    public var stopRequestedAt: String?
    public var stoppedAt: String?
    /// Exactly the string last answered as `last_heartbeat`; compared byte for byte (§2.3).
    public var lastHeartbeat: String?
    public var ttlSeconds: Int
    public var metadata: [String: String]
    /// `data.type`: `session` or `healthcheck` (§3).
    public let dataType: String
    public let sessionID: String?
    /// Sent as `data.metadata` when set (orchestrator rule 11, second place; §11.9).
    public let dataMetadata: [String: String]?
    /// URL-safe base64 of `{"sessions_token":…}`; only ever put into poll answers (§3).
    let secret: String?
    public var calls: [AnthropicWorkCall] = []

    /// The wire object; `secret` is filled only for poll answers (§3).
    func json(includeSecret: Bool) -> JSONValue {
        var data: [(String, JSONValue)] = [("type", .string(dataType))]
        if let sessionID { data.append(("id", .string(sessionID))) }
        if let dataMetadata { data.append(("metadata", .stringMap(dataMetadata))) }
        return .object([
            ("type", .string("work")),
            ("id", .string(id)),
            ("environment_id", .string(environmentID)),
            ("state", .string(state.rawValue)),
            ("created_at", .string(createdAt)),
            ("acknowledged_at", .optionalString(acknowledgedAt)),
            ("started_at", .optionalString(startedAt)),
            ("latest_heartbeat_at", .optionalString(latestHeartbeatAt)),
            ("stop_requested_at", .optionalString(stopRequestedAt)),
            ("stopped_at", .optionalString(stoppedAt)),
            ("metadata", .stringMap(metadata)),
            ("secret", includeSecret ? .optionalString(secret) : .null),
            ("data", .object(data)),
        ])
    }

    /// The control-surface view: the wire object without the secret, plus the call history.
    var controlJSON: JSONValue {
        var j = json(includeSecret: false)
        j.set("last_heartbeat", .optionalString(lastHeartbeat))
        j.set("ttl_seconds", .int(ttlSeconds))
        j.set("calls", .array(calls.map(\.json)))
        return j
    }
}
