import HTTPServer
import HTTPWire

/// What to do with one request.
public enum FaultDecision: Sendable, Equatable {
    case pass(latency: Duration)
    case error(status: Int, retryAfterSeconds: Int?, latency: Duration)
    case drop(latency: Duration)
    /// Carry the request out, then lose its answer (`droppedResponse()`): the client
    /// cannot tell whether it acted, as when a created sandbox's 201 never arrives
    /// (orchestrator rule 16).
    case lose(latency: Duration)
}

extension FaultDecision {
    /// Waits the decision's latency, whatever it decided.
    public func applyLatency() async {
        switch self {
        case .pass(let latency), .error(_, _, let latency), .drop(let latency), .lose(let latency):
            if latency > .zero { try? await Task.sleep(for: latency) }
        }
    }

    /// An injected "dropped connection". The handler API has no way to close a
    /// connection without an answer, so the emulator starts a chunked answer and
    /// aborts it before the first chunk: the server closes the connection mid-body and
    /// the client sees a broken response (a transport error, like a drop), never a
    /// usable status. The head is 200 so that nothing reads it as an API answer with a body.
    public static func droppedResponse() -> Response {
        Response(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]),
                 body: .stream { _ in throw BodyWriterError.closed })
    }
}
