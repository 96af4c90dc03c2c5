import Dispatch
import HTTPWire
import Logging
import Synchronization

/// HTTP/1.1 server on POSIX sockets and Dispatch (no NIO): a nonblocking listener,
/// connections spread over a few serial queues (each watching its sockets through one
/// epoll set on one Dispatch read source), answers written with one `write` call,
/// deadlines checked by a coarse timer per queue. See `HTTPServerConfiguration` for every limit.
public final class HTTPServer: Sendable {
    private let context: ServerContext
    private let parts = Mutex<Parts>(Parts())
    private let port = Atomic<Int>(0)

    private struct Parts: @unchecked Sendable {
        // Safe: Acceptor and ConnectionLoop are themselves confined to their queues;
        // this struct only holds references to them, guarded by the mutex.
        var started = false
        var acceptor: Acceptor?
        var loops: [ConnectionLoop] = []
    }

    public init(configuration: HTTPServerConfiguration, router: Router, logger: Logger, observer: (any HTTPServerObserver)? = nil) {
        context = ServerContext(configuration: configuration, router: router, logger: logger, observer: observer)
    }

    /// Binds and listens; returns once accepting. Raises the descriptor limit first.
    public func start() throws {
        if let why = context.configuration.validationError() { throw HTTPServerError.invalidConfiguration(why) }
        if let bad = context.invalidTrustedProxies.first { throw HTTPServerError.badTrustedProxy(bad) }
        try parts.withLock { p throws(HTTPServerError) in
            guard !p.started, !context.isShuttingDown else { throw .alreadyStarted }
            PosixSocket.raiseFileLimit()
            let cfg = context.configuration
            let (fd, bound) = try PosixSocket.listen(host: cfg.host, port: cfg.port, backlog: cfg.listenBacklog)
            let count = cfg.connectionQueues > 0 ? cfg.connectionQueues : PosixSocket.usableCPUs()
            let loops = try (0..<count).map { i throws(HTTPServerError) in try ConnectionLoop(index: i, context: context) }
            for l in loops { l.start() }
            let acceptor = Acceptor(fd: fd, loops: loops, context: context)
            acceptor.start()
            p.started = true
            p.acceptor = acceptor
            p.loops = loops
            port.store(bound, ordering: .releasing)
        }
        context.logger.info("http.listening", metadata: ["http.host": .string(context.configuration.host),
                                                         "http.port": .stringConvertible(boundPort)])
    }

    /// The bound port (valid after `start()`; the real one when configured as 0).
    public var boundPort: Int { port.load(ordering: .acquiring) }

    /// True from the moment `shutdown()` begins.
    public var isShuttingDown: Bool { context.isShuttingDown }

    /// Open connections right now (for status pages and tests).
    public var openConnections: Int { context.tracker.openCount }

    /// Graceful stop (Go `Server.Shutdown` order): stop accepting (the listener is
    /// closed, so new connects are refused), close idle keep-alive connections at
    /// once, let in-flight requests finish within `shutdownGracePeriod` (their answers
    /// carry `Connection: close`; streams end), then close the rest. A second call
    /// waits for the first to finish.
    public func shutdown() async {
        let first = context.beginShutdown()
        let (acceptor, loops) = parts.withLock { ($0.acceptor, $0.loops) }
        guard first else {
            await context.tracker.waitUntilNoneOpen()
            return
        }
        guard let acceptor else { return }
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
