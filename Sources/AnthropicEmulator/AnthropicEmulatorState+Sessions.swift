import Foundation
import JSON

/// Scripted sessions (anthropic.md §8, §8.1): the agent side of one run.
extension AnthropicEmulatorState {
    /// Types whose arrival answers the awaited tool call and lets the script go on.
    static let resultTypes: Set<String> = ["user.tool_result", "user.custom_tool_result"]

    /// Emits the next script step: the next `agent.tool_use`, or, when every call has
    /// its result, the end (`session.status_terminated`, or `session.status_idle` with
    /// `end_turn`).
    mutating func advanceScript(_ sessionID: String, now: Date) {
        guard var s = sessions[sessionID], s.awaitingToolUseID == nil, !s.isTerminated else { return }
        let at = Self.time(now)
        let eventID = RandomID.make(prefix: "sevt_")
        if !s.script.isEmpty {
            let call = s.script.removeFirst()
            s.events.append(.object([
                ("type", .string("agent.tool_use")),
                ("id", .string(eventID)),
                ("name", .string(call.name)),
                ("input", call.input),
                ("evaluated_permission", .string(call.evaluatedPermission)),
                ("processed_at", .string(at)),
            ]))
            s.awaitingToolUseID = eventID
            s.status = "running"
        } else if s.status != "idle" {
            switch s.end {
            case .terminate:
                s.events.append(.object([("type", .string("session.status_terminated")), ("id", .string(eventID)),
                                         ("processed_at", .string(at))]))
                s.status = "terminated"
            case .idle:
                s.events.append(.object([("type", .string("session.status_idle")), ("id", .string(eventID)),
                                         ("stop_reason", .object([("type", .string("end_turn"))])),
                                         ("processed_at", .string(at))]))
                s.status = "idle"
            }
        }
        sessions[sessionID] = s
    }

    public func session(_ sessionID: String) throws(AnthropicEmulatorError) -> JSONValue {
        guard let s = sessions[sessionID] else { throw .notFound("session not found") }
        return s.json
    }

    /// History page (§8 step 4): `page_<offset>` cursors, `next_page` null on the last page.
    public func events(sessionID: String, limit: Int, page: String?) throws(AnthropicEmulatorError) -> JSONValue {
        guard let s = sessions[sessionID] else { throw .notFound("session not found") }
        var offset = 0
        if let page {
            guard page.hasPrefix("page_"), let o = Int(page.dropFirst(5)), o >= 0, o <= s.events.count else {
                throw .invalidRequest("page is not a cursor this server issued")
            }
            offset = o
        }
        let slice = s.events[offset..<min(s.events.count, offset + limit)]
        let next = offset + slice.count < s.events.count ? JSONValue.string("page_\(offset + slice.count)") : .null
        return .object([("data", .array(Array(slice))), ("next_page", next)])
    }

    /// Stores posted events with an id and `processed_at` (§8 minimal table) and, when
    /// one answers the awaited tool call, emits the next script step. Returns the stored events.
    public mutating func appendEvents(sessionID: String, _ posted: [JSONValue],
                                      now: Date) throws(AnthropicEmulatorError) -> [JSONValue] {
        guard var s = sessions[sessionID] else { throw .notFound("session not found") }
        guard !posted.isEmpty else { throw .invalidRequest("events must not be empty") }
        var stored: [JSONValue] = []
        var answered = false
        for event in posted {
            guard event.objectValue != nil, let type = event["type"]?.stringValue else {
                throw .invalidRequest("every event needs a string type")
            }
            var e = event
            e.set("id", .string(RandomID.make(prefix: "sevt_")))
            e.set("processed_at", .string(Self.time(now)))
            stored.append(e)
            guard let awaited = s.awaitingToolUseID else { continue }
            if Self.resultTypes.contains(type),
               (event["tool_use_id"]?.stringValue ?? event["custom_tool_use_id"]?.stringValue) == awaited {
                answered = true
            }
            // A denied call gets no result (§8 step 5); the script moves on as well.
            if type == "user.tool_confirmation", event["tool_use_id"]?.stringValue == awaited,
               event["result"]?.stringValue == "deny" {
                answered = true
            }
        }
        s.events.append(contentsOf: stored)
        if answered { s.awaitingToolUseID = nil }
        sessions[sessionID] = s
        if answered { advanceScript(sessionID, now: now) }
        return stored
    }

    /// Events from `cursor` on, for a live stream, and whether the session has ended.
    func events(sessionID: String, from cursor: Int) -> (events: ArraySlice<JSONValue>, terminated: Bool)? {
        guard let s = sessions[sessionID] else { return nil }
        return (s.events[min(cursor, s.events.count)...], s.isTerminated)
    }
}
