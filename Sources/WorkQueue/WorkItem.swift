import Foundation

/// A work item as polled (anthropic.md §3), decoded leniently: only a non-empty
/// string `id` is required; everything else has a default. The raw `secret` is
/// kept for the launcher (rule 26) but never printed: `description`,
/// `debugDescription` and the mirror redact it.
public struct WorkItem: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let id: String
    public let environmentID: String
    public let state: String
    /// `work.metadata`, string values only (rule 11, first place).
    public let metadata: [String: String]
    /// Raw `secret`; NEVER log it.
    public let secret: String?
    /// `data.type` (`session`, `healthcheck`, …); `""` when absent.
    public let dataType: String
    /// `data.id`, the session id for session items.
    public let sessionID: String?
    /// `work.data.metadata` if the server sends it (rule 11, second place).
    public let dataMetadata: [String: String]?

    public init(id: String, environmentID: String, state: String, metadata: [String: String], secret: String?,
                dataType: String, sessionID: String?, dataMetadata: [String: String]?) {
        self.id = id
        self.environmentID = environmentID
        self.state = state
        self.metadata = metadata
        self.secret = secret
        self.dataType = dataType
        self.sessionID = sessionID
        self.dataMetadata = dataMetadata
    }

    /// anthropic.md §3.1: the secret is base64 (either alphabet, padding optional)
    /// of a JSON object with a non-empty `sessions_token`. Nil when it does not decode.
    public var sessionsToken: String? {
        guard let secret else { return nil }
        return Self.sessionsToken(fromSecret: secret)
    }

    static func sessionsToken(fromSecret secret: String) -> String? {
        var text = secret.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while text.hasSuffix("=") { text.removeLast() }
        guard !text.isEmpty, text.count % 4 != 1 else { return nil }
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = object["sessions_token"] as? String, !token.isEmpty else {
            return nil
        }
        return token
    }

    /// Decodes a poll body. Nil means "no work" (rule 4): empty body, `null`, `{}`,
    /// any object without a non-empty string `id`, or anything that is not an object.
    static func decodePoll(_ body: Data) -> WorkItem? {
        let trimmed = body.drop { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }
        guard !trimmed.isEmpty,
              let object = try? JSONSerialization.jsonObject(with: Data(trimmed), options: [.fragmentsAllowed]) as? [String: Any] else {
            return nil
        }
        return decode(object)
    }

    static func decode(_ object: [String: Any]) -> WorkItem? {
        guard let id = object["id"] as? String, !id.isEmpty else { return nil }
        let data = object["data"] as? [String: Any] ?? [:]
        return WorkItem(
            id: id,
            environmentID: object["environment_id"] as? String ?? "",
            state: object["state"] as? String ?? "",
            metadata: stringMap(object["metadata"]) ?? [:],
            secret: object["secret"] as? String,
            dataType: data["type"] as? String ?? "",
            sessionID: data["id"] as? String,
            dataMetadata: stringMap(data["metadata"]))
    }

    /// String values only; other value types are dropped (metadata is string→string).
    static func stringMap(_ value: Any?) -> [String: String]? {
        guard let dictionary = value as? [String: Any] else { return nil }
        var out: [String: String] = [:]
        for (key, value) in dictionary { if let text = value as? String { out[key] = text } }
        return out
    }

    public var description: String {
        "WorkItem(id: \(id), environmentID: \(environmentID), state: \(state), dataType: \(dataType), sessionID: \(sessionID ?? "nil"), secret: \(secret == nil ? "nil" : "<redacted>"))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "id": id, "environmentID": environmentID, "state": state, "metadata": metadata,
            "secret": secret == nil ? "nil" : "<redacted>", "dataType": dataType,
            "sessionID": sessionID as Any, "dataMetadata": dataMetadata as Any,
        ], displayStyle: .struct)
    }
}

/// `GET /v1/sessions/{id}` as the orchestrator needs it (rule 11, third place).
public struct SessionInfo: Sendable, Equatable {
    public let id: String
    public let status: String
    public let metadata: [String: String]

    public init(id: String, status: String, metadata: [String: String]) {
        self.id = id
        self.status = status
        self.metadata = metadata
    }
}

/// The heartbeat answer (anthropic.md §2.3). The orchestrator itself never
/// heartbeats handed-off items (rule 9); this exists for completeness and tools.
public struct HeartbeatResult: Sendable, Equatable {
    public let lastHeartbeat: String
    public let leaseExtended: Bool
    public let state: String
    public let ttlSeconds: Int?
}

/// Outcome of a stop: 409 means someone stopped it first, which is success (rule 33).
public enum StopOutcome: Sendable, Equatable {
    case stopped
    case alreadyStopped
}
