import HTTPWire
import Logging
import Synchronization

/// What every connection of one server shares from `init` on: configuration (with
/// deadlines turned into nanoseconds once), logger, observer, trusted proxies, the
/// shutdown flag and the open-connection count. (The router, frozen later by
/// `serve(router:)`, is held by the connection queues.)
final class ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let logger: Logger
    let observer: (any HTTPServerObserver)?
    /// Access lines go here when set, else to `logger` at `info`.
    let accessLog: (any AccessLogSink)?
    let trustedProxies: [CIDR]
    /// Entries of `trustedProxies` that did not parse (reported by `start()`).
    let invalidTrustedProxies: [String]
    let tracker = ConnectionTracker()
    /// Request bytes buffered across every connection (`bufferBudgetBytes`).
    let budget: BufferBudget
    private let shuttingDownFlag = Atomic<Bool>(false)

    let timeouts: ConnectionState.Timeouts
    /// Deadline checks run at this period: a quarter of the shortest deadline, between
    /// 5 ms and 250 ms (one coarse timer per queue, not one per connection).
    let tickNanos: UInt64

    init(configuration: HTTPServerConfiguration, logger: Logger, observer: (any HTTPServerObserver)?,
         accessLog: (any AccessLogSink)?) {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        self.accessLog = accessLog
        var good: [CIDR] = [], bad: [String] = []
        for p in configuration.trustedProxies {
            if let c = CIDR(p.trimmingOWS().description) { good.append(c) } else { bad.append(p) }
        }
        trustedProxies = good
        invalidTrustedProxies = bad
        budget = BufferBudget(limit: configuration.bufferBudgetBytes, headAllowance: configuration.headAllowanceBytes,
                              trimsAfterBursts: configuration.returnsMemoryAfterBursts)
        let t = ConnectionState.Timeouts(configuration)
        timeouts = t
        let shortest = [t.header, t.body, t.idle, t.write, t.linger].min() ?? 1_000_000_000
        tickNanos = min(250_000_000, max(5_000_000, shortest / 4))
    }

    /// False for routes left out of the access log.
    func logsAccess(routePattern: String) -> Bool {
        for r in configuration.accessLogExcludedRoutes where r == routePattern { return false }
        return true
    }

    var isShuttingDown: Bool { shuttingDownFlag.load(ordering: .relaxed) }

    /// True for the caller that flipped the flag.
    func beginShutdown() -> Bool {
        shuttingDownFlag.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// A connection's descriptor is closed. The observer hears it first: the tracker's
    /// last close lets `shutdown()` return, and by then every close must be counted.
    func connectionGone() {
        observer?.connectionClosed()
        tracker.closed()
    }

    /// A refused request or connection: metrics, and a debug line (never the input).
    func rejected(reason: String, peer: String, requestID: String? = nil) {
        observer?.requestRejected(reason: reason)
        logger.debug("request.rejected", metadata: [
            "http.reject_reason": .string(reason), "client.address": .string(peer), "request.id": .string(requestID ?? ""),
        ])
    }

    func isTrusted(_ peer: IPAddress?) -> Bool {
        guard let peer, !trustedProxies.isEmpty else { return false }
        return trustedProxies.contains { $0.contains(peer) }
    }

    /// Client address and scheme for a request from `peer` (RFC 7239 §5.2 semantics on
    /// the de-facto `X-Forwarded-*` headers): believed only when the peer is a trusted
    /// proxy; the client is the rightmost address that is not itself a trusted proxy.
    /// An entry that is not an IP address stops the walk at the nearest trusted hop, so
    /// garbage never becomes `remoteAddress`.
    func clientAndScheme(headers: HTTPHeaders, peer: IPAddress?, peerText: String, peerTrusted: Bool) -> (String, String) {
        guard peerTrusted else { return (peerText, "http") }
        var client = peerText
        let values = headers[all: "X-Forwarded-For"]
        walk: for value in values.reversed() {
            for entry in value.split(separator: ",").reversed() {
                guard let addr = IPAddress(entry.trimmingOWS()) else { break walk }
                client = addr.text
                if !isTrusted(addr) { break walk }
            }
        }
        var scheme = "http"
        if let proto = headers[all: "X-Forwarded-Proto"].last?.split(separator: ",").last?.trimmingOWS(),
           proto.asciiCaseInsensitiveEquals("https") {
            scheme = "https"
        }
        return (client, scheme)
    }
}

/// Open connections and the waiters of `shutdown()` for "none left".
final class ConnectionTracker: Sendable {
    private struct State {
        var open = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<Int> = []
    }
    private let state = Mutex(State())

    var openCount: Int { state.withLock { $0.open } }

    /// Counts a new connection unless `limit` are open.
    func tryOpen(limit: Int) -> Bool {
        state.withLock { s in
            if s.open >= limit { return false }
            s.open += 1
            return true
        }
    }

    func closed() {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.open -= 1
            guard s.open == 0 else { return [] }
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return w
        }
        for c in ready { c.resume() }
    }

    /// Returns when no connection is open, or when the calling task is cancelled.
    func waitUntilNoneOpen() async {
        let id = state.withLock { s in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.open == 0 || s.cancelled.remove(id) != nil { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume()
        }
    }
}
