import JSON

/// The emulator's one error type: configuration problems at start-up and the
/// HTTP-level errors its handlers answer with.
public enum AnthropicEmulatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// An answer in the API's error envelope (anthropic.md §2 error table).
    case api(AnthropicAPIFailure)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): "invalid Anthropic emulator configuration: \(m)"
        case .api(let f): "\(f.status) \(f.type): \(f.message)"
        }
    }

    static func invalidRequest(_ message: String, status: Int = 400) -> Self {
        .api(AnthropicAPIFailure(status: status, type: "invalid_request_error", message: message))
    }
    static func notFound(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 404, type: "not_found_error", message: message))
    }
    static func authentication(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 401, type: "authentication_error", message: message))
    }
    static func permission(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 403, type: "permission_error", message: message))
    }
    /// 409s carry `x-should-retry: false` so the SDK sends one request, not three (§2.4).
    static func conflict(_ message: String) -> Self {
        .api(AnthropicAPIFailure(status: 409, type: "invalid_request_error", message: message, shouldRetry: false))
    }
}

/// Status, `error.type`, message and optional `error.details` of an error answer.
/// Messages are constant texts plus ids; they never carry a credential.
public struct AnthropicAPIFailure: Sendable, Equatable {
    public var status: Int
    public var type: String
    public var message: String
    public var details: JSONValue?
    /// Sent as `x-should-retry` when set (anthropic.md §4).
    public var shouldRetry: Bool?
    public var retryAfterSeconds: Int?

    public init(status: Int, type: String, message: String, details: JSONValue? = nil,
                shouldRetry: Bool? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.details = details
        self.shouldRetry = shouldRetry
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// `error.type` for a status (anthropic.md §2 table; errors page).
    public static func errorType(for status: Int) -> String {
        switch status {
        case 400, 409, 412: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 408: "timeout_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 529: "overloaded_error"
        default: "api_error"
        }
    }

    /// `{"type":"error","error":{"type","message"[,"details"]},"request_id"}`.
    func envelope(requestID: String) -> JSONValue {
        var error: [(String, JSONValue)] = [("type", .string(type)), ("message", .string(message))]
        if let details { error.append(("details", details)) }
        return .object([("type", .string("error")), ("error", .object(error)), ("request_id", .string(requestID))])
    }
}
