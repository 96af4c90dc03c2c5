import HTTPWire

/// The connection's share of the buffer budget (`BufferBudget`): every growth of
/// `inbuf` or of a request body is reserved first, at the capacity it will have, and
/// released when the storage goes. Over the budget the request gets 503 with
/// `Retry-After` and `Connection: close`.
extension Connection {
    /// A body starts with room for this much (or its whole declared length, if smaller),
    /// then doubles as bytes arrive, up to its declared length or cap.
    static let initialBodyCapacity = 16 * 1024
    /// A Content-Length body up to this size is reserved whole when its head arrives
    /// (one allocation, no regrowth: webhooks are a few KiB).
    static let wholeBodyReservation = 64 * 1024

    // MARK: Input (partial heads, pipelined bytes)

    /// Appends `bytes` to `inbuf`, growing it only once the budget granted the room.
    /// False: nothing appended, the budget is spent.
    func bufferInput(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let needed = inbuf.count + bytes.count
        if needed > inbuf.capacity {
            // Grow by half again, so a slow client's head costs a few reallocations, not one per read.
            let target = max(needed, inbuf.capacity + inbuf.capacity / 2)
            guard chargeInput(capacity: target) else { return false }
            inbuf.reserveCapacity(target)
        }
        inbuf.append(contentsOf: bytes)
        return true
    }

    /// Sets `inbuf`'s charge to what a buffer of `capacity` costs beyond the head
    /// allowance. False when that needs more than the budget has.
    func chargeInput(capacity: Int) -> Bool {
        let want = max(0, capacity - context.budget.headAllowance)
        if want > inbufCharge {
            guard context.budget.reserve(want - inbufCharge) else { return false }
        } else {
            context.budget.release(inbufCharge - want)
        }
        inbufCharge = want
        return true
    }

    /// `inbuf`'s storage is gone (consumed, dropped, or closing).
    func releaseInput() {
        context.budget.release(inbufCharge)
        inbufCharge = 0
    }

    // MARK: Bodies

    /// Reserves the first part of the body `current` announces. False: over budget.
    func reserveInitialBody() -> Bool {
        guard current != nil, !current!.discardsBody else { return true }
        let first: Int
        if let declared = current!.decoder.remainingContentLength {
            first = declared <= Self.wholeBodyReservation ? declared : Self.initialBodyCapacity
        } else {
            first = min(current!.maxBody, Self.initialBodyCapacity)
        }
        return growBody(to: first)
    }

    /// Makes room in `current`'s body for what decoding `inputCount` more bytes can
    /// append. False: over budget.
    func reserveBody(forInput inputCount: Int) -> Bool {
        guard current != nil, !current!.discardsBody else { return true }
        let needed = current!.body.count + current!.decoder.payloadBound(forInput: inputCount)
        guard needed > current!.body.capacity, needed > current!.bodyCharge else { return true }
        var target = max(needed, current!.bodyCharge * 2, Self.initialBodyCapacity)
        // Never past what the body can still be: its declared length, else its cap.
        let most = current!.decoder.remainingContentLength.map { current!.body.count + $0 } ?? current!.maxBody
        target = max(needed, min(target, most))
        return growBody(to: target)
    }

    /// Reserves up to `capacity` for `current`'s body, then gives the body that room.
    private func growBody(to capacity: Int) -> Bool {
        let extra = capacity - current!.bodyCharge
        guard extra > 0 else { return true }
        guard context.budget.reserve(extra) else { return false }
        current!.bodyCharge = capacity
        current!.body.reserveCapacity(capacity)
        return true
    }

    /// `current`'s body is dropped unread (refused or closing).
    func releaseBody() {
        guard current != nil else { return }
        context.budget.release(current!.bodyCharge)
        current!.bodyCharge = 0
    }

    // MARK: Refusing

    /// The budget could not take this connection's bytes. Reading a head or body: 503
    /// with `Retry-After` and `Connection: close`. While a handler or stream owns the
    /// connection an answer cannot be sent before its own: the bytes that did not fit
    /// are dropped and that answer ends the connection (nothing after it is read).
    func refuseOverBudget() {
        switch state.phase {
        case .idle, .readingHead, .readingBody:
            reject(status: 503, reason: "budget",
                   fixed: ResponseEncoder.fixedUnavailable(retryAfterSeconds: context.configuration.budgetRetryAfterSeconds))
        case .handling, .streaming:
            context.rejected(reason: "budget", peer: peerText)
            state.closeAfterAnswer()
        case .closing, .lingering, .closed:
            break
        }
    }
}
