import APIClient
import Foundation
import JSON
import Webhooks

/// `cma-orchestrator trigger`: one signed test delivery, shaped like Anthropic's
/// (anthropic.md §7), for users checking their endpoint.
public enum WebhookTrigger {
    public struct Result: Sendable {
        public var webhookID: String
        public var status: Int
        public var body: String
    }

    public static func send(url: URL, signingKey: String, type: String, sessionID: String,
                            transport: any HTTPTransport = URLSessionTransport()) async throws -> Result {
        let now = Date()
        let webhookID = "msg_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = UTCTimestamp.format(now)
        let event = "wevt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
        let body = #"{"type":"event","id":"# + JSONEscape.quoted(event) + #","created_at":"# + JSONEscape.quoted(created)
            + #","data":{"type":"# + JSONEscape.quoted(type) + #","id":"# + JSONEscape.quoted(sessionID)
            + #","organization_id":"org_trigger","workspace_id":"wrkspc_trigger"}}"#
        let timestamp = Int64(now.timeIntervalSince1970)
        let signature = try WebhookSigner.signature(secret: signingKey, id: webhookID, timestamp: timestamp,
                                                    body: Array(body.utf8))
        let response = try await transport.send(OutboundRequest(
            method: "POST", url: url,
            headers: [("Content-Type", "application/json"), ("webhook-id", webhookID),
                      ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature),
                      ("User-Agent", "cma-orchestrator-trigger")],
            body: Data(body.utf8), timeout: .seconds(10)))
        return Result(webhookID: webhookID, status: response.status, body: String(decoding: response.body, as: UTF8.self))
    }
}
