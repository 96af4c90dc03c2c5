import COpenSSL

/// HMAC-SHA256 on OpenSSL libcrypto's SHA-256, and constant-time comparison.
enum HMACSHA256 {
    static let byteCount = 32

    static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { out, count in
            message.withUnsafeBytes { Key(key).mac(UnsafeRawBufferPointer(start: nil, count: 0), $0, into: out) }
            count = byteCount
        }
    }

    /// A key prepared once: the SHA-256 states after its padded blocks (RFC 2104).
    /// The verifier computes one MAC per configured key on every delivery.
    final class Key: @unchecked Sendable {
        // Written in init only; every MAC copies the states it starts from.
        private let state: UnsafeMutablePointer<cma_hmac_sha256_key>

        init(_ key: [UInt8]) {
            state = .allocate(capacity: 1)
            key.withUnsafeBufferPointer { cma_hmac_sha256_prepare(state, $0.baseAddress, $0.count) }
        }

        deinit {
            OPENSSL_cleanse(state, MemoryLayout<cma_hmac_sha256_key>.size)
            state.deallocate()
        }

        /// The MAC of `head` followed by `tail` into `out` (32 bytes), without joining them.
        func mac(_ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) {
            precondition(out.count >= HMACSHA256.byteCount)
            cma_hmac_sha256_two(state, head.baseAddress?.assumingMemoryBound(to: UInt8.self), head.count,
                                tail.baseAddress?.assumingMemoryBound(to: UInt8.self), tail.count, out.baseAddress)
        }
    }

    /// Constant-time equality (`CRYPTO_memcmp`) for equal-length inputs; different
    /// lengths are unequal (lengths are public: 32 bytes for v1).
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }
}
