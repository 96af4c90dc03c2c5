import HTTPWire
import Logging
import Glibc

/// The request being read or answered on a connection.
struct RequestState: Sendable {
    var head: HTTPRequestHead
    var resolution: Router.Resolution
    var decoder: BodyDecoder
    var body: [UInt8] = []
    var requestID: String
    var keepAlive: Bool
    /// The body's cap (the route's, else the server's).
    var maxBody: Int
    /// Bytes of `body`'s capacity reserved from the buffer budget.
    var bodyCharge = 0
    /// No route takes this request: its body is read and dropped, never buffered.
    var discardsBody = false

    mutating func decodeBody(_ bytes: UnsafeRawBufferPointer) -> BodyDecodeResult {
        guard discardsBody else { return decoder.decode(bytes, into: &body) }
        var dropped: [UInt8] = []
        return decoder.decode(bytes, into: &dropped)
    }
}

extension Connection {
    /// The head is complete: resolve the route (so its body limit applies), then read
    /// the body or answer at once.
    func beginRequest(_ parsed: HTTPRequestHead) {
        var head = parsed
        let resolution = loop.router.route(&head)
        // A route's own cap, else the server's; GET and HEAD routes take none unless
        // they say so (`Route.maxBodyBytes`).
        var maxBody = context.configuration.limits.maxBodyBytes
        var routed = false
        if case .found(let route) = resolution {
            routed = true
            if let m = route.maxBodyBytes { maxBody = m }
        }
        var req = RequestState(
            head: head, resolution: resolution,
            decoder: BodyDecoder(framing: head.framing, maxBodyBytes: maxBody, limits: context.configuration.limits),
            requestID: RequestID.accept(head.headers[first: "X-Request-Id"]),
            keepAlive: head.keepAlive, maxBody: maxBody)
        req.discardsBody = !routed
        current = req
        if head.framing == .none {
            dispatch()
            return
        }
        if case .contentLength(let n) = head.framing, n > maxBody {
            // RFC 9110 §15.5.14; with Expect this is also the "final status instead of
            // 100" of §10.1.1. The body is not read: answer and close.
            reject(status: 413, reason: HTTPParseError.contentTooLarge.metricLabel)
            return
        }
        // A new body starts only with room for its first part (all of it when small):
        // over the budget it gets 503 now, before any 100 Continue.
        guard reserveInitialBody() else {
            refuseOverBudget()
            return
        }
        if head.expectsContinue {
            guard case .found = resolution else {
                // The route already refuses: final answer instead of 100, then close (§10.1.1).
                current?.keepAlive = false
                dispatch()
                return
            }
            borrowOutputBuffer()
            outbuf.append(contentsOf: ResponseHead.continueLine)
        }
        state.bodyStarted(now: monotonicNanos())
    }

    /// The body is complete: run the handler (inline for `.sync`, in a Task for `.async`).
    /// `Router.respond(to:)` answers the same way in process.
    func dispatch() {
        // `current` is read in place: a copy of the whole request would retain every field.
        guard current != nil else { return }
        switch current!.resolution {
        case .notFound:
            respond(Router.notFoundAnswer(), routePattern: "")
        case .methodNotAllowed(let pattern, let allowed):
            respond(Router.methodNotAllowedAnswer(allowed: allowed), routePattern: pattern)
        case .found(let route):
            let head = current!.head
            let (client, scheme) = context.clientAndScheme(headers: head.headers, peer: peer, peerText: peerText,
                                                           peerTrusted: peerTrusted)
            var body: [UInt8] = []
            swap(&body, &current!.body)   // the handler owns the body now
            // Its budget goes when the handler is done with it.
            let bodyCharge = current!.bodyCharge
            current!.bodyCharge = 0
            let request = Request(head: head, body: body, remoteAddress: client, scheme: scheme,
                                  requestID: current!.requestID, routePattern: route.pattern)
            switch route.handler {
            case .sync(let handler):
                let response = handler(request)
                context.budget.release(bodyCharge)
                respond(response, routePattern: route.pattern)
            case .async(let handler):
                handlerBodyCharge = bodyCharge
                state.handlerStarted()
                let pattern = route.pattern
                task = Task { [self] in
                    let response = await handler(request)
                    loop.queue.async { [self] in asyncFinished(response, routePattern: pattern) }
                }
            }
        }
    }

