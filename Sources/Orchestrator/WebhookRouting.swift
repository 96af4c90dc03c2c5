import Webhooks

/// Which environments a verified delivery drains. A delivery names no environment
/// (rule 42: `session.status_run_started` carries a session id only), so the key that
/// signed it decides: every environment whose `webhook_signing_keys` (or the file's
/// top-level list) include that key is drained. One key may serve several
/// environments (one webhook endpoint for the whole organisation); an environment
/// with keys of its own is drained only by those.
///
/// The keys of all environments are verified by one `WebhookVerifier` holding each
/// distinct key once, so a key shared by several environments costs one HMAC per
/// delivery, not one per environment. A pure value: built at start, read per delivery.
public struct WebhookRouting: Sendable {
    /// Most environments one process serves: each is a bit of the drain mask.
    public static let maximumEnvironments = 64

    let verifier: WebhookVerifier
    /// Bit `e` of `environmentMasks[k]`: distinct key `k` drains environment `e`.
    let environmentMasks: [UInt64]
    /// Number of distinct keys (the verifier's).
    public let distinctKeys: Int

    /// `keysByEnvironment[e]`: the signing keys of environment `e`, in configuration
    /// order. Keys are compared without the optional `whsec_` prefix and base64
    /// padding, the forms verification treats alike.
    public init(keysByEnvironment: [[String]]) throws(Configuration.Error) {
        guard keysByEnvironment.count <= Self.maximumEnvironments else {
            throw Configuration.Error("environments", "one process serves at most \(Self.maximumEnvironments) environments")
        }
        var distinct: [String] = []
        var index: [String: Int] = [:]
        var masks: [UInt64] = []
        for (environment, keys) in keysByEnvironment.enumerated() {
            guard !keys.isEmpty else {
                throw Configuration.Error("ANTHROPIC_WEBHOOK_SIGNING_KEY", "is required for serve (whsec_…) for every environment")
            }
            for key in keys {
                let normalized = Self.normalized(key)
                let k: Int
                if let known = index[normalized] {
                    k = known
                } else {
                    k = distinct.count
                    index[normalized] = k
                    distinct.append(key)
                    masks.append(0)
                }
                masks[k] |= 1 << UInt64(environment)
            }
        }
        guard distinct.count <= WebhookVerifier.maximumMatchedKeys else {
            throw Configuration.Error("webhook_signing_keys", "at most \(WebhookVerifier.maximumMatchedKeys) distinct keys across all environments")
        }
        do { verifier = try WebhookVerifier(secrets: distinct) } catch {
            throw Configuration.Error("ANTHROPIC_WEBHOOK_SIGNING_KEY", "is not a valid whsec_ key")
        }
        environmentMasks = masks
        distinctKeys = distinct.count
    }

    /// One environment verified by `verifier`: every key drains it.
    public init(verifier: WebhookVerifier) {
        self.verifier = verifier
        environmentMasks = Array(repeating: 1, count: WebhookVerifier.maximumMatchedKeys)
        distinctKeys = 0
    }

    /// The environments (bit `e` = environment `e`) that the matched keys (bit `k` =
    /// distinct key `k`, as `WebhookVerifier.verifyMatching` reports) drain.
    func environments(matching keys: UInt64) -> UInt64 {
        var result: UInt64 = 0
        var rest = keys
        while rest != 0 {
            let k = rest.trailingZeroBitCount
            if k < environmentMasks.count { result |= environmentMasks[k] }
            rest &= rest - 1
        }
        return result
    }

    static func normalized(_ key: String) -> String {
        var text = Substring(key)
        if text.hasPrefix("whsec_") { text = text.dropFirst(6) }
        while text.hasSuffix("=") { text = text.dropLast() }
        return String(text)
    }
}
