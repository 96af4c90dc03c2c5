/// A connection's phase and deadline, as a value: every phase change and every deadline
/// is decided by the transitions below, which take the event and the current time
/// (monotonic nanoseconds) and return what the I/O shell (`Connection`) must do next.
/// The shell reads, parses and writes; it never sets a phase or a deadline itself, so
/// this file is the whole lifecycle, and it runs in tests on a manual clock.
///
/// Phases and their deadlines (Go `net/http`'s separate header, idle and write
/// deadlines; README configuration table):
///
/// | phase         | deadline                                     | when it runs out           |
/// |---------------|----------------------------------------------|----------------------------|
/// | `idle`        | header from accept (fresh connection),       | close, no answer           |
/// |               | idle from the last answer (keep-alive)       | close, no answer           |
/// | `readingHead` | header, from the request's first byte        | 408 and close              |
/// | `readingBody` | body, from the end of the head               | 408 and close              |
/// | `handling`    | none: an `.async` handler owns the time      |                            |
/// | `streaming`   | none between chunks                          |                            |
/// | `closing`     | none: the last answer is being written       |                            |
/// | `lingering`   | linger (`closeLingerTimeout`)                | close                      |
/// | `closed`      | none                                         |                            |
///
/// Writing is not a phase: answers are written in whatever phase produced them. While
/// the socket refuses bytes the write deadline replaces the phase's deadline (and is
/// renewed by progress); once everything is written, `outputDrained` arms the phase's
/// deadline again. Over the write deadline the connection closes.
struct ConnectionState {
    enum Phase: Equatable {
        /// No byte of a request yet: a fresh connection, or keep-alive between requests.
        case idle
        /// Some bytes of a request head, not all of it.
        case readingHead
        /// The head is complete; reading its body.
        case readingBody
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

    enum Deadline: Equatable { case none, header, body, idle, write, linger }

    /// The named deadlines of `HTTPServerConfiguration`, in nanoseconds.
    struct Timeouts: Sendable, Equatable {
        var header: UInt64
        var body: UInt64
        var idle: UInt64
        var write: UInt64
        var linger: UInt64

        init(header: UInt64, body: UInt64, idle: UInt64, write: UInt64, linger: UInt64) {
            self.header = header
            self.body = body
            self.idle = idle
            self.write = write
            self.linger = linger
        }

        init(_ c: HTTPServerConfiguration) {
            self.init(header: c.headerReadTimeout.nanoseconds, body: c.bodyReadTimeout.nanoseconds,
                      idle: c.idleTimeout.nanoseconds, write: c.writeTimeout.nanoseconds,
                      linger: c.closeLingerTimeout.nanoseconds)
        }
    }

    /// What the shell does when the deadline has run out.
    enum Expiry: Equatable {
        /// Not run out (or none applies).
        case none
        /// Close without an answer: idle, lingering, or a fresh connection that never sent a byte.
        case close
        /// The peer did not take our answer in time: count it, then close.
        case writeTimedOut
        /// A fixed answer (`status`, reason for metrics), then close (RFC 9110 §15.5.9).
        case refuse(status: Int, reason: String)
    }

    /// What the shell does once everything queued is in the kernel.
    enum AfterDrain: Equatable {
        case none
        /// Parse input that arrived while the answer was being written.
        case readInput
        /// The last answer is out: shut the write side and drain the peer's leftovers.
        case linger
    }

    let timeouts: Timeouts
    private(set) var phase: Phase = .idle
    private(set) var deadline: Deadline = .none
    /// When `deadline` runs out (monotonic nanoseconds); 0 when none applies.
    private(set) var expiresAt: UInt64 = 0
    /// First byte of the current request; 0 while `idle` (between requests).
    private(set) var requestStart: UInt64 = 0
    /// Answers completed on this connection.
    private(set) var served = 0
    /// Set by shutdown: the next answer carries `Connection: close`.
    private(set) var closeAfterResponse = false

    /// A fresh connection must produce a complete head within the header deadline,
    /// counted from accept.
    init(timeouts: Timeouts, acceptedAt now: UInt64) {
        self.timeouts = timeouts
        arm(.header, now)
    }

    // MARK: Queries

    /// Input is read: a request is (or may be) arriving, or leftovers are drained.
    var readsInput: Bool {
        switch phase {
        case .idle, .readingHead, .readingBody, .lingering: true
        case .handling, .streaming, .closing, .closed: false
        }
    }

    /// The last answer is decided: bytes after it are never parsed.
    var isFinishing: Bool { phase == .closing || phase == .lingering || phase == .closed }

    /// Which connections may be closed to admit a newcomer at the connection cap.
    enum Evictable: Equatable {
        /// Keep-alive between requests: nothing buffered, nothing to write (nginx reuses
        /// these first; RFC 9112 §9.3.2 lets a server close an idle connection at any time).
        case idle
        /// Still waiting for its first request head (silent or slow since accept): no
        /// request has been handled, so nothing is lost but a partial head.
        case awaitingFirstHead

        /// The observer's reason label (bounded).
        var metricLabel: String {
            switch self {
            case .idle: "evicted_idle"
            case .awaitingFirstHead: "evicted_awaiting_head"
            }
        }
    }

    /// Whether this connection may be evicted now, and as which kind. Never while a
    /// request is read past its head, handled, streamed or answered.
    func evictable(inputBuffered: Bool, outputPending: Bool) -> Evictable? {
        guard !outputPending else { return nil }
        switch phase {
        case .idle where served > 0: return inputBuffered ? nil : .idle
        case .idle, .readingHead: return served == 0 ? .awaitingFirstHead : nil
        case .readingBody, .handling, .streaming, .closing, .lingering, .closed: return nil
        }
    }