    private func asyncFinished(_ response: Response, routePattern: String) {
        guard state.phase == .handling else { return }   // closed meanwhile: the answer has nowhere to go
        task = nil
        context.budget.release(handlerBodyCharge)
        handlerBodyCharge = 0
        respond(response, routePattern: routePattern)
        continueAfterAnswer()
    }

    /// After an asynchronous answer: next pipelined request, then reading again.
    func continueAfterAnswer() {
        if state.phase == .idle && !writeBlocked { processBuffered() }
        afterEvent()
    }

    /// A fixed answer for a refused request (parse error, timeout, oversized body):
    /// `Connection: close`, never echoing input; reading stops and the socket closes
    /// once the answer is out (RFC 9112 §9.6).
    func reject(status: Int, reason: String, fixed: [UInt8]? = nil) {
        let id = RequestID.next()   // fresh: nothing of the refused input is echoed
        context.rejected(reason: reason, peer: peerText, requestID: id)
        releaseBody()
        current = nil
        borrowOutputBuffer()
        Self.appendFixed(fixed ?? ResponseEncoder.fixedResponse(status: status), date: loop.dateHeader(),
                         requestID: id, into: &outbuf)
        state.refused()
    }

    /// The wire's fixed answer with `Date` and `X-Request-Id` added before the blank
    /// line (every answer carries both).
    static func appendFixed(status: Int, date: [UInt8], requestID: String, into out: inout [UInt8]) {
        appendFixed(ResponseEncoder.fixedResponse(status: status), date: date, requestID: requestID, into: &out)
    }

