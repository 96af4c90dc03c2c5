import HTTPWire
import Glibc

extension Connection {
    /// Writes pending output directly; only when the socket refuses (EAGAIN) is the
    /// socket watched for writability, with the write deadline.
    func flush() {
        while outOffset < outbuf.count {
            let n = outbuf.withUnsafeBytes { p in
                // MSG_NOSIGNAL: a peer that went away is EPIPE here, not SIGPIPE for the process.
                send(fd, p.baseAddress! + outOffset, p.count - outOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outOffset += n
                continue
            }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                if !writeArmed {
                    writeArmed = true
                    updateInterest()
                }
                state.writeStalled(now: monotonicNanos())
                return
            }
            closeNow()   // EPIPE, ECONNRESET: the peer is gone
            return
        }
        returnOutputBuffer()
        outOffset = 0
        drained()
    }

    /// Output buffers are lent by the queue: answers are built in the queue's spare
    /// buffer and given back once written, so steady traffic allocates nothing and an
    /// idle connection holds no output storage.
    func borrowOutputBuffer() {
        if outbuf.isEmpty && outbuf.capacity < 1024 && loop.spareOutput.capacity > 0 {
            swap(&outbuf, &loop.spareOutput)
        }
    }

    private func returnOutputBuffer() {
        if outbuf.capacity <= 256 * 1024 && outbuf.capacity > loop.spareOutput.capacity {
            outbuf.removeAll(keepingCapacity: true)
            swap(&outbuf, &loop.spareOutput)
        }
        outbuf = []
    }

    func onWritable() {
        guard state.phase != .closed, writeArmed else { return }
        let before = outOffset
        flush()
        if state.phase == .closed { return }
        if writeBlocked {
            if outOffset > before { state.writeStalled(now: monotonicNanos()) }   // progress renews it
            return
        }
        afterEvent()
    }

    /// Everything queued is in the kernel.
    func drained() {
        if writeArmed {
            writeArmed = false
            updateInterest()
        }
        if let w = streamWaiter {
            streamWaiter = nil
            w.resume()
        }
        switch state.outputDrained(now: monotonicNanos()) {
        case .linger:
            linger()
        case .readInput:
            processBuffered()
            if outputPending && !writeBlocked && state.phase != .closed { flush() }
        case .none:
            break
        }
    }

    // MARK: Streams

    func startStream(_ producer: @escaping @Sendable (any BodyWriter) async throws -> Void, request: RequestState,
                     status: Int, headBytes: Int, chunked: Bool, close: Bool, routePattern: String) {
        state.streamStarted()
        let writer = StreamWriter(connection: self, chunked: chunked)
        let info = StreamInfo(request: request, status: status, chunked: chunked, close: close, routePattern: routePattern)
        streamBytes = headBytes
        task = Task { [self] in
            let failed: Bool
            do { try await producer(writer); failed = false } catch { failed = true }
            loop.queue.async { [self] in streamFinished(info, failed: failed) }
        }
    }

    /// Called on the queue by `StreamWriter.write`.
    func streamWrite(_ bytes: [UInt8], chunked: Bool, continuation: CheckedContinuation<Void, any Error>) {
        // Streams end when the server stops (RFC 9110 §9.6 style: producers such as
        // event streams would otherwise hold shutdown for the whole grace period).
        guard state.phase == .streaming, !context.isShuttingDown else {
            continuation.resume(throwing: BodyWriterError.closed)
            return
        }
        let before = outbuf.count
        if chunked {
            bytes.withUnsafeBytes { ResponseEncoder.encodeChunk($0, into: &outbuf) }
        } else {
            outbuf.append(contentsOf: bytes)
        }
        streamBytes += outbuf.count - before
        streamWaiter = continuation
        flush()   // resumes the waiter once the bytes are in the kernel, or closeNow fails it
    }

    private func streamFinished(_ info: StreamInfo, failed: Bool) {
        guard state.phase == .streaming else { return }
        task = nil
        if failed || context.isShuttingDown {
            // An unfinished body must not look finished: no last chunk, just close.
            completed(info.request, status: info.status, bytes: streamBytes, routePattern: info.routePattern,
                      now: monotonicNanos())
            closeNow()
            return
        }
        if info.chunked {
            outbuf.append(contentsOf: ResponseEncoder.lastChunk)
            streamBytes += ResponseEncoder.lastChunk.count
        }
        finish(info.request, status: info.status, bytes: streamBytes, routePattern: info.routePattern, close: info.close)
        continueAfterAnswer()
    }
}

struct StreamInfo: Sendable {
    let request: RequestState
    let status: Int
    let chunked: Bool
    let close: Bool
    let routePattern: String
}

/// `BodyWriter` of a streamed answer: each write is one chunk, and returns once the
/// bytes are in the kernel (backpressure), or throws `.closed`.
struct StreamWriter: BodyWriter {
    let connection: Connection
    let chunked: Bool

    func write(_ bytes: [UInt8]) async throws {
        // An empty chunk would read as the end of the body.
        if bytes.isEmpty { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            connection.loop.queue.async { [connection, chunked] in
                connection.streamWrite(bytes, chunked: chunked, continuation: c)
            }
        }
    }
}
