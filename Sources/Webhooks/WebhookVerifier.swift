/// A verified delivery: the dedupe key (`webhook-id`, rule 41) and its timestamp.
public struct VerifiedDelivery: Sendable, Equatable {
    public let webhookID: String
    public let timestamp: Int64

    public init(webhookID: String, timestamp: Int64) {
        self.webhookID = webhookID
        self.timestamp = timestamp
    }
}

/// Standard Webhooks v1 verification on raw bytes (anthropic.md §7.2, rule 38).
/// A pure function of body, headers, configured keys and `now`.
///
/// Deliberately stricter than standardwebhooks 1.1.0 in two places:
/// - the timestamp must be an integer number of seconds (the library accepts a
///   float and signs its floor); a float or non-numeric value is rejected;
/// - any malformed signature entry rejects the header, wherever it stands
///   (the library only trips over malformed entries before the matching one).
public struct WebhookVerifier: Sendable {
    /// Allowed clock difference either way (§7.2 step 3).
    public static let tolerance: Int64 = 300

    private let secrets: [HMACSHA256.Key]

    /// `secrets`: one or more `whsec_…` keys; several during rotation.
    public init(secrets: [String]) throws(WebhookError) {
        guard !secrets.isEmpty else { throw .invalidSecret }
        var decoded: [HMACSHA256.Key] = []
        for secret in secrets { decoded.append(HMACSHA256.Key(try WebhookSecret(secret).key)) }
        self.secrets = decoded
    }

    /// `header` looks a request header up by name. It is called with the lowercase
    /// names; callers pass a case-insensitive lookup (HTTPHeaders is one), and
    /// `verify(body:headers:now:)` does it for a plain dictionary.
    public func verify(body: [UInt8], header: (String) -> String?, now: Int64) -> Result<VerifiedDelivery, WebhookError> {
        // Step 2: all three headers present and non-empty.
        guard let id = header("webhook-id"), !id.isEmpty else { return .failure(.missingHeader("webhook-id")) }
        guard let timestampText = header("webhook-timestamp"), !timestampText.isEmpty else {
            return .failure(.missingHeader("webhook-timestamp"))
        }
        guard let signatureHeader = header("webhook-signature"), !signatureHeader.isEmpty else {
            return .failure(.missingHeader("webhook-signature"))
        }
        // Step 3: integer seconds within ±300 s.
        guard let timestamp = Self.parseTimestamp(timestampText) else { return .failure(.invalidTimestamp) }
        let (difference, overflow) = now.subtractingReportingOverflow(timestamp)
        guard !overflow, difference <= Self.tolerance, difference >= -Self.tolerance else {
            return .failure(.timestampOutOfWindow)
        }
        // Step 6 (parsing first): every entry must be well formed.
        let candidates: [[UInt8]]
        switch Self.parseSignatures(signatureHeader) {
        case .failure(let error): return .failure(error)
        case .success(let list): candidates = list
        }
        guard !candidates.isEmpty else { return .failure(.noMatchingSignature) }
        // Steps 4–5: MAC over `id.timestamp.body` with each key; constant-time compare.
        let message = Self.signedBytes(id: id, timestamp: timestamp, body: body)
        var matched = false
        for secret in secrets {
            let expected = secret.mac(message)
            for candidate in candidates where HMACSHA256.equal(expected, candidate) {
                matched = true
            }
        }
        guard matched else { return .failure(.noMatchingSignature) }
        return .success(VerifiedDelivery(webhookID: id, timestamp: timestamp))
    }

    /// Convenience for a plain dictionary: names are matched case-insensitively.
    public func verify(body: [UInt8], headers: [String: String], now: Int64) -> Result<VerifiedDelivery, WebhookError> {
        verify(body: body, header: { name in
            headers.first { $0.key.lowercased() == name }?.value
        }, now: now)
    }

    /// ASCII digits only (at most 18, so it fits Int64): no sign, no fraction, no
    /// exponent, no spaces.
    static func parseTimestamp(_ text: String) -> Int64? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 18, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int64(text)
    }

    /// Space-separated `version,signature` entries. Returns the decoded `v1`
    /// signatures, or `.malformedSignature` if any entry is malformed.
    static func parseSignatures(_ header: String) -> Result<[[UInt8]], WebhookError> {
        // On the UTF-8 bytes: the grammar is ASCII, and Character-based splitting
        // costs more than the HMAC itself.
        var v1: [[UInt8]] = []
        let bytes = Array(header.utf8)
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: " ") { end += 1 }
            let entry = bytes[start..<end]
            guard let comma = entry.firstIndex(of: UInt8(ascii: ",")), comma > entry.startIndex,
                  entry[(comma + 1)...].firstIndex(of: UInt8(ascii: ",")) == nil else {
                return .failure(.malformedSignature)
            }
            if entry[entry.startIndex..<comma].elementsEqual("v1".utf8) {
                guard let signature = Base64.decode(entry[(comma + 1)...], requirePadding: true),
                      signature.count == HMACSHA256.byteCount else {
                    return .failure(.malformedSignature)
                }
                v1.append(signature)
            }
            start = end + 1
        }
        return .success(v1)
    }

    /// `{id}.{timestamp}.{body}` with the body exactly as received (step 4). The
    /// timestamp is the parsed integer, as the library signs it.
    static func signedBytes(id: String, timestamp: Int64, body: [UInt8]) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(id.utf8.count + 21 + body.count)
        message += id.utf8
        message.append(UInt8(ascii: "."))
        message += String(timestamp).utf8
        message.append(UInt8(ascii: "."))
        message += body
        return message
    }
}
