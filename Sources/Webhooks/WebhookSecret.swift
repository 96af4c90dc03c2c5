/// A decoded Standard Webhooks signing key (§7.2 step 1). Holds key bytes only;
/// never printed.
struct WebhookSecret: Sendable, CustomStringConvertible {
    let key: [UInt8]

    init(_ text: String) throws(WebhookError) {
        var body = Substring(text)
        if body.hasPrefix("whsec_") { body = body.dropFirst("whsec_".count) }
        guard !body.isEmpty, let key = Base64.decode(body.utf8, requirePadding: false), !key.isEmpty else {
            throw .invalidSecret
        }
        self.key = key
    }

    var description: String { "WebhookSecret(redacted)" }
}
