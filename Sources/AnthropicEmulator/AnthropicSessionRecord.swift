import Foundation
import JSON

/// A tool call the scripted agent emits (anthropic.md §8.1).
public struct AnthropicScriptedToolCall: Sendable, Equatable {
    public var name: String
    public var input: JSONValue
    /// `allow` (default), `ask` or `deny` (§8 step 5).
    public var evaluatedPermission: String

    public init(name: String, input: JSONValue, evaluatedPermission: String = "allow") {
        self.name = name
        self.input = input
        self.evaluatedPermission = evaluatedPermission
    }
}

/// How a scripted session ends once every tool call has its result (§8.1).
public enum AnthropicSessionEnd: String, Sendable, Equatable {
    /// `session.status_terminated`: the runner tears down at once.
    case terminate
    /// `session.status_idle` with `stop_reason` `end_turn`: the runner ends after `max_idle`.
    case idle
}

/// A managed-agents session as the emulator scripts it.
public struct AnthropicSessionRecord: Sendable {
    public let id: String
    public let environmentID: String
    /// The current run's work item (a new run enqueues a new one).
    public var workID: String
    /// `running`, `idle` or `terminated` (§8).
    public var status = "running"
    public var metadata: [String: String]
    /// The sessions token this session's work secret carries; never logged or shown.
    let token: String
    public let createdAt: String
    /// Every event in order: emitted by the script and posted by clients.
    public var events: [JSONValue] = []
    /// Calls not emitted yet, in order.
    public var script: [AnthropicScriptedToolCall]
    /// The emitted `agent.tool_use` whose result the script waits for.
    public var awaitingToolUseID: String?
    public var end: AnthropicSessionEnd

    public var isTerminated: Bool { status == "terminated" }

    /// `GET /v1/sessions/{id}`: only `status`, `resources` and `agent.skills` are read
    /// by the runner (§8 minimal table); no skills or memory, so no further calls.
    var json: JSONValue {
        .object([
            ("type", .string("session")),
            ("id", .string(id)),
            ("status", .string(status)),
            ("environment_id", .string(environmentID)),
            ("metadata", .stringMap(metadata)),
            ("created_at", .string(createdAt)),
            ("resources", .array([])),
            ("agent", .object([("skills", .array([]))])),
        ])
    }

    /// The control-surface view: the session plus its full event list and work id.
    var controlJSON: JSONValue {
        var j = json
        j.set("work_id", .string(workID))
        j.set("end", .string(end.rawValue))
        j.set("pending_tool_calls", .int(script.count + (awaitingToolUseID == nil ? 0 : 1)))
        j.set("events", .array(events))
        return j
    }
}
