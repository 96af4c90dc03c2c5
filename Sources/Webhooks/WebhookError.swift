/// Why a webhook was rejected. The HTTP layer answers every case with a bare 401
/// (rule 38). `description` is fixed text: it never carries the expected MAC, the
/// key, the received signature or any header value.
public enum WebhookError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// No secret configured, or a secret that is empty or not base64 (§7.2 step 1).
    case invalidSecret
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` missing or empty (step 2).
    case missingHeader(String)
    /// Timestamp not an integer number of Unix seconds (step 3; stricter than the library).
    case invalidTimestamp
    /// Timestamp more than 300 s away from now (step 3).
    case timestampOutOfWindow
    /// A signature entry without exactly one comma, or a `v1` entry that is not
    /// standard base64 of 32 bytes (step 6; stricter than the library).
    case malformedSignature
    /// No `v1` entry matched any configured key.
    case noMatchingSignature

    public var description: String {
        switch self {
        case .invalidSecret: "webhook signing secret is empty or not valid base64"
        case .missingHeader(let name): "webhook header \(name) is missing or empty"
        case .invalidTimestamp: "webhook-timestamp is not an integer number of seconds"
        case .timestampOutOfWindow: "webhook-timestamp is outside the 300 s tolerance"
        case .malformedSignature: "webhook-signature contains a malformed entry"
        case .noMatchingSignature: "no webhook signature matched"
        }
    }

    public var debugDescription: String { description }
}