    static func appendFixed(_ fixed: [UInt8], date: [UInt8], requestID: String, into out: inout [UInt8]) {
        var end = -1
        var i = 0
        while i + 3 < fixed.count {
            if fixed[i] == 13 && fixed[i + 1] == 10 && fixed[i + 2] == 13 && fixed[i + 3] == 10 { end = i; break }
            i += 1
        }
        guard end >= 0 else { out.append(contentsOf: fixed); return }
        out.append(contentsOf: fixed[0..<(end + 2)])
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date)
        out.append(contentsOf: "\r\nX-Request-Id: ".utf8)
        out.append(contentsOf: requestID.utf8)
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: fixed[(end + 2)...])
    }

    // MARK: Answers

    /// Queues the answer to `current` (head and body in one buffer, written with one
    /// call), logs it, and moves to the next request, a stream, or closing.
    func respond(_ response: Response, routePattern: String) {
        guard let req = current.take() else { return }
        context.budget.release(req.bodyCharge)   // 0 unless an unread body is dropped here
        let head = req.head
        let isHEAD = head.method == .HEAD
        let close = state.answerCloses(keepAlive: req.keepAlive, serverStopping: context.isShuttingDown)
        let status = response.status
        let bodyless = (100..<200).contains(status) || status == 204 || status == 304
        let connectionHeader: ResponseHead.ConnectionHeader =
            close ? .close : (head.version == .http1_0 ? .keepAlive : .omit)
        borrowOutputBuffer()
        let before = outbuf.count

        switch response.body {
        case .bytes(var body):
            var headers = response.headers
            if !bodyless, body.count >= context.configuration.gzipMinimumBytes {
                compressIfWanted(&body, headers: &headers, request: head.headers)
            }
            ResponseHead.write(status: status, headers: headers, framing: bodyless ? .none : .length(body.count),
                               date: loop.dateHeader(), requestID: req.requestID, connection: connectionHeader, into: &outbuf)
            if !bodyless && !isHEAD { outbuf.append(contentsOf: body) }
            finish(req, status: status, bytes: outbuf.count - before, routePattern: routePattern, close: close)
        case .stream(let producer):
            let chunked = head.version != .http1_0
            let framing: ResponseHead.Framing = bodyless ? .none : (chunked ? .chunked : .none)
            // HTTP/1.0 has no chunking: the body ends with the connection (RFC 9112 §6.3 item 8).
            let mustClose = close || (!chunked && !bodyless && !isHEAD)
            ResponseHead.write(status: status, headers: response.headers, framing: framing, date: loop.dateHeader(),
                               requestID: req.requestID, connection: mustClose ? .close : connectionHeader, into: &outbuf)
            if bodyless || isHEAD {
                finish(req, status: status, bytes: outbuf.count - before, routePattern: routePattern, close: mustClose)
                return
            }
            startStream(producer, request: req, status: status, headBytes: outbuf.count - before,
                        chunked: chunked, close: mustClose, routePattern: routePattern)
        }
    }

    /// gzip when the client accepts it and the type is compressible (RFC 9110 §8.4);
    /// `Vary` is set whenever the choice depended on `Accept-Encoding`.
    private func compressIfWanted(_ body: inout [UInt8], headers: inout HTTPHeaders, request: HTTPHeaders) {
        guard !headers.contains(name: "Content-Encoding"),
              Gzip.isCompressible(contentType: headers[first: "Content-Type"]) else { return }
        addVary(&headers)
        guard Gzip.accepts(request), let z = Gzip.compress(body) else { return }
        body = z
        headers.add(name: "Content-Encoding", value: "gzip")
    }

    private func addVary(_ headers: inout HTTPHeaders) {
        for v in headers[all: "Vary"] where v.contains("*") { return }
        if headers.containsToken("Accept-Encoding", in: "Vary") { return }
        headers.add(name: "Vary", value: "Accept-Encoding")
    }

    /// The answer to `req` is queued in full (or its stream ended): log it, then on to
    /// the next request or to closing.
    func finish(_ req: RequestState, status: Int, bytes: Int, routePattern: String, close: Bool) {
        let now = monotonicNanos()
        completed(req, status: status, bytes: bytes, routePattern: routePattern, now: now)
        state.answered(close: close, inputBuffered: !inbuf.isEmpty, now: now)
    }

    func completed(_ req: RequestState, status: Int, bytes: Int, routePattern: String, now: UInt64) {
        let nanos = state.elapsed(at: now)
        context.observer?.requestCompleted(method: req.head.method, routePattern: routePattern, status: status,
                                           bytesSent: bytes, duration: .nanoseconds(Int64(clamping: nanos)))
        guard context.logsAccess(routePattern: routePattern) else { return }
        if let sink = context.accessLog {
            sink.record(AccessRecord(method: req.head.method, path: req.head.path, status: status, bytes: bytes,
                                     durationNanos: nanos, requestID: req.requestID,
                                     clientAddress: clientAddress(req.head.headers)))
            return
        }
        context.logger.info("request", metadata: [
            "http.method": .stringConvertible(req.head.method),
            "http.path": .string(String(req.head.path)),
            "http.status": .stringConvertible(status),
            "http.bytes": .stringConvertible(bytes),
            "http.duration_ms": .string(Self.milliseconds(nanos)),
            "request.id": .string(req.requestID),
            "client.address": .string(clientAddress(req.head.headers)),
        ])
    }

    /// The forwarded client when the peer is a trusted proxy, else the peer.
    func clientAddress(_ headers: HTTPHeaders) -> String {
        guard peerTrusted else { return peerText }
        return context.clientAndScheme(headers: headers, peer: peer, peerText: peerText, peerTrusted: true).0
    }

    static func milliseconds(_ nanos: UInt64) -> String {
        let micros = nanos / 1000
        let frac = micros % 1000
        return "\(micros / 1000).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac)"
    }
}
