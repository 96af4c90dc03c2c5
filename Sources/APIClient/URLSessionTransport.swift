import Foundation
import FoundationNetworking
import Synchronization

/// The production `HTTPTransport`, on URLSession (FoundationNetworking on Linux).
/// Redirects are never followed: a 3xx is a `TransportError`.
///
/// Each request gets a total deadline of `request.timeout` (style habit 8): the
/// URLSession idle timeout is set to it, and a timer cancels the task when the
/// whole exchange takes longer. Errors are mapped to `TransportError`; the
/// description names only the failure kind and the host, never header values
/// (they carry credentials) or the query.
public final class URLSessionTransport: HTTPTransport {
    /// URLSession's own default of connections per host. Below the Superserve
    /// in-flight cap (rule 35, 8) it makes requests queue for a connection inside
    /// URLSession while their deadline runs, so the app passes its own figure.
    public static let urlSessionDefaultConnectionsPerHost = 6

    private let session: URLSession
    /// Connections URLSession opens to one host at most (`CMA_HTTP_CONNECTIONS_PER_HOST`).
    public let maxConnectionsPerHost: Int

    public init(maxConnectionsPerHost: Int = URLSessionTransport.urlSessionDefaultConnectionsPerHost) {
        self.maxConnectionsPerHost = max(1, maxConnectionsPerHost)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = self.maxConnectionsPerHost
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        // Per-request deadlines are applied below; this only bounds a stuck resource.
        configuration.timeoutIntervalForResource = 3600
        session = URLSession(configuration: configuration, delegate: RefuseRedirects(), delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    public func send(_ request: OutboundRequest) async throws -> InboundResponse {
        try Task.checkCancellation()
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        // FoundationNetworking truncates sub-second idle timeouts (0.3 s fires at
        // once), so URLSession gets whole seconds beyond the deadline and the exact
        // total deadline is enforced by the timer below.
        urlRequest.timeoutInterval = (request.timeout.secondsDouble + 1).rounded(.up)
        urlRequest.cachePolicy = .reloadIgnoringLocalCacheData
        for (name, value) in request.headers {
            urlRequest.addValue(value, forHTTPHeaderField: name)
        }
        if let body = request.body {
            urlRequest.httpBody = body
        }
        let exchange = Exchange()
        let host = Self.hostDescription(request.url)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<InboundResponse, any Error>) in
                let task = session.dataTask(with: urlRequest) { data, response, error in
                    exchange.finish(Self.outcome(data: data, response: response, error: error, host: host, timedOut: exchange.didTimeOut))
                }
                exchange.start(continuation: continuation, task: task)
                let timeout = request.timeout
                exchange.setTimer(Task {
                    do { try await Task.sleep(for: timeout) } catch { return }
                    exchange.timeOut()
                })
                task.resume()
            }
        } onCancel: {
            exchange.cancel()
        }
    }

    /// Maps a completed data task to a response or a `TransportError`.
    static func outcome(data: Data?, response: URLResponse?, error: (any Error)?, host: String, timedOut: Bool) -> Result<InboundResponse, TransportError> {
        if let error {
            if timedOut { return .failure(.timedOut) }
            guard let urlError = error as? URLError else {
                return .failure(.connectionFailed("transport error talking to \(host)"))
            }
            switch urlError.code {
            case .timedOut: return .failure(.timedOut)
            case .cancelled: return .failure(.cancelled)
            default: return .failure(.connectionFailed("\(name(of: urlError.code)) (\(urlError.code.rawValue)) talking to \(host)"))
            }
        }
        guard let http = response as? HTTPURLResponse else {
            return .failure(.connectionFailed("no HTTP response from \(host)"))
        }
        // Every request carries a credential header (X-API-Key, X-Access-Token,
        // X-Api-Key, Authorization); a redirect is never followed, and no upstream
        // should send one, so it is an error rather than a response.
        if (300..<400).contains(http.statusCode) {
            return .failure(.connectionFailed("redirect \(http.statusCode) refused from \(host)"))
        }
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let name = key as? String, let text = value as? String { headers[name.lowercased()] = text }
        }
        return .success(InboundResponse(status: http.statusCode, headers: headers, body: data ?? Data()))
    }

    /// `host:port` only: no user info, path or query (which could carry secrets).
    static func hostDescription(_ url: URL) -> String {
        let host = url.host ?? "unknown host"
        if let port = url.port { return "\(host):\(port)" }
        return host
    }

    static func name(of code: URLError.Code) -> String {
        switch code {
        case .cannotConnectToHost: "cannot connect to host"
        case .cannotFindHost: "cannot find host"
        case .dnsLookupFailed: "DNS lookup failed"
        case .networkConnectionLost: "network connection lost"
        case .notConnectedToInternet: "not connected"
        case .badServerResponse: "bad server response"
        case .secureConnectionFailed: "TLS handshake failed"
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
             .serverCertificateHasUnknownRoot: "server certificate rejected"
        case .badURL, .unsupportedURL: "unsupported URL"
        case .httpTooManyRedirects: "too many redirects"
        case .zeroByteResource: "empty response"
        default: "network error"
        }
    }
}

/// Refuses every redirect before it is followed, so no credential header is ever
/// replayed to another origin; the 3xx itself then completes the task.
private final class RefuseRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}

/// One request's completion state: the continuation is resumed exactly once, by
/// whichever comes first of completion, the deadline timer and task cancellation.
private final class Exchange: Sendable {
    private struct State {
        var continuation: CheckedContinuation<InboundResponse, any Error>?
        var task: URLSessionDataTask?
        var timer: Task<Void, Never>?
        var timedOut = false
        var cancelled = false
        var finished = false
    }

    private let state = Mutex<State>(State())

    var didTimeOut: Bool { state.withLock { $0.timedOut } }

    func start(continuation: CheckedContinuation<InboundResponse, any Error>, task: URLSessionDataTask) {
        let cancelNow: Bool = state.withLock { s in
            s.continuation = continuation
            s.task = task
            return s.cancelled
        }
        if cancelNow { cancel() }
    }

    func setTimer(_ timer: Task<Void, Never>) {
        let finished: Bool = state.withLock { s in
            if s.finished { return true }
            s.timer = timer
            return false
        }
        if finished { timer.cancel() }
    }

    func finish(_ result: Result<InboundResponse, TransportError>) {
        let (continuation, timer): (CheckedContinuation<InboundResponse, any Error>?, Task<Void, Never>?) = state.withLock { s in
            guard !s.finished else { return (nil, nil) }
            s.finished = true
            defer { s.continuation = nil; s.task = nil; s.timer = nil }
            return (s.continuation, s.timer)
        }
        timer?.cancel()
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    func timeOut() {
        let task: URLSessionDataTask? = state.withLock { s in
            guard !s.finished else { return nil }
            s.timedOut = true
            return s.task
        }
        task?.cancel()
        finish(.failure(.timedOut))
    }

    func cancel() {
        let task: URLSessionDataTask? = state.withLock { s in
            s.cancelled = true
            guard !s.finished else { return nil }
            return s.task
        }
        guard let task else { return }
        task.cancel()
        finish(.failure(.cancelled))
    }
}
