import Dispatch
import HTTPWire
import Glibc

/// The listening socket: accepts in a loop on a read source and deals connections
/// round-robin to the connection queues. The source runs on the first connection
/// queue, so connections dealt to that queue are adopted without a hop (a hop to
/// another queue is a thread wake-up per connection).
///
/// `@unchecked Sendable`: mutable state is touched only on `queue`.
final class Acceptor: @unchecked Sendable {
    private let fd: Int32
    private let loops: [ConnectionLoop]
    private let context: ServerContext
    private let queue: DispatchQueue
    private var source: (any DispatchSourceRead)?
    private var next = 0
    private var paused = false
    private var closedWaiters: [CheckedContinuation<Void, Never>] = []
    private var listenerClosed = false
    private static let capAnswer = ResponseEncoder.fixedResponse(status: 503)

    init(fd: Int32, loops: [ConnectionLoop], context: ServerContext) {
        self.fd = fd
        self.loops = loops
        self.queue = loops[0].queue
        self.context = context
    }

    func start() {
        queue.async { [self] in
            let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            src.setEventHandler { [self] in acceptBatch() }   // released by cancel in stop()
            src.setCancelHandler { [self] in
                close(fd)
                listenerClosed = true
                let w = closedWaiters
                closedWaiters = []
                for c in w { c.resume() }
            }
            source = src
            src.resume()
        }
    }

    /// Closes the listener; returns once the descriptor is closed (new connects are
    /// then refused by the kernel).
    func stop() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                if listenerClosed { c.resume(); return }
                closedWaiters.append(c)
                if let src = source {
                    source = nil
                    if paused { src.resume(); paused = false }
                    src.cancel()
                }
            }
        }
    }

    private func acceptBatch() {
        for _ in 0..<256 {
            switch PosixSocket.accept(fd) {
            case .accepted(let cfd, let peer):
                if context.isShuttingDown {
                    close(cfd)
                    continue
                }
                guard context.tracker.tryOpen(limit: context.configuration.maxConnections) else {
                    // Over the cap: a fixed 503 (best effort, nonblocking) and close.
                    _ = Self.capAnswer.withUnsafeBytes { send(cfd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    close(cfd)
                    context.rejected(reason: "connection_cap", peer: peer?.text ?? "unknown")
                    continue
                }
                context.observer?.connectionOpened()
                let loop = loops[next % loops.count]
                next &+= 1
                if loop === loops[0] {
                    loop.adopt(fd: cfd, peer: peer)   // already on its queue
                } else {
                    loop.queue.async { loop.adopt(fd: cfd, peer: peer) }
                }
            case .wouldBlock:
                return
            case .exhausted:
                // Out of descriptors: the level-triggered source would spin; pause it
                // briefly (connections close meanwhile).
                context.logger.debug("accept.exhausted")
                if let src = source, !paused {
                    paused = true
                    src.suspend()
                    queue.asyncAfter(deadline: .now() + .milliseconds(50)) { [self] in
                        if paused, let s = source { paused = false; s.resume() }
                    }
                }
                return
            case .failed:
                continue
            }
        }
    }
}
