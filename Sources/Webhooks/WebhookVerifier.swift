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
        func bytes<R>(_ text: String?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard var text else { return body(nil) }
            return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        }
        return bytes(header("webhook-id")) { id in
            bytes(header("webhook-timestamp")) { timestamp in
                bytes(header("webhook-signature")) { signature in
                    verify(body: body, id: id, timestamp: timestamp, signature: signature, now: now)
                }
            }
        }
    }

    /// The same on the raw header values (nil when a header is absent), for callers that
    /// hold the bytes: the server's route verifies without making a String of them.
    public func verify(body: [UInt8], id: UnsafeRawBufferPointer?, timestamp timestampBytes: UnsafeRawBufferPointer?,
                       signature: UnsafeRawBufferPointer?, now: Int64) -> Result<VerifiedDelivery, WebhookError> {
        verifyMatching(body: body, id: id, timestamp: timestampBytes, signature: signature, now: now).map(\.delivery)
    }

    /// The most keys `verifyMatching` can name (bits of its mask).
    public static let maximumMatchedKeys = 64

    /// `verify`, also naming which of the keys matched: bit `i` of `keys` is set when
    /// the `i`-th key of `init(secrets:)` (the first 64) signed one of the signatures.
    /// Each key's MAC is computed once, as in `verify`.
    public func verifyMatching(body: [UInt8], id: UnsafeRawBufferPointer?, timestamp timestampBytes: UnsafeRawBufferPointer?,
                               signature: UnsafeRawBufferPointer?, now: Int64)
        -> Result<(delivery: VerifiedDelivery, keys: UInt64), WebhookError> {
        // Step 2: all three headers present and non-empty.
        guard let id, !id.isEmpty else { return .failure(.missingHeader("webhook-id")) }
        guard let timestampBytes, !timestampBytes.isEmpty else { return .failure(.missingHeader("webhook-timestamp")) }
        guard let signature, !signature.isEmpty else { return .failure(.missingHeader("webhook-signature")) }
        // Step 3: integer seconds within ±300 s.
        guard let timestamp = Self.parseTimestamp(timestampBytes) else { return .failure(.invalidTimestamp) }
        let (difference, overflow) = now.subtractingReportingOverflow(timestamp)
        guard !overflow, difference <= Self.tolerance, difference >= -Self.tolerance else {
            return .failure(.timestampOutOfWindow)
        }
        // Step 6 (parsing first): every entry must be well formed. The decoded v1
        // signatures go to a scratch buffer (on the stack for any usual header).
        let most = Self.signatureRoom(signature.count)
        let matched: Result<UInt64, WebhookError> = withUnsafeTemporaryAllocation(
            of: UInt8.self, capacity: (most + 1) * HMACSHA256.byteCount
        ) { scratch in
            let expected = UnsafeMutableBufferPointer(rebasing: scratch[0..<HMACSHA256.byteCount])
            let candidates = UnsafeMutableBufferPointer(rebasing: scratch[HMACSHA256.byteCount...])
            let count: Int
            switch Self.parseSignatures(signature, into: candidates) {
            case .failure(let error): return .failure(error)
            case .success(let n): count = n
            }
            guard count > 0 else { return .success(0) }
            // Steps 4–5: MAC over `id.timestamp.body` with each key; constant-time
            // compare. The body is hashed where it lies; only the short head is built.
            return .success(Self.withSignedHead(id: id, timestamp: timestamp) { head in
                body.withUnsafeBytes { body in
                    var matched: UInt64 = 0
                    for (index, secret) in secrets.enumerated() {
                        secret.mac(head, body, into: expected)
                        for k in 0..<count {
                            let candidate = UnsafeBufferPointer(rebasing: candidates[(k * HMACSHA256.byteCount)...].prefix(HMACSHA256.byteCount))
                            if HMACSHA256.equal(UnsafeBufferPointer(expected), candidate) {
                                // Past 64 keys a match still verifies; it just has no bit of its own.
                                matched |= index < Self.maximumMatchedKeys ? 1 << UInt64(index) : 1 << 63
                            }
                        }
                    }
                    return matched
                }
            })
        }
        switch matched {
        case .failure(let error): return .failure(error)
        case .success(0): return .failure(.noMatchingSignature)
        case .success(let keys):
            return .success((VerifiedDelivery(webhookID: String(decoding: id, as: UTF8.self), timestamp: timestamp), keys))
        }
    }

    /// Convenience for a plain dictionary: names are matched case-insensitively.
    public func verify(body: [UInt8], headers: [String: String], now: Int64) -> Result<VerifiedDelivery, WebhookError> {
        verify(body: body, header: { name in
            headers.first { $0.key.lowercased() == name }?.value
        }, now: now)
    }

    /// ASCII digits only (at most 18, so it fits Int64): no sign, no fraction, no
    /// exponent, no spaces.
    static func parseTimestamp(_ text: UnsafeRawBufferPointer) -> Int64? {
        guard !text.isEmpty, text.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in text {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)   // at most 18 digits: no overflow
        }
        return value
    }

    /// How many decoded signatures a header of `count` bytes can hold: a `v1` entry that
    /// decodes is `v1,` and 44 base64 characters, then a space.
    static func signatureRoom(_ count: Int) -> Int { (count + 1) / 48 + 1 }

    /// Space-separated `version,signature` entries. Writes the decoded `v1` signatures
    /// one after another into `out` (room for `signatureRoom` of them) and returns
    /// how many, or `.malformedSignature` if any entry is malformed.
    static func parseSignatures(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) -> Result<Int, WebhookError> {
        var count = 0
        var start = 0
        while start <= bytes.count {
            // One pass to the next space, noting the commas: exactly one, not first.
            var end = start
            var comma = -1
            var commas = 0
            while end < bytes.count {
                let b = bytes[end]
                if b == UInt8(ascii: " ") { break }
                if b == UInt8(ascii: ",") { commas += 1; comma = end }
                end += 1
            }
            guard commas == 1, comma > start else { return .failure(.malformedSignature) }
            if comma - start == 2, bytes[start] == UInt8(ascii: "v"), bytes[start + 1] == UInt8(ascii: "1") {
                let slot = out.baseAddress! + count * HMACSHA256.byteCount
                guard Base64.decodeDigest(UnsafeRawBufferPointer(rebasing: bytes[(comma + 1)..<end]), into: slot) else {
                    return .failure(.malformedSignature)
                }
                count += 1
            }
            start = end + 1
        }
        return .success(count)
    }

    /// Calls `body` with `{id}.{timestamp}.`, what the body follows in the signed
    /// content, built in a scratch buffer.
    static func withSignedHead<R>(id: UnsafeRawBufferPointer, timestamp: Int64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: id.count + 22, alignment: 1) { head in
            head.copyMemory(from: id)
            var n = id.count
            head[n] = UInt8(ascii: "."); n += 1
            if timestamp < 0 { head[n] = UInt8(ascii: "-"); n += 1 }
            var digits = 0, rest = timestamp.magnitude
            repeat { digits += 1; rest /= 10 } while rest > 0
            rest = timestamp.magnitude
            for k in stride(from: n + digits - 1, through: n, by: -1) {
                head[k] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            n += digits
            head[n] = UInt8(ascii: "."); n += 1
            return body(UnsafeRawBufferPointer(rebasing: head[0..<n]))
        }
    }

    /// `{id}.{timestamp}.` as an array.
    static func signedHead(id: String, timestamp: Int64) -> [UInt8] {
        var id = id
        return id.withUTF8 { id in withSignedHead(id: UnsafeRawBufferPointer(id), timestamp: timestamp) { Array($0) } }
    }

    /// `{id}.{timestamp}.{body}` with the body exactly as received (step 4). The
    /// timestamp is the parsed integer, as the library signs it.
    static func signedBytes(id: String, timestamp: Int64, body: [UInt8]) -> [UInt8] {
        signedHead(id: id, timestamp: timestamp) + body
    }
}
