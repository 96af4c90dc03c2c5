import Dispatch
import HTTPWire
import Logging
import Glibc

/// One accepted socket: reads requests, runs handlers, writes answers strictly in
/// order, enforces the named deadlines.
///
/// One request at a time: while a request is being handled (or its answer streamed,
/// or the socket will not take more bytes) the connection stops reading, so pipelined
/// requests wait in the kernel buffer / `inbuf` and are answered in order (RFC 9112
/// §9.3.2), and a client that does not read its answers cannot make us buffer more.
///
/// `@unchecked Sendable`: all mutable state is touched only on `loop.queue`; tasks
/// running `.async` handlers and stream producers hop back with `queue.async`.
final class Connection: @unchecked Sendable {
    let fd: Int32
    let loop: ConnectionLoop
    let context: ServerContext
    let peer: IPAddress?
    let peerTrusted: Bool
    private(set) lazy var peerText: String = peer?.text ?? "unknown"

    /// Phase and deadline: changed only by its transitions (see `ConnectionState`).
    var state: ConnectionState

    /// What the socket is watched for in the queue's epoll set.
    private var reading = false
    var writeArmed = false
    private var registered = false

    /// Place in the loop's eviction lists (changed only by `ConnectionLoop.updateEvictable`).
    var evictionLinks = EvictionLinks()

    /// Unparsed input (empty, and without storage, between requests). Grown only by
    /// `bufferInput`, which charges its capacity to the buffer budget.
    var inbuf: [UInt8] = []
    /// Bytes of `inbuf`'s capacity charged to the budget (beyond the head allowance).
    var inbufCharge = 0
    /// Budget held by a body handed to an `.async` handler, released when it answers.
    var handlerBodyCharge = 0
    /// Bytes of the head seen so far when it was last incomplete (to skip reparsing
    /// until a line feed arrives).
    private var headBytesSeen = 0
    /// Output not yet taken by the socket, from `outOffset`.
    var outbuf: [UInt8] = []
    var outOffset = 0
    var writeBlocked: Bool { writeArmed }
    var outputPending: Bool { outOffset < outbuf.count }

    var current: RequestState?
    var task: Task<Void, Never>?
    var streamWaiter: CheckedContinuation<Void, any Error>?
    /// Bytes of the current streamed answer so far (for the access log).
    var streamBytes = 0

    init(fd: Int32, peer: IPAddress?, loop: ConnectionLoop) {
        self.fd = fd
        self.peer = peer
        self.loop = loop
        self.context = loop.context
        self.peerTrusted = loop.context.isTrusted(peer)
        self.state = ConnectionState(timeouts: loop.context.timeouts, acceptedAt: monotonicNanos())
    }

    func start() {
        reading = true
        updateInterest()
        loop.updateEvictable(self)
    }

    func updateInterest() {
        registered = loop.watch(fd, read: reading, write: writeArmed, registered: registered)
    }

    // MARK: Reading

