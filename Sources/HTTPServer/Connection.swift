import Dispatch
import HTTPWire
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    enum Phase {
        /// Waiting for (more of) a request head.
        case head
        /// Reading the body of `current`.
        case body
        /// An `.async` handler is running.
        case handling
        /// A streamed body is being produced.
        case streaming
        /// The last answer carries `Connection: close`; writing what is left.
        case closing
        /// Write side shut; draining unread input briefly before close.
        case lingering
        case closed
    }

    enum DeadlineKind { case none, header, body, idle, write, linger }

    let fd: Int32
    let loop: ConnectionLoop
    let context: ServerContext
    let peer: IPAddress?
    let peerTrusted: Bool
    private(set) lazy var peerText: String = peer?.text ?? "unknown"

    var phase: Phase = .head
    /// Monotonic nanoseconds; 0 when no deadline applies (a handler is running).
    var deadline: UInt64 = 0
    var deadlineKind: DeadlineKind = .none

    /// What the socket is watched for in the queue's epoll set.
    private var reading = false
    var writeArmed = false
    private var registered = false

    /// Unparsed input (empty, and without storage, between requests).
    var inbuf: [UInt8] = []
    /// Bytes of the head seen so far when it was last incomplete (to skip reparsing
    /// until a line feed arrives).
    private var headBytesSeen = 0
    /// Output not yet taken by the socket, from `outOffset`.
    var outbuf: [UInt8] = []
    var outOffset = 0
    var writeBlocked: Bool { writeArmed }

    /// Start of the current request (first byte) for durations; 0 between requests.
    var requestStart: UInt64 = 0
    var served = 0
    var current: RequestState?
    /// Set by shutdown: the next answer carries `Connection: close`.
    var closeAfterResponse = false
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
    }

    func start() {
        // A fresh connection must produce a complete head within the header deadline,
        // counted from accept.
        setDeadline(.header, context.headerTimeoutNanos)
        reading = true
        updateInterest()
    }

    func updateInterest() {
        registered = loop.watch(fd, read: reading, write: writeArmed, registered: registered)
    }

    // MARK: Reading

    func onReadable() {
        guard reading else { return }
        var rounds = 0
        while rounds < 4, phase == .head || phase == .body || phase == .lingering, !writeBlocked {
            rounds += 1
            let n = read(fd, loop.scratch.baseAddress, loop.scratch.count)
            if n > 0 {
                if phase == .lingering { continue }
                received(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                if n < loop.scratch.count { break }
            } else if n == 0 {
                peerClosed()
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

    /// The peer shut its write side (or went away).
    private func peerClosed() {
        switch phase {
        case .head, .body:
            // Nothing more can complete: a partial message is abandoned (no answer:
            // nobody is left to send the rest of it). Answers already queued still go
            // out (the peer may only have half-closed), then the socket closes.
            if outOffset < outbuf.count {
                phase = .closing
                setDeadline(.none, 0)
            } else {
                closeNow()
            }
        case .lingering:
            closeNow()
        default:
            break
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        if inbuf.isEmpty {
            let used = process(bytes)
            if used < bytes.count, phase != .closed, phase != .closing, phase != .lingering {
                inbuf.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...]))
            }
        } else {
            inbuf.append(contentsOf: bytes)
            processBuffered()
        }
    }

    /// Runs the state machine over `inbuf` (after an answer, or when more bytes came).
    func processBuffered() {
        guard !inbuf.isEmpty else { return }
        // Move the bytes out so that nothing below can touch `inbuf` while we read it.
        var local: [UInt8] = []
        swap(&local, &inbuf)
        let used = local.withUnsafeBytes { process($0) }
        guard phase != .closed, phase != .closing, phase != .lingering else { return }
        if used < local.count {
            if used > 0 { local.removeSubrange(0..<used) }
            inbuf = local
        }
    }

    /// Consumes as many requests from `bytes` as possible; returns how many bytes were
    /// used. Stops when more bytes are needed, when a handler goes asynchronous, or
    /// when the socket stops taking our answers.
    private func process(_ bytes: UnsafeRawBufferPointer) -> Int {
        var off = 0
        while true {
            switch phase {
            case .head:
                let available = bytes.count - off
                if available == 0 { return off }
                if requestStart == 0 {
                    requestStart = monotonicNanos()
                    // Header deadline from the first byte (a fresh connection's runs from accept).
                    if served > 0 { setDeadline(.header, context.headerTimeoutNanos) }
                }
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
            case .body:
                guard current != nil else { return off }
                // In place: the body stays uniquely referenced while it grows.
                let result = current!.decodeBody(UnsafeRawBufferPointer(rebasing: bytes[off...]))
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
                if writeBlocked || phase == .closed { return off }
            }
        }
    }

    // MARK: Events, reading on/off

    /// After every event: write what is pending, read only when a request can progress.
    func afterEvent() {
        if phase == .closed { return }
        if outOffset < outbuf.count && !writeBlocked { flush() }
        if phase == .closed { return }
        if phase == .closing && outOffset >= outbuf.count { startLinger() }
        let wantRead: Bool
        switch phase {
        case .head, .body, .lingering: wantRead = !writeBlocked
        default: wantRead = false
        }
        setReading(wantRead)
    }

    private func setReading(_ on: Bool) {
        guard on != reading, phase != .closed else { return }
        reading = on
        updateInterest()
    }

    // MARK: Deadlines

    func setDeadline(_ kind: DeadlineKind, _ nanos: UInt64) {
        deadlineKind = kind
        deadline = kind == .none ? 0 : monotonicNanos() &+ nanos
    }

    /// Deadline for the phase we are in once nothing is waiting to be written.
    func armPhaseDeadline() {
        switch phase {
        case .head:
            if requestStart == 0 {
                if served > 0 { setDeadline(.idle, context.idleTimeoutNanos) }
            } else if deadlineKind != .header {
                setDeadline(.header, context.headerTimeoutNanos)
            }
        case .body:
            if deadlineKind != .body { setDeadline(.body, context.bodyTimeoutNanos) }
        case .handling, .streaming, .closing:
            setDeadline(.none, 0)
        case .lingering:
            if deadlineKind != .linger { setDeadline(.linger, context.lingerNanos) }
        case .closed:
            setDeadline(.none, 0)
        }
    }

    func deadlineExpired() {
        switch deadlineKind {
        case .none:
            deadline = 0
        case .idle, .linger:
            closeNow()
        case .write:
            context.rejected(reason: "write_timeout", peer: peerText)
            closeNow()
        case .header:
            if requestStart == 0 && inbuf.isEmpty {
                // Never sent a byte: nothing to answer.
                closeNow()
            } else {
                reject(status: 408, reason: "header_timeout")
                afterEvent()
            }
        case .body:
            reject(status: 408, reason: "body_timeout")
            afterEvent()
        }
    }

    // MARK: Closing

    /// Shutdown began: close at once when between requests, else after this answer.
    func shutdownRequested() {
        closeAfterResponse = true
        let idle = phase == .head && requestStart == 0 && inbuf.isEmpty && outOffset >= outbuf.count
        // A lingering connection has had its last answer: nothing is lost by closing it.
        if idle || phase == .lingering { closeNow() }
    }

    /// Output is all written and the last answer said `Connection: close`: shut our
    /// write side and drain the peer's leftovers briefly (see `closeLingerTimeout`).
    func startLinger() {
        phase = .lingering
        shutdown(fd, Int32(SHUT_WR))
        inbuf = []
        setDeadline(.linger, context.lingerNanos)
        setReading(true)
    }

    /// Closes at once: cancels the handler task, fails a waiting stream write, releases
    /// the sources (the descriptor is closed once both have acknowledged).
    func closeNow() {
        guard phase != .closed else { return }
        phase = .closed
        setDeadline(.none, 0)
        task?.cancel()
        task = nil
        current = nil
        if let w = streamWaiter {
            streamWaiter = nil
            w.resume(throwing: BodyWriterError.closed)
        }
        inbuf = []
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
