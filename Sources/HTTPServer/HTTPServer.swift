import Dispatch
import HTTPWire
import Logging
import Synchronization
import Glibc

/// HTTP/1.1 server on POSIX sockets and Dispatch (no NIO): a nonblocking listener,
/// connections spread over a few serial queues (each watching its sockets through one
/// epoll set on one Dispatch read source), answers written with one `write` call,
/// deadlines checked by a coarse timer per queue. See `HTTPServerConfiguration` for every limit.
///
/// Two ways to start: `bind()` then `serve(router:)` (the owner learns the port before
/// building what the routes refer to), or `init(…router:…)` then `start()`.
public final class HTTPServer: Sendable {
    private let context: ServerContext
    /// What `start()` serves; nil for a server made to `bind()` and then `serve(router:)`.
    private let startRouter: Router?
    private let stage = Mutex<Stage>(.new)
    private let port = Atomic<Int>(0)

    private enum Stage: Sendable {
        case new
        /// Listening, not accepting yet: connects complete in the kernel and wait in the backlog.
        case bound(listener: Int32)
        case serving(Acceptor, [ConnectionLoop])
        /// `shutdown()` before serving: the listener (if any) is closed.
        case stopped
    }

    /// A server to `bind()`, then `serve(router:)`: its owner can learn the port (when
    /// configured as 0) and build the parts the routes refer to in between.
    public init(configuration: HTTPServerConfiguration, logger: Logger, observer: (any HTTPServerObserver)? = nil,
                accessLog: (any AccessLogSink)? = nil) {
        context = ServerContext(configuration: configuration, logger: logger, observer: observer, accessLog: accessLog)
        startRouter = nil
    }

    /// A server that `start()` binds and serves with `router`.
    public init(configuration: HTTPServerConfiguration, router: Router, logger: Logger,
                observer: (any HTTPServerObserver)? = nil, accessLog: (any AccessLogSink)? = nil) {
        context = ServerContext(configuration: configuration, logger: logger, observer: observer, accessLog: accessLog)
        startRouter = router
    }

    /// Validates the configuration, raises the descriptor limit, then binds and listens.
    /// Returns the bound port (the real one when configured as 0). From here the port
    /// is reserved, and connections made before `serve(router:)` wait to be answered.
    @discardableResult
    public func bind() throws -> Int {
        if let why = context.configuration.validationError() { throw HTTPServerError.invalidConfiguration(why) }
        if let bad = context.invalidTrustedProxies.first { throw HTTPServerError.badTrustedProxy(bad) }
        try stage.withLock { s throws(HTTPServerError) in
            guard case .new = s, !context.isShuttingDown else { throw .alreadyStarted }
            PosixSocket.raiseFileLimit()
            if context.configuration.returnsMemoryAfterBursts { BufferBudget.configureAllocator() }
            let cfg = context.configuration
            let (fd, bound) = try PosixSocket.listen(host: cfg.host, port: cfg.port, backlog: cfg.listenBacklog)
            s = .bound(listener: fd)
            port.store(bound, ordering: .releasing)
        }
        return boundPort
    }

    /// Freezes `router` and starts accepting (binding first unless `bind()` was called).
    /// Returns once accepting.
    public func serve(router: Router) throws {
        let unbound = stage.withLock { if case .new = $0 { true } else { false } }
        if unbound { try bind() }
        try stage.withLock { s throws(HTTPServerError) in
            guard case .bound(let fd) = s, !context.isShuttingDown else { throw .alreadyStarted }
            let cfg = context.configuration
            let count = cfg.connectionQueues > 0 ? cfg.connectionQueues : PosixSocket.usableCPUs()
            let loops = try (0..<count).map { i throws(HTTPServerError) in
                try ConnectionLoop(index: i, context: context, router: router)
            }
            for l in loops { l.start() }
            let acceptor = Acceptor(fd: fd, loops: loops, context: context)
            acceptor.start()
            s = .serving(acceptor, loops)
        }
        context.logger.info("http.listening", metadata: ["http.host": .string(context.configuration.host),
                                                         "http.port": .stringConvertible(boundPort)])
    }

    /// Binds and serves the router given at init; returns once accepting.
    public func start() throws {
        guard let router = startRouter else {
            throw HTTPServerError.invalidConfiguration("start() serves the router given at init; call serve(router:)")
        }
        try serve(router: router)
    }

    /// The bound port (valid after `bind()` or `start()`; the real one when configured as 0).
    public var boundPort: Int { port.load(ordering: .acquiring) }

    /// True from the moment `shutdown()` begins.
    public var isShuttingDown: Bool { context.isShuttingDown }

    /// Open connections right now (for status pages and tests).
    public var openConnections: Int { context.tracker.openCount }

    /// Request bytes buffered across all connections right now, as reserved from
    /// `bufferBudgetBytes` (for status pages and tests).
    public var bufferedBytes: Int { context.budget.bytes }

    /// Graceful stop (Go `Server.Shutdown` order): stop accepting (the listener is
    /// closed, so new connects are refused), close idle keep-alive connections at
    /// once, let in-flight requests finish within `shutdownGracePeriod` (their answers
    /// carry `Connection: close`; streams end), then close the rest. A second call
    /// waits for the first to finish.
    public func shutdown() async {
        let first = context.beginShutdown()
        let serving = stage.withLock { s -> (Acceptor, [ConnectionLoop])? in
            switch s {
            case .serving(let acceptor, let loops):
                return (acceptor, loops)
            case .bound(let fd):
                // Not serving yet: closing the listener refuses what waits in its backlog.
                if first { close(fd); s = .stopped }
                return nil
            case .new:
                if first { s = .stopped }
                return nil
            case .stopped:
                return nil
            }
        }
        guard first else {
            await context.tracker.waitUntilNoneOpen()
            return
        }
        guard let (acceptor, loops) = serving else { return }
        context.logger.info("http.shutdown.begin", metadata: ["http.open_connections": .stringConvertible(openConnections)])
        await acceptor.stop()
        for l in loops { l.queue.async { l.beginShutdown() } }
        let grace = context.configuration.shutdownGracePeriod
        let tracker = context.tracker
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await tracker.waitUntilNoneOpen() }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
        let left = openConnections
        if left > 0 {
            context.logger.info("http.shutdown.force", metadata: ["http.open_connections": .stringConvertible(left)])
            for l in loops { l.queue.async { l.forceCloseAll() } }
            await tracker.waitUntilNoneOpen()
        }
        for l in loops { l.stop() }
        context.logger.info("http.shutdown.done")
    }
}
