/// Produces Standard Webhooks v1 signatures (`v1,<base64>`), for the Anthropic
/// emulator's webhook sender and for tests.
public enum WebhookSigner {
    public static func signature(secret: String, id: String, timestamp: Int64, body: [UInt8]) throws(WebhookError) -> String {
        let key = try WebhookSecret(secret)
        let mac = HMACSHA256.mac(key: key.key, message: WebhookVerifier.signedBytes(id: id, timestamp: timestamp, body: body))
        return "v1," + Base64.encode(mac)
    }
}
