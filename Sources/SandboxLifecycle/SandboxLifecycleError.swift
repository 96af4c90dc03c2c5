import APIClient
import Foundation

/// The module's one error type. Upstream errors carry status, code and message
/// only (never a request header or token); `retryAfter` is the server's hint.
public enum SandboxLifecycleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call did not get an answer (timeout, connection failure, cancellation).
    case transport(TransportError)
    /// Superserve answered with a non-success status.
    case http(status: Int, code: String?, message: String, retryAfter: Duration? = nil)
    /// A success answer that did not have the documented shape.
    case invalidResponse(String)
    /// The runner bundle could not be built.
    case invalidBundle(String)
    /// A configuration value is unusable; the message names the variable.
    case invalidConfiguration(String)
    /// A template build ended `failed` or `cancelled` (rule 47).
    case buildFailed(String)

    public var status: Int? {
        if case .http(let status, _, _, _) = self { return status }
        return nil
    }

    public var code: String? {
        if case .http(_, let code, _, _) = self { return code }
        return nil
    }

    public var description: String {
        switch self {
        case .transport(let error): "transport: \(error)"
        case .http(let status, let code, let message, _): "HTTP \(status) \(code ?? "-"): \(message)"
        case .invalidResponse(let detail): "invalid response: \(detail)"
        case .invalidBundle(let detail): "invalid runner bundle: \(detail)"
        case .invalidConfiguration(let detail): "invalid configuration: \(detail)"
        case .buildFailed(let detail): "template build failed: \(detail)"
        }
    }

    /// Builds the error for a non-success answer: `{"error":{"code","message"}}`,
    /// a flat `{"code","message"}`, `{"error":"text"}`, or the first 500 characters
    /// of a non-JSON body (superserve.md §2).
    static func from(_ response: InboundResponse) -> SandboxLifecycleError {
        var code: String?
        var message: String?
        if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            if let inner = object["error"] as? [String: Any] {
                code = inner["code"] as? String
                message = inner["message"] as? String
            } else if let text = object["error"] as? String {
                message = text
            } else {
                code = object["code"] as? String
                message = object["message"] as? String
            }
        }
        if message == nil {
            message = String(String(decoding: response.body, as: UTF8.self).prefix(500))
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return .http(status: response.status, code: code, message: message ?? "",
                     retryAfter: RetryHint.delay(from: response))
    }
}
