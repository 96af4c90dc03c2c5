import HTTPWire

/// One complete request as a handler sees it: the validated head, the whole body
/// (bounded by the route's body limit) and where it came from.
public struct Request: Sendable {
    public let head: HTTPRequestHead
    /// The body exactly as received (de-chunked, never re-encoded): webhook
    /// signatures are computed over these bytes.
    public let body: [UInt8]
    /// Client address: the peer, or the X-Forwarded-For client when the peer is a
    /// trusted proxy.
    public let remoteAddress: String
    /// `http`, or X-Forwarded-Proto's value when the peer is a trusted proxy.
    public let scheme: String
    /// A per-request id for logs (`request.id`), echoed as `X-Request-Id`.
    public let requestID: String
    /// The route pattern that matched (bounded; used for metrics labels).
    public internal(set) var routePattern: String

    public init(head: HTTPRequestHead, body: [UInt8], remoteAddress: String, scheme: String, requestID: String, routePattern: String = "") {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
        self.scheme = scheme
        self.requestID = requestID
        self.routePattern = routePattern
    }

    public var method: HTTPMethod { head.method }
    public var headers: HTTPHeaders { head.headers }
    /// Percent-decoded path (without the query).
    public var path: String { PercentDecoding.decode(head.path, plusAsSpace: false) ?? String(head.path) }
    /// Path segments of the percent-decoded path, empty segments dropped.
    public var pathSegments: [Substring] { path.split(separator: "/") }

    /// Query items in order, percent-decoded, `+` read as a space (form encoding).
    public var queryItems: [(name: String, value: String)] {
        guard let query = head.query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                let name = PercentDecoding.decode(pair[..<eq], plusAsSpace: true) ?? String(pair[..<eq])
                let value = PercentDecoding.decode(pair[pair.index(after: eq)...], plusAsSpace: true) ?? String(pair[pair.index(after: eq)...])
                return (name, value)
            }
            return (PercentDecoding.decode(pair, plusAsSpace: true) ?? String(pair), "")
        }
    }

    /// First value of a query parameter.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}

public enum PercentDecoding {
    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    public static func decode<S: StringProtocol>(_ s: S, plusAsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hex(h), let lv = hex(l) else { return nil }
                out.append(hv << 4 | lv)
            } else if plusAsSpace && b == UInt8(ascii: "+") {
                out.append(0x20)
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Encodes everything but unreserved characters (RFC 3986 §2.3).
    public static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(b & 0xF)]))
            }
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - 55
        default: nil
        }
    }
}
