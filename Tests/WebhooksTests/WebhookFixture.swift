@testable import Webhooks

/// The worked example of anthropic.md §7.3; each test mutates one field of it.
struct WebhookFixture {
    static let secretA = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="   // bytes 00…1f
    static let secretB = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="   // bytes 20…3f
    static let signatureA = "v1,VWUahs9PhmW68UssxS7SrSyPIGNJtTEJ7CrIoC8geic="
    static let signatureB = "v1,2y0IKUMNXL98nJSMi34RkQYgLVftoqArhOSoCe4XQcY="
    static let id = "msg_2test0000000000000000000000"
    static let timestamp: Int64 = 1_793_534_400
    static let bodyText = #"{"type":"event","id":"wevt_01","created_at":"2026-11-01T12:00:00Z","data":{"type":"session.status_run_started","id":"sesn_01ABC","organization_id":"org_01","workspace_id":"wrkspc_01"}}"#
    static var body: [UInt8] { Array(bodyText.utf8) }

    var headers: [String: String] = [
        "webhook-id": WebhookFixture.id,
        "webhook-timestamp": String(WebhookFixture.timestamp),
        "webhook-signature": WebhookFixture.signatureA,
    ]
    var body: [UInt8] = WebhookFixture.body
    /// Pinned on a whole second (§7.2 step 3).
    var now: Int64 = WebhookFixture.timestamp

    func verify(secrets: [String] = [WebhookFixture.secretA]) throws -> Result<VerifiedDelivery, WebhookError> {
        try WebhookVerifier(secrets: secrets).verify(body: body, headers: headers, now: now)
    }
}
