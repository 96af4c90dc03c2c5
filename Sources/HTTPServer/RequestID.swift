import Synchronization
import Glibc

/// Per-request ids: `pppppp-cccccccc`, a random per-process prefix and a counter, both
/// hex. 15 characters, so the `String` is stored inline (no allocation per request).
/// An incoming `X-Request-Id` is kept when it is 1…64 token characters (a proxy's id
/// ties our log lines to its own); anything else is replaced, never echoed.
enum RequestID {
    private static let counter = Atomic<UInt64>(0)
    private static let prefix: [UInt8] = {
        var g = SystemRandomNumberGenerator()
        let r = g.next() as UInt64
        return (0..<6).map { hexDigit(UInt8(truncatingIfNeeded: r >> UInt64(4 * $0)) & 0xf) }
    }()

    static func next() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 15) { buf in
            for i in 0..<6 { buf[i] = prefix[i] }
            buf[6] = UInt8(ascii: "-")
            for i in 0..<8 { buf[7 + i] = hexDigit(UInt8(truncatingIfNeeded: n >> UInt64(28 - 4 * i)) & 0xf) }
            return 15
        }
    }

    /// The incoming id when it is safe to log and echo, else a fresh one.
    static func accept(_ incoming: String?) -> String {
        if let s = incoming, isSane(s) { return s }
        return next()
    }

    static func isSane(_ s: String) -> Bool {
        let u = s.utf8
        guard !u.isEmpty, u.count <= 64 else { return false }
        return u.allSatisfy(isTokenChar)
    }

    /// RFC 9110 §5.6.2 tchar.
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 87 + v }
}
