import APIClient

/// The WorkQueue module's one error type. Texts are fixed or built from status
/// codes and API error types only: never a credential, a secret or a response body.
public enum WorkQueueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No response: connection failure, timeout or cancellation.
    case transport(TransportError)
    /// An HTTP error status. `errorType` is the envelope's `error.type`
    /// (e.g. `not_found_error`); `shouldRetry` the `x-should-retry` header.
    case http(status: Int, errorType: String?, requestID: String?, retryAfter: Duration?, shouldRetry: Bool?)
    /// A success status whose body could not be read as the expected JSON.
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .transport(let error):
            return "anthropic \(error)"
        case .http(let status, let errorType, let requestID, _, _):
            var text = "anthropic HTTP \(status)"
            if let errorType { text += " \(errorType)" }
            if let requestID { text += " (request-id \(requestID))" }
            return text
        case .invalidResponse(let what):
            return "anthropic invalid response: \(what)"
        }
    }

    /// The server's retry hint, if any.
    public var retryAfter: Duration? {
        if case .http(_, _, _, let hint, _) = self { return hint }
        return nil
    }

    public var status: Int? {
        if case .http(let status, _, _, _, _) = self { return status }
        return nil
    }

    var isCancellation: Bool { self == .transport(.cancelled) }
}
