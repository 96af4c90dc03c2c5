public enum BodyDecodeResult: Sendable, Equatable {
    /// The body is not finished; `consumed` bytes were used (decoded into `body` or
    /// framing). Keep the rest and call again with more bytes appended.
    case needMore(consumed: Int)
    /// Body (and trailers) complete; bytes after `consumed` belong to the next request.
    case done(consumed: Int)
    case invalid(HTTPParseError)
}

/// Decodes a request body framed by Content-Length or chunked transfer coding
/// (RFC 9112 §6, §7.1) from whatever bytes have arrived, appending the payload to the
/// caller's buffer. Incremental: it keeps its position between calls and never consumes
/// a partial chunk-size or trailer line (those are bounded by `maxChunkLineBytes` and
/// `maxTrailerBytes`, so the caller never buffers more than that of framing).
public struct BodyDecoder: Sendable {
    @usableFromInline
    enum State: Sendable, Equatable {
        case contentLength(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case done
        case failed(HTTPParseError)
    }

    @usableFromInline var state: State
    @usableFromInline let maxBodyBytes: Int
    @usableFromInline let limits: HTTPLimits
    /// Payload bytes decoded so far (chunked), compared with `maxBodyBytes`.
    @usableFromInline var decodedBytes = 0
    @usableFromInline var trailerBytes = 0
    @usableFromInline var trailerCount = 0

    public init(framing: BodyFraming, maxBodyBytes: Int, limits: HTTPLimits) {
        self.maxBodyBytes = maxBodyBytes
        self.limits = limits
        switch framing {
        case .none:
            state = .done
        case .contentLength(let n):
            if n < 0 {
                state = .failed(.badRequest(reason: .contentLength))
            } else if n > maxBodyBytes {
                state = .failed(.contentTooLarge)
            } else {
                state = n == 0 ? .done : .contentLength(remaining: n)
            }
        case .chunked:
            state = .chunkSize
        }
    }

    /// True once the body and trailers are complete.
    public var isComplete: Bool { state == .done }

    /// Payload bytes still to come of a Content-Length body; nil for chunked framing
    /// (whose total is unknown until its last chunk) and once the body is complete.
    public var remainingContentLength: Int? {
        if case .contentLength(let remaining) = state { return remaining }
        return nil
    }

    /// At most how many payload bytes the next `decode` of `inputCount` bytes appends:
    /// lets the caller reserve room (and charge a memory budget) before it grows the
    /// body. Framing never counts as payload, so for chunked bodies this is an upper bound.
    public func payloadBound(forInput inputCount: Int) -> Int {
        switch state {
        case .contentLength(let remaining): min(remaining, inputCount)
        case .chunkSize, .chunkData, .chunkDataEnd: min(inputCount, max(0, maxBodyBytes &- decodedBytes) &+ chunkDataPending)
        case .trailers, .done, .failed: 0
        }
    }

    /// Payload bytes of the current chunk not yet appended (already counted in `decodedBytes`).
    @usableFromInline var chunkDataPending: Int {
        if case .chunkData(let remaining) = state { return remaining }
        return 0
    }

    public mutating func decode(_ buffer: UnsafeRawBufferPointer, into body: inout [UInt8]) -> BodyDecodeResult {
        let count = buffer.count
        var i = 0
        while true {
            switch state {
            case .done:
                return .done(consumed: i)
            case .failed(let error):
                return .invalid(error)
            case .contentLength(let remaining):
                let n = min(remaining, count &- i)
                if n > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i..<(i &+ n)])) }
                i &+= n
                if n == remaining { state = .done; continue }
                state = .contentLength(remaining: remaining &- n)
                return .needMore(consumed: i)
            case .chunkData(let remaining):
                let n = min(remaining, count &- i)
                if n > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i..<(i &+ n)])) }
                i &+= n
                if n == remaining { state = .chunkDataEnd; continue }
                state = .chunkData(remaining: remaining &- n)
                return .needMore(consumed: i)
            case .chunkDataEnd:
                // RFC 9112 §7.1: chunk-data is followed by exactly CRLF.
                guard i < count else { return .needMore(consumed: i) }
                guard buffer[i] == ByteClass.cr else { return fail(.badRequest(reason: .chunkData)) }
                guard i &+ 1 < count else { return .needMore(consumed: i) }
                guard buffer[i &+ 1] == ByteClass.lf else { return fail(.badRequest(reason: .chunkData)) }
                i &+= 2
                state = .chunkSize
            case .chunkSize:
                switch scanChunkLine(buffer, from: i) {
                case .incomplete: return .needMore(consumed: i)
                case .invalid(let error): return fail(error)
                case .line(let size, let next):
                    i = next
                    state = size == 0 ? .trailers : .chunkData(remaining: size)
                    decodedBytes &+= size
                }
            case .trailers:
                let room = max(0, limits.maxTrailerBytes &- trailerBytes)
                let bound = room < count &- i ? i &+ room : count
                switch FieldLineScanner.scan(buffer, from: i, bound: bound) {
                case .incomplete:
                    if bound < count { return fail(.headerFieldsTooLarge) }
                    return .needMore(consumed: i)
                case .invalid(let reason):
                    // Line-ending errors keep their name; every other field error is a bad trailer.
                    return fail(.badRequest(reason: reason == .bareLF || reason == .bareCR ? reason : .trailer))
                case .end(let next):
                    trailerBytes &+= next &- i
                    i = next
                    state = .done
                case .field(_, _, _, _, let next):
                    // Trailers are validated, bounded and discarded: nothing downstream
                    // needs them and RFC 9110 §6.5.1 forbids merging them into the headers.
                    trailerCount &+= 1
                    if trailerCount > limits.maxHeaderCount { return fail(.headerFieldsTooLarge) }
                    trailerBytes &+= next &- i
                    i = next
                }
            }
        }
    }

    @inline(__always)
    mutating func fail(_ error: HTTPParseError) -> BodyDecodeResult {
        state = .failed(error)
        return .invalid(error)
    }
}
