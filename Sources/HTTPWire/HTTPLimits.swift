/// Every bound the parser enforces. Each has a name, a default, and a line in the
/// README's configuration table.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (method, target, version, CRLF). Over it: 414.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Total bytes of the header section after the request line. Over it: 431.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Number of header fields. Over it: 431.
    public var maxHeaderCount: Int = 100
    /// Largest request body, by Content-Length or decoded chunked size. Over it: 413.
    public var maxBodyBytes: Int = 1024 * 1024
    /// Longest chunk-size line including extensions. Over it: 400.
    public var maxChunkLineBytes: Int = 1024
    /// Bytes of trailer fields after the last chunk. Over it: 431.
    public var maxTrailerBytes: Int = 8 * 1024

    public init() {}

    public static let `default` = HTTPLimits()
}

/// Why a request was refused. Each case maps to one fixed status; the answer never
/// echoes request bytes.
public enum HTTPParseError: Error, Sendable, Equatable {
    /// Malformed syntax: bad token, bad whitespace, CTL/NUL in a value, obs-fold,
    /// missing Host on HTTP/1.1, ambiguous framing, bad chunk size.
    case badRequest(reason: BadRequestReason)
    /// Request line longer than `maxRequestLineBytes`.
    case uriTooLong
    /// Header section over `maxHeaderBytes` / `maxHeaderCount`, or trailers over `maxTrailerBytes`.
    case headerFieldsTooLarge
    /// Body over `maxBodyBytes`.
    case contentTooLarge
    /// A transfer coding other than `chunked` (RFC 9112 §6.1).
    case notImplemented
    /// A version other than HTTP/1.0 or HTTP/1.1.
    case versionNotSupported

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headerFieldsTooLarge: 431
        case .contentTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        }
    }

    /// A bounded label for metrics (`rejected requests by reason`).
    public var metricLabel: String {
        switch self {
        case .badRequest(let r): "bad_request_\(r.rawValue)"
        case .uriTooLong: "uri_too_long"
        case .headerFieldsTooLarge: "header_fields_too_large"
        case .contentTooLarge: "content_too_large"
        case .notImplemented: "not_implemented"
        case .versionNotSupported: "version_not_supported"
        }
    }
}

public enum BadRequestReason: String, Sendable, Equatable {
    case requestLine = "request_line"
    case method
    case target
    case version
    case headerName = "header_name"
    case headerValue = "header_value"
    case obsFold = "obs_fold"
    case whitespaceBeforeColon = "whitespace_before_colon"
    case bareLF = "bare_lf"
    case missingHost = "missing_host"
    case duplicateHost = "duplicate_host"
    case contentLength = "content_length"
    case contentLengthWithTransferEncoding = "cl_with_te"
    case transferEncoding = "transfer_encoding"
    case chunkSize = "chunk_size"
    case chunkData = "chunk_data"
    case trailer
}
