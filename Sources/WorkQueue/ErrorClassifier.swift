/// Which Anthropic call failed (rule 33's rows).
public enum AnthropicCall: String, Sendable {
    case poll, ack, stop, heartbeat, session, list
}

/// What to do with a failed Anthropic call.
public enum ErrorDisposition: Sendable, Equatable {
    /// Back off and retry (or, for ack, skip the item and keep polling: rule 7).
    case transient
    /// Do not retry: stop the loop (poll), force-stop the item (ack), give up (others).
    case fatal
    /// stop answered 409: the item was already stopped; that is success (rule 33).
    case alreadyStopped
    /// session read answered 404: force-stop the item without launching (rule 33).
    case notFound
}

/// Rule 33 in ONE function, mirroring the SDK's `lib/_retry.py`: transport errors,
/// timeouts, 408, 409, 429 and ≥500 are transient; other 4xx are fatal.
///
/// `x-should-retry` (anthropic.md §4): `true` makes any status transient. `false`
/// makes a status fatal only for the per-call retries of stop, heartbeat and
/// session reads (the SDK's core client); poll and ack follow the SDK
/// environments layer, which decides by status alone, so a `500` carrying
/// `x-should-retry: false` does not end the poll loop. Statuses with a fixed
/// meaning come first: 409 on stop is "already stopped", 409 on ack is transient
/// (rule 7), 404 on a session read means "no such session".
public enum ErrorClassifier {
    public static func disposition(of error: WorkQueueError, for call: AnthropicCall) -> ErrorDisposition {
        switch error {
        case .transport:
            return .transient
        case .invalidResponse:
            // A 2xx we cannot read is server trouble, not a configuration error.
            return .transient
        case .http(let status, _, _, _, let shouldRetry):
            switch (call, status) {
            case (.stop, 409): return .alreadyStopped
            case (.ack, 409): return .transient
            case (.session, 404): return .notFound
            default: break
            }
            if shouldRetry == true { return .transient }
            if shouldRetry == false, call != .poll, call != .ack { return .fatal }
            if status == 408 || status == 409 || status == 429 || status >= 500 { return .transient }
            return .fatal
        }
    }
}
