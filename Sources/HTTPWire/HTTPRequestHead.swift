public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// How the message body is delimited (RFC 9112 §6.3), decided by the parser once the
/// head is complete and validated.
public enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A parsed, validated request head.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: HTTPMethod
    /// The request target exactly as sent (origin-form `/path?query`, or `*` / absolute-form).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: BodyFraming

    public init(method: HTTPMethod, target: String, version: HTTPVersion, headers: HTTPHeaders, framing: BodyFraming) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
    }

    /// Path part of the target (before `?`), still percent-encoded.
    public var path: Substring {
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<q] }
        return Substring(target)
    }

    /// Query part of the target (after `?`), if any.
    public var query: Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.index(after: q)...]
    }

    /// Persistent connection by default on HTTP/1.1, opt-in on HTTP/1.0 (RFC 9112 §9.3).
    public var keepAlive: Bool {
        if headers.containsToken("close", in: "Connection") { return false }
        if version == .http1_1 { return true }
        return headers.containsToken("keep-alive", in: "Connection")
    }

    /// `Expect: 100-continue` on HTTP/1.1 (RFC 9110 §10.1.1).
    public var expectsContinue: Bool {
        version == .http1_1 && (headers[first: "Expect"]?.asciiCaseInsensitiveEquals("100-continue") ?? false)
    }
}
