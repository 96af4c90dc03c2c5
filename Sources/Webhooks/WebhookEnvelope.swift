/// The event envelope (anthropic.md §7.4), read only after verification (§7.2
/// step 7). Unknown `data.type` values decode too: callers branch on the string.
public struct WebhookEnvelope: Sendable, Equatable {
    public let type: String
    public let id: String
    public let dataType: String
    /// `data.id`, the session id for session events.
    public let sessionID: String?

    public init(type: String, id: String, dataType: String, sessionID: String?) {
        self.type = type
        self.id = id
        self.dataType = dataType
        self.sessionID = sessionID
    }

    /// Nil when the body is not a JSON object with string `type`, `id` and `data.type`.
    public static func decode(_ body: [UInt8]) -> WebhookEnvelope? {
        EnvelopeReader.read(body)
    }
}