    func onReadable() {
        guard reading else { return }
        var rounds = 0
        while rounds < 4, state.readsInput, !writeBlocked {
            rounds += 1
            let n = read(fd, loop.scratch.baseAddress, loop.scratch.count)
            if n > 0 {
                if state.phase == .lingering { continue }
                received(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                if n < loop.scratch.count { break }
            } else if n == 0 {
                if state.peerClosed(outputPending: outputPending) { closeNow() }
                break
            } else {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { break }
                closeNow()
                break
            }
        }
        afterEvent()
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        if inbuf.isEmpty {
            // The common case: a whole request in one read is parsed from the loop's
            // scratch buffer and never buffered (nor charged to the budget).
            let used = process(bytes)
            if used < bytes.count, !state.isFinishing,
               !bufferInput(UnsafeRawBufferPointer(rebasing: bytes[used...])) {
                refuseOverBudget()
            }
        } else {
            guard bufferInput(bytes) else {
                refuseOverBudget()
                return
            }
            processBuffered()
        }
    }

    /// Runs the request loop over `inbuf` (after an answer, or when more bytes came).
    func processBuffered() {
        guard !inbuf.isEmpty else { return }
        // Move the bytes out so that nothing below can touch `inbuf` while we read it.
        var local: [UInt8] = []
        swap(&local, &inbuf)
        let used = local.withUnsafeBytes { process($0) }
        guard !state.isFinishing, used < local.count else {
            releaseInput()   // all consumed (or never to be read): the storage goes with `local`
            return
        }
        if used > 0 {
            // A small remainder does not keep a large buffer (and its charge) alive.
            if local.count - used <= local.capacity / 4 {
                local = Array(local[used...])
            } else {
                local.removeSubrange(0..<used)
            }
        }
        inbuf = local
        _ = chargeInput(capacity: inbuf.capacity)   // the same or smaller: never refused
    }

    /// Consumes as many requests from `bytes` as possible; returns how many bytes were
    /// used. Stops when more bytes are needed, when a handler goes asynchronous, or
    /// when the socket stops taking our answers.
    private func process(_ bytes: UnsafeRawBufferPointer) -> Int {
        var off = 0
        while true {
            switch state.phase {
            case .idle, .readingHead:
                let available = bytes.count - off
                if available == 0 { return off }
                if state.phase == .idle { state.requestStarted(now: monotonicNanos()) }
                // A head can only complete with a line feed; rescanning on every byte of a
                // slow client would be quadratic. Past the request-line limit, always parse
                // so that the parser's limits decide.
                if available > headBytesSeen, available < context.configuration.limits.maxRequestLineBytes,
                   headBytesSeen > 0,
                   !UnsafeRawBufferPointer(rebasing: bytes[(off + headBytesSeen)...]).contains(10) {
                    headBytesSeen = available
                    return off
                }
                switch HTTPRequestParser.parseHead(UnsafeRawBufferPointer(rebasing: bytes[off...]), limits: context.configuration.limits) {
                case .incomplete:
                    headBytesSeen = available
                    return off
                case .invalid(let error):
                    reject(status: error.status, reason: error.metricLabel)
                    return bytes.count
                case .complete(let head, let consumed):
                    headBytesSeen = 0
                    off += consumed
                    beginRequest(head)
                }
            case .readingBody:
                guard current != nil else { return off }
                let input = UnsafeRawBufferPointer(rebasing: bytes[off...])
                guard reserveBody(forInput: input.count) else {
                    refuseOverBudget()
                    return bytes.count
                }
                // In place: the body stays uniquely referenced while it grows.
                let result = current!.decodeBody(input)
                switch result {
                case .needMore(let consumed):
                    off += consumed
                    return off
                case .done(let consumed):
                    off += consumed
                    dispatch()
                case .invalid(let error):
                    reject(status: error.status, reason: error.metricLabel)
                    return bytes.count
                }
            case .handling, .streaming, .closing, .lingering, .closed:
                return off
            }
            if writeBlocked { return off }
            // Many small pipelined answers: hand them to the socket in batches.
            if outbuf.count - outOffset >= 64 * 1024 {
                flush()
                if writeBlocked || state.phase == .closed { return off }
            }
        }
    }

    // MARK: Events, reading on/off

    /// After every event: write what is pending, read only when a request can progress.
    func afterEvent() {
        if state.phase == .closed { return }
        if outputPending && !writeBlocked { flush() }
        if state.phase == .closed { return }
        // Nothing was left to write (a close-delimited stream, say): the close can begin.
        if state.phase == .closing && !outputPending { drained() }
        setReading(state.readsInput && !writeBlocked)
        loop.updateEvictable(self)
    }

    private func setReading(_ on: Bool) {
        guard on != reading, state.phase != .closed else { return }
        reading = on
        updateInterest()
    }

    // MARK: Deadlines

    /// Called by the queue's timer once `state.hasExpired(at: now)`.
    func deadlineExpired(now: UInt64) {
        switch state.expiry(at: now, inputBuffered: !inbuf.isEmpty) {
        case .none:
            break
        case .close:
            closeNow()
        case .writeTimedOut:
            context.rejected(reason: "write_timeout", peer: peerText)
            closeNow()
        case .refuse(let status, let reason):
            reject(status: status, reason: reason)
            afterEvent()
        }
    }

    // MARK: Closing

    /// Shutdown began: close at once when between requests, else after this answer.
    func shutdownRequested() {
        if state.shutdownRequested(inputBuffered: !inbuf.isEmpty, outputPending: outputPending) { closeNow() }
    }

    /// The last answer is out (`state` is lingering): shut our write side and drain the
    /// peer's leftovers briefly (see `closeLingerTimeout`).
    func linger() {
        shutdown(fd, Int32(SHUT_WR))
        inbuf = []
        releaseInput()
        setReading(true)
    }

    /// Closes at once: cancels the handler task, fails a waiting stream write, releases
    /// the sources (the descriptor is closed once both have acknowledged).
    func closeNow() {
        guard state.close() else { return }
        task?.cancel()
        task = nil
        releaseBody()
        current = nil
        // A cancelled `.async` handler may hold its body a moment longer; the budget
        // counts the connection's buffers, and this one is no longer the connection's.
        context.budget.release(handlerBodyCharge)
        handlerBodyCharge = 0
        if let w = streamWaiter {
            streamWaiter = nil
            w.resume(throwing: BodyWriterError.closed)
        }
        inbuf = []
        releaseInput()
        outbuf = []
        outOffset = 0
        loop.remove(self, registered: registered)
        registered = false
        reading = false
        writeArmed = false
        close(fd)
        context.connectionGone()
    }
}
