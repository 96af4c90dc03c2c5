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

    /// Counts a newcomer in. At the cap, a connection doing nothing makes room, as nginx
    /// reuses idle keep-alive connections: the longest-idle keep-alive one of any loop,
    /// else the oldest still awaiting its first head (`ConnectionState.evictable`); a
    /// connection handling a request or writing an answer is never chosen.
    ///
    /// The victim's loop closes it on its own queue, so the newcomer is admitted before
    /// that close: the open count may exceed the cap by the evictions in flight, at most
    /// `evictionSlack` (a victim that got busy meanwhile is skipped; its loop evicts the
    /// next one, or the overshoot lasts until connections close on their own).
    private func admit() -> Bool {
        let limit = context.configuration.maxConnections
        if context.tracker.tryOpen(limit: limit) { return true }
        guard let victim = evictionLoop() else { return false }
        if victim === loops[0] {
            victim.evictOldest()   // already on its queue: no overshoot
            return context.tracker.tryOpen(limit: limit)
        }
        guard context.tracker.tryOpen(limit: limit + Self.evictionSlack) else { return false }
        victim.queue.async { _ = victim.evictOldest() }
        return true
    }

    /// Open connections allowed over the cap while their victims' closes are in flight.
    static let evictionSlack = 64

    /// The loop holding the oldest idle keep-alive connection or, if no loop has one,
    /// the oldest connection awaiting its first head (from the ages each loop publishes).
    private func evictionLoop() -> ConnectionLoop? {
        for kind in [ConnectionState.Evictable.idle, .awaitingFirstHead] {
            var best: (loop: ConnectionLoop, since: UInt64)?
            for l in loops {
                if let t = l.oldestSince(kind), best.map({ t < $0.since }) ?? true { best = (l, t) }
            }
            if let best { return best.loop }
        }
        return nil
    }

    private func acceptBatch() {
        for _ in 0..<256 {
            switch PosixSocket.accept(fd) {
            case .accepted(let cfd, let peer):
                if context.isShuttingDown {
                    close(cfd)
                    continue
                }
                guard admit() else {
                    // Over the cap with nothing evictable: a fixed 503 (best effort, nonblocking) and close.
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
