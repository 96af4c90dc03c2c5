import HTTPServer
import HTTPWire
import JSON

/// `GET /v1/sessions/{id}/events/stream` (anthropic.md §8): server-sent events.
extension AnthropicEmulator {
    /// The stream starts at the events appended after this call (the runner lists the
    /// history itself after opening the stream, §8 step 4); when the session has
    /// already ended it replays just the terminal event so the runner ends at once.
    func streamResponse(sessionID: String) -> Response {
        let start: Int = state.withLock { s in
            guard let session = s.sessions[sessionID] else { return 0 }
            return session.isTerminated ? max(0, session.events.count - 1) : session.events.count
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        return Response(status: 200, headers: headers, body: .stream { [self] writer in
            try await self.pump(sessionID: sessionID, from: start, to: writer)
        })
    }

    /// One frame per event: `event:` line (frames without one are dropped by the SDK),
    /// one `data:` line of JSON, blank line. Pings while idle (the SDK's read timeout
    /// is 600 s). Returns after a terminal event (EOF), at shutdown, or when the peer
    /// is gone (`write` throws).
    private func pump(sessionID: String, from start: Int, to writer: any BodyWriter) async throws {
        let key = Self.sessionKey(sessionID)
        var cursor = start
        logger.debug("anthropic.emulator.stream.opened", metadata: ["session.id": "\(sessionID)"])
        defer { logger.debug("anthropic.emulator.stream.closed", metadata: ["session.id": "\(sessionID)"]) }
        // A first frame right away, so the head and an event reach the client before
        // anything happens in the session.
        try await writer.write(Self.pingFrame)
        while true {
            let generation = signal.generation(key)
            guard let (events, terminated) = state.withLock({ $0.events(sessionID: sessionID, from: cursor) }) else { return }
            for event in events {
                try await writer.write(Self.frame(event))
                cursor += 1
            }
            if terminated { return }
            switch await signal.wait(key, ifGenerationIs: generation, timeout: configuration.ssePingInterval) {
            case .notified: continue
            case .timedOut: try await writer.write(Self.pingFrame)
            case .cancelled, .closed: return
            }
        }
    }

    static let pingFrame = Array("event: ping\ndata: {\"type\":\"ping\"}\n\n".utf8)

    static func frame(_ event: JSONValue) -> [UInt8] {
        Array("event: message\ndata: \(event.serialized)\n\n".utf8)
    }
}