    func hasExpired(at now: UInt64) -> Bool { expiresAt != 0 && expiresAt <= now }

    /// The current request's age at `now` (0 between requests).
    func elapsed(at now: UInt64) -> UInt64 { requestStart == 0 ? 0 : now &- requestStart }

    /// Whether the answer being written ends the connection.
    func answerCloses(keepAlive: Bool, serverStopping: Bool) -> Bool {
        !keepAlive || closeAfterResponse || serverStopping
    }

    /// What the deadline asks for at `now`. `inputBuffered`: unparsed bytes are held.
    func expiry(at now: UInt64, inputBuffered: Bool) -> Expiry {
        guard hasExpired(at: now) else { return .none }
        switch deadline {
        case .none: return .none
        case .idle, .linger: return .close
        case .write: return .writeTimedOut
        case .header:
            // Never sent a byte: nothing to answer.
            if phase == .idle && !inputBuffered { return .close }
            return .refuse(status: 408, reason: "header_timeout")
        case .body: return .refuse(status: 408, reason: "body_timeout")
        }
    }

    // MARK: Transitions

    /// The first byte of a request arrived (in `idle`). Its header deadline runs from
    /// here on a keep-alive connection; a fresh connection's has run since accept.
    mutating func requestStarted(now: UInt64) {
        phase = .readingHead
        requestStart = now
        if served > 0 { arm(.header, now) }
    }

    /// The head is complete and a body follows.
    mutating func bodyStarted(now: UInt64) {
        phase = .readingBody
        arm(.body, now)
    }

    /// An `.async` handler runs: no deadline while it does.
    mutating func handlerStarted() {
        phase = .handling
        disarm()
    }

    /// A streamed answer's head is queued; the producer runs.
    mutating func streamStarted() {
        phase = .streaming
        disarm()
    }

    /// A fixed answer refused the request (parse error, timeout, body too large): it
    /// carries `Connection: close`, and nothing after it is read (RFC 9112 §9.6).
    mutating func refused() {
        phase = .closing
        disarm()
    }

    /// The answer is queued (or its stream ended). Keep-alive waits idle for the next
    /// request, with the idle deadline unless its bytes are already buffered.
    mutating func answered(close: Bool, inputBuffered: Bool, now: UInt64) {
        requestStart = 0
        served += 1
        // `closeAfterResponse` also covers a streamed answer whose head went out before
        // it was set: the connection ends once the stream is complete.
        if close || closeAfterResponse {
            phase = .closing
            disarm()
        } else {
            phase = .idle
            if !inputBuffered { arm(.idle, now) }
        }
    }

    /// The peer shut its write side (or went away). Returns true when the socket should
    /// close now. A partial message is abandoned (nobody is left to send the rest);
    /// answers already queued still go out (the peer may only have half-closed).
    mutating func peerClosed(outputPending: Bool) -> Bool {
        switch phase {
        case .idle, .readingHead, .readingBody:
            guard outputPending else { return true }
            phase = .closing
            disarm()
            return false
        case .lingering:
            return true
        case .handling, .streaming, .closing, .closed:
            return false
        }
    }

    /// The socket refused bytes, or took some after refusing: the write deadline runs
    /// from now (progress renews it).
    mutating func writeStalled(now: UInt64) {
        arm(.write, now)
    }

    /// Everything queued is in the kernel: the phase's own deadline applies again.
    mutating func outputDrained(now: UInt64) -> AfterDrain {
        switch phase {
        case .closing:
            phase = .lingering
            arm(.linger, now)
            return .linger
        case .idle:
            if served > 0 { arm(.idle, now) }
            return .readInput
        case .readingHead:
            if deadline != .header { arm(.header, now) }
            return .readInput
        case .readingBody:
            if deadline != .body { arm(.body, now) }
            return .none
        case .handling, .streaming:
            disarm()
            return .none
        case .lingering, .closed:
            return .none
        }
    }

    /// Shutdown began: later answers carry `Connection: close`. Returns true when the
    /// connection should close at once: idle with nothing buffered either way, or
    /// lingering (its last answer is out; nothing is lost by closing).
    mutating func shutdownRequested(inputBuffered: Bool, outputPending: Bool) -> Bool {
        closeAfterResponse = true
        return (phase == .idle && !inputBuffered && !outputPending) || phase == .lingering
    }

    /// The answer in progress ends the connection (`Connection: close`): input that
    /// could not be kept while a handler ran (over the buffer budget) was dropped.
    mutating func closeAfterAnswer() {
        closeAfterResponse = true
    }

    /// Closing now; false when already closed.
    mutating func close() -> Bool {
        guard phase != .closed else { return false }
        phase = .closed
        disarm()
        return true
    }

    // MARK: Deadline bookkeeping

    private mutating func arm(_ kind: Deadline, _ now: UInt64) {
        let nanos: UInt64
        switch kind {
        case .none: disarm(); return
        case .header: nanos = timeouts.header
        case .body: nanos = timeouts.body
        case .idle: nanos = timeouts.idle
        case .write: nanos = timeouts.write
        case .linger: nanos = timeouts.linger
        }
        deadline = kind
        expiresAt = now &+ nanos
    }

    private mutating func disarm() {
        deadline = .none
        expiresAt = 0
    }
}
