import Foundation

/// Random identifiers and the URL-safe base64 the emulators hand out.
public enum RandomID {
    /// Crockford base32 (no I, L, O, U), like the ULID-shaped ids of the real APIs.
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// `prefix` + `01` + `count` random base32 characters, e.g. `work_01J3…`.
    public static func make(prefix: String, count: Int = 24) -> String {
        var rng = SystemRandomNumberGenerator()
        var out = prefix + "01"
        for _ in 0..<count { out.unicodeScalars.append(Unicode.Scalar(alphabet[Int(rng.next() % 32)])) }
        return out
    }

    /// Lowercase hex of `bytes` random bytes.
    public static func hex(bytes: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out = ""
        for _ in 0..<bytes {
            let b = UInt8.random(in: 0...255, using: &rng)
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(b >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(b & 0xF)]))
        }
        return out
    }

    /// URL-safe base64 without padding (RFC 4648 §5), the shape of a work item's `secret`.
    public static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
