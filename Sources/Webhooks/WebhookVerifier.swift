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
        // The body is hashed where it lies; only the short head is assembled.
        let head = Self.signedHead(id: id, timestamp: timestamp)
        var matched = false
        for secret in secrets {
            let expected = secret.mac(head[...], body[...])
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
        guard !utf8.isEmpty, utf8.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in utf8 {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)   // at most 18 digits: no overflow
        }
        return value
    }

    /// Space-separated `version,signature` entries. Returns the decoded `v1`
    /// signatures, or `.malformedSignature` if any entry is malformed.
    static func parseSignatures(_ header: String) -> Result<[[UInt8]], WebhookError> {
        // On the UTF-8 bytes: the grammar is ASCII, and Character-based splitting
        // costs more than the HMAC itself.
        if let result = header.utf8.withContiguousStorageIfAvailable(parseSignatures(bytes:)) { return result }
        return parseSignatures(bytes: Array(header.utf8)[...])
    }

    private static func parseSignatures<Bytes: RandomAccessCollection<UInt8>>(bytes: Bytes) -> Result<[[UInt8]], WebhookError>
    where Bytes.Index == Int {
        var v1: [[UInt8]] = []
        var start = bytes.startIndex
        while start <= bytes.endIndex {
            var end = start
            while end < bytes.endIndex, bytes[end] != UInt8(ascii: " ") { end += 1 }
            let entry = bytes[start..<end]
            guard let comma = entry.firstIndex(of: UInt8(ascii: ",")), comma > entry.startIndex,
                  entry[(comma + 1)...].firstIndex(of: UInt8(ascii: ",")) == nil else {
                return .failure(.malformedSignature)
            }
            if comma - start == 2, entry[start] == UInt8(ascii: "v"), entry[start + 1] == UInt8(ascii: "1") {
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

    /// `{id}.{timestamp}.`: what the body follows in the signed content.
    static func signedHead(id: String, timestamp: Int64) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(id.utf8.count + 22)
        head += id.utf8
        head.append(UInt8(ascii: "."))
        if timestamp < 0 { head.append(UInt8(ascii: "-")) }
        let digitsStart = head.count
        var rest = timestamp.magnitude
        repeat {
            head.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        head[digitsStart...].reverse()
        head.append(UInt8(ascii: "."))
        return head
    }

    /// `{id}.{timestamp}.{body}` with the body exactly as received (step 4). The
    /// timestamp is the parsed integer, as the library signs it.
    static func signedBytes(id: String, timestamp: Int64, body: [UInt8]) -> [UInt8] {
        signedHead(id: id, timestamp: timestamp) + body
    }
}
