import COpenSSL

/// HMAC-SHA256 and constant-time comparison through OpenSSL libcrypto.
enum HMACSHA256 {
    static let byteCount = 32

    static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        let ok = key.withUnsafeBytes { k in
            message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    cma_hmac_sha256(k.baseAddress, Int32(k.count), m.baseAddress, m.count, o.baseAddress)
                }
            }
        }
        // HMAC only fails on allocation failure inside OpenSSL; there is no
        // meaningful recovery, and a zero MAC must never verify anything.
        precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
        return out
    }

    /// A key prepared once (an OpenSSL MAC context keyed with it), for the verifier,
    /// which computes one MAC per configured key on every delivery.
    final class Key: @unchecked Sendable {
        // Only read after init: OpenSSL duplicates it per MAC, never mutates it.
        private let context: OpaquePointer

        /// Fetched once per process (Swift initialises globals lazily and thread-safely);
        /// OpenSSL's fetched algorithms are immutable and safe to share between threads.
        nonisolated(unsafe) private static let algorithm: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

        init(_ key: [UInt8]) {
            let made = key.withUnsafeBytes { cma_hmac_sha256_keyed(Self.algorithm, $0.baseAddress, $0.count) }
            precondition(made != nil, "OpenSSL HMAC-SHA256 key setup failed")
            context = made!
        }

        deinit { EVP_MAC_CTX_free(context) }

        func mac(_ message: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
            let ok = message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    cma_hmac_sha256_with(context, m.baseAddress, m.count, o.baseAddress)
                }
            }
            precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
            return out
        }
    }

    /// Constant-time equality (`CRYPTO_memcmp`) for equal-length inputs; different
    /// lengths are unequal (lengths are public: 32 bytes for v1).
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }
}
