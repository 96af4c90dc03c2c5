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
    /// A well-formed `HTTP/x.y` other than HTTP/1.0 or HTTP/1.1 (a malformed one is 400).
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

public enum BadRequestReason: String, Sendable, Equatable, CaseIterable {
    case requestLine = "request_line"
    case method
    case target
    case version
    case headerName = "header_name"
    case headerValue = "header_value"
    case obsFold = "obs_fold"
    case whitespaceBeforeColon = "whitespace_before_colon"
    case bareLF = "bare_lf"
    case bareCR = "bare_cr"
    case missingHost = "missing_host"
    case duplicateHost = "duplicate_host"
    case contentLength = "content_length"
    case contentLengthWithTransferEncoding = "cl_with_te"
    case transferEncoding = "transfer_encoding"
    case chunkSize = "chunk_size"
    case chunkExtension = "chunk_extension"
    case chunkData = "chunk_data"
    case trailer
}
