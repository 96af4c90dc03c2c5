/// Every bound the parser enforces (picohttpparser's habit: no dimension of the input is
/// unbounded). Each has a name, a default, and a line in the README's configuration table.
/// Limits are checked on the bytes already received, so a client cannot make the server
/// buffer more than these amounts while a head or chunk line is still incomplete.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line: method, target, version and its CRLF, plus any empty lines
    /// skipped before it (RFC 9112 §2.2). Over it: 414, even while incomplete.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Bytes of the header section after the request line, including the empty line that
    /// ends it. Over it: 431, even while incomplete.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Number of header fields (and, separately, of trailer fields). Over it: 431.
    public var maxHeaderCount: Int = 100
    /// Largest request body, by Content-Length or decoded chunked size. Over it: 413,
    /// as soon as Content-Length or a chunk size announces it.
    public var maxBodyBytes: Int = 1024 * 1024
    /// Longest chunk-size line including extensions and CRLF. Over it: 400.
    public var maxChunkLineBytes: Int = 1024
    /// Bytes of the trailer section after the last chunk, including its final CRLF.
    /// Over it: 431.
    public var maxTrailerBytes: Int = 8 * 1024

    public init() {}

    public static let `default` = HTTPLimits()
}
