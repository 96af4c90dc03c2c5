import Foundation
import JSON

/// Per-environment queue bookkeeping (anthropic.md §8.1: a FIFO, a pending map, workers).
struct AnthropicEnvironmentQueue: Sendable {
    let key: String
    /// The key was revoked (`POST /_emulator/environments/{id}/revoke`): it answers 401
    /// as an unknown credential does, until restored.
    var revoked = false
    /// Item ids still `queued`, oldest first; pending ones stay here until acked or stopped.
    var fifo: [String] = []
    /// Items handed out by a poll and not acked yet → when they were handed out (§2.2).
    var pending: [String: Date] = [:]
    /// `Anthropic-Worker-ID` → last poll, for `workers_polling` (§1, §2).
    var workers: [String: Date] = [:]
    /// Every item of the environment in creation order (work list).
    var all: [String] = []
}

/// The emulator's whole state as a value: the work-queue state machine of
/// anthropic.md §2.2–§2.3 and §8.1 plus the scripted sessions of §8. Pure: every
/// operation takes `now`, so unit tests drive it with a manual clock. The emulator
/// keeps it behind one `Mutex`.
public struct AnthropicEmulatorState: Sendable {
    var environments: [String: AnthropicEnvironmentQueue] = [:]
    public internal(set) var items: [String: AnthropicWorkRecord] = [:]
    public internal(set) var sessions: [String: AnthropicSessionRecord] = [:]
    /// Sessions token → session id.
    var tokens: [String: String] = [:]
    /// Environments and agents created through the API (`AnthropicEmulator+Setup`).
    var setup = AnthropicSetupRecords()
    let defaultEnvironmentID: String
    let apiKey: String
    let heartbeatTTLSeconds: Int
    let workersPollingWindow: TimeInterval
    let maximumCallsKeptPerItem: Int

    /// Literal the SDK sends on the first heartbeat of a lease (§2.3).
    public static let noHeartbeat = "NO_HEARTBEAT"

    public init(configuration: AnthropicEmulatorConfiguration) {
        for (id, key) in configuration.environments { environments[id] = AnthropicEnvironmentQueue(key: key) }
        defaultEnvironmentID = configuration.environmentID
        apiKey = configuration.apiKey
        heartbeatTTLSeconds = configuration.heartbeatTTLSeconds
        let w = configuration.workersPollingWindow.components
        workersPollingWindow = TimeInterval(w.seconds) + TimeInterval(w.attoseconds) / 1e18
        maximumCallsKeptPerItem = configuration.maximumCallsKeptPerItem
    }

    static func time(_ date: Date) -> String { RFC3339.format(date) }

    // MARK: Creating work

    /// Creates a scripted session and enqueues its work item (§8.1). The first script
    /// step (a tool call, or the end when there is none) is emitted at once. Without
    /// `workSecret` the item's `secret` is null, as for items that carry no sessions token.
    public mutating func createSession(environmentID: String?, metadata: [String: String],
                                       toolCalls: [AnthropicScriptedToolCall], end: AnthropicSessionEnd,
                                       workMetadata: [String: String] = [:], dataMetadata: [String: String]? = nil,
                                       workSecret: Bool = true,
                                       now: Date) throws(AnthropicEmulatorError) -> (sessionID: String, workID: String) {
        let env = environmentID ?? defaultEnvironmentID
        guard environments[env] != nil else { throw .notFound("environment not found") }
        let sessionID = RandomID.make(prefix: "sesn_")
        var token: String
        repeat { token = "sk-ant-req-emu-" + RandomID.hex(bytes: 4) } while tokens[token] != nil
        let secretJSON = JSONValue.object([("sessions_token", .string(token))])
        let workID = enqueue(environmentID: env, dataType: "session", sessionID: sessionID, metadata: workMetadata,
                             dataMetadata: dataMetadata, secret: workSecret ? RandomID.base64URL(secretJSON.bytes) : nil,
                             now: now)
        tokens[token] = sessionID
        sessions[sessionID] = AnthropicSessionRecord(id: sessionID, environmentID: env, workID: workID,
                                                     metadata: metadata, token: token, createdAt: Self.time(now),
                                                     script: toolCalls, end: end)
        advanceScript(sessionID, now: now)
        return (sessionID, workID)
    }

    /// A new run of an existing, not terminated session (a user message after an idle):
    /// a new work item for the same session, with a secret for the same sessions token,
    /// and a new script. Returns the new work id.
    public mutating func startRun(sessionID: String, toolCalls: [AnthropicScriptedToolCall], end: AnthropicSessionEnd,
                                  now: Date) throws(AnthropicEmulatorError) -> String {
        guard var session = sessions[sessionID] else { throw .notFound("session not found") }
        guard !session.isTerminated else { throw .invalidRequest("session is terminated") }
        let secretJSON = JSONValue.object([("sessions_token", .string(session.token))])
        let workID = enqueue(environmentID: session.environmentID, dataType: "session", sessionID: sessionID,
                             metadata: [:], dataMetadata: nil, secret: RandomID.base64URL(secretJSON.bytes), now: now)
        session.workID = workID
        session.status = "running"
        session.script = toolCalls
        session.awaitingToolUseID = nil
        session.end = end
        sessions[sessionID] = session
        advanceScript(sessionID, now: now)
        return workID
    }

    /// Enqueues a `healthcheck` item (§3: the queue can deliver them; rule 8).
    public mutating func enqueueHealthcheck(environmentID: String?, metadata: [String: String],
                                            now: Date) throws(AnthropicEmulatorError) -> String {
        let env = environmentID ?? defaultEnvironmentID
        guard environments[env] != nil else { throw .notFound("environment not found") }
        return enqueue(environmentID: env, dataType: "healthcheck", sessionID: nil, metadata: metadata,
                       dataMetadata: nil, secret: nil, now: now)
    }

    private mutating func enqueue(environmentID: String, dataType: String, sessionID: String?, metadata: [String: String],
                                  dataMetadata: [String: String]?, secret: String?, now: Date) -> String {
        let id = RandomID.make(prefix: "work_")
        items[id] = AnthropicWorkRecord(id: id, environmentID: environmentID, createdDate: now, createdAt: Self.time(now),
                                        ttlSeconds: heartbeatTTLSeconds, metadata: metadata, dataType: dataType,
                                        sessionID: sessionID, dataMetadata: dataMetadata, secret: secret)
        environments[environmentID]?.fifo.append(id)
        environments[environmentID]?.all.append(id)
        return id
    }

    // MARK: Work queue (§2, §8.1)

    /// Reclaims stale pending items, then hands out the oldest free queued item with
    /// its `secret`, or nil ("no work" → `200 null`, §2.1).
    public mutating func poll(environmentID: String, reclaimOlderThanMilliseconds: Int, workerID: String?,
                              now: Date) throws(AnthropicEmulatorError) -> JSONValue? {
        guard var q = environments[environmentID] else { throw .notFound("environment not found") }
        defer { environments[environmentID] = q }
        if let workerID, !workerID.isEmpty { q.workers[workerID] = now }
        let reclaimAge = TimeInterval(reclaimOlderThanMilliseconds) / 1000
        // §2.2: a pending (un-acked) item older than the poller's reclaim age is free again.
        for (id, handedOut) in q.pending where now.timeIntervalSince(handedOut) > reclaimAge {
            q.pending[id] = nil
        }
        guard let id = q.fifo.first(where: { q.pending[$0] == nil }), let item = items[id] else { return nil }
        q.pending[id] = now
        return item.json(includeSecret: true)
    }

    /// Seconds until the oldest pending item becomes reclaimable for a poller with this
    /// reclaim age (nil when nothing is pending): a long poll wakes up then instead of
    /// waiting out its whole `block_ms`.
    public func secondsUntilReclaimable(environmentID: String, reclaimOlderThanMilliseconds: Int, now: Date) -> TimeInterval? {
        guard let oldest = environments[environmentID]?.pending.values.min() else { return nil }
        return max(0, TimeInterval(reclaimOlderThanMilliseconds) / 1000 - now.timeIntervalSince(oldest))
    }

    public mutating func ack(environmentID: String, workID: String, now: Date) throws(AnthropicEmulatorError) -> JSONValue {
        var item = try record(environmentID, workID)
        // §2 error table: a second ack is a 409 (the emulator's choice, §8.1).
        guard item.state == .queued else { throw .conflict("work item is not queued (state \(item.state.rawValue))") }
        item.state = .starting
        item.acknowledgedAt = Self.time(now)
        dequeue(item)
        items[workID] = item
        return item.json(includeSecret: false)
    }

    public mutating func heartbeat(environmentID: String, workID: String, expected: String?, desiredTTLSeconds: Int?,
                                   now: Date) throws(AnthropicEmulatorError) -> JSONValue {
        var item = try record(environmentID, workID)
        if let desiredTTLSeconds { item.ttlSeconds = desiredTTLSeconds }
        // §2.3: no comparison once stopping/stopped; the lease is not extended.
        if item.state == .stopping || item.state == .stopped {
            items[workID] = item
            return heartbeatJSON(item, extended: false)
        }
        guard let expected else { throw .invalidRequest("expected_last_heartbeat is required") }
        guard item.state != .queued else { throw .conflict("work item has not been acknowledged") }
        let matches = expected == Self.noHeartbeat ? item.lastHeartbeat == nil : expected == item.lastHeartbeat
        guard matches else {
            throw .api(AnthropicAPIFailure(
                status: 412, type: "invalid_request_error", message: "lease is held by another worker",
                details: .object([
                    ("error_code", .string("heartbeat_precondition_failed")),
                    ("current_state", .object([
                        ("state", .string(item.state.rawValue)),
                        ("ttl_seconds", .int(item.ttlSeconds)),
                        ("last_heartbeat", .optionalString(item.lastHeartbeat)),
                        ("lease_extended", .bool(false)),
                    ])),
                ])))
        }
        var stamp = Self.time(now)
        if stamp == item.lastHeartbeat { stamp = Self.time(now.addingTimeInterval(0.000_001)) }
        item.lastHeartbeat = stamp
        item.latestHeartbeatAt = stamp
        if item.state == .starting {
            item.state = .active
            item.startedAt = stamp
        }
        items[workID] = item
        return heartbeatJSON(item, extended: true)
    }

    private func heartbeatJSON(_ item: AnthropicWorkRecord, extended: Bool) -> JSONValue {
        .object([
            ("type", .string("work_heartbeat")),
            ("last_heartbeat", .string(item.lastHeartbeat ?? "")),
            ("lease_extended", .bool(extended)),
            ("state", .string(item.state.rawValue)),
            ("ttl_seconds", .int(item.ttlSeconds)),
        ])
    }

    public mutating func stop(environmentID: String, workID: String, force: Bool,
                              now: Date) throws(AnthropicEmulatorError) -> JSONValue {
        var item = try record(environmentID, workID)
        // §2.4 / §8.1: already stopped → 409 with x-should-retry: false.
        guard item.state != .stopped else { throw .conflict("work item is already stopped") }
        dequeue(item)
        if force {
            item.state = .stopped
            item.stoppedAt = Self.time(now)
        } else if item.state != .stopping {
            item.state = .stopping
            item.stopRequestedAt = Self.time(now)
        }
        items[workID] = item
        return item.json(includeSecret: false)
    }

    public func retrieve(environmentID: String, workID: String) throws(AnthropicEmulatorError) -> JSONValue {
        try record(environmentID, workID).json(includeSecret: false)
    }

    /// Merge: a string upserts, nil deletes (§2 update).
    public mutating func update(environmentID: String, workID: String,
                                metadata: [(String, String?)]) throws(AnthropicEmulatorError) -> JSONValue {
        var item = try record(environmentID, workID)
        for (key, value) in metadata { item.metadata[key] = value }
        items[workID] = item
        return item.json(includeSecret: false)
    }

    /// Page cursors are `page_<offset>`: opaque to clients, cheap to check here.
    public func list(environmentID: String, limit: Int, page: String?) throws(AnthropicEmulatorError) -> JSONValue {
        guard let q = environments[environmentID] else { throw .notFound("environment not found") }
        var offset = 0
        if let page {
            guard page.hasPrefix("page_"), let o = Int(page.dropFirst(5)), o >= 0, o <= q.all.count else {
                throw .invalidRequest("page is not a cursor this server issued")
            }
            offset = o
        }
        let slice = q.all[offset..<min(q.all.count, offset + limit)]
        let next = offset + slice.count < q.all.count ? JSONValue.string("page_\(offset + slice.count)") : .null
        return .object([("data", .array(slice.compactMap { items[$0]?.json(includeSecret: false) })), ("next_page", next)])
    }

    public func stats(environmentID: String, now: Date) throws(AnthropicEmulatorError) -> JSONValue {
        guard let q = environments[environmentID] else { throw .notFound("environment not found") }
        let pending = q.fifo.filter { q.pending[$0] != nil }.count
        let oldest = q.fifo.compactMap { items[$0]?.createdDate }.min()
        let workers = q.workers.values.filter { now.timeIntervalSince($0) <= workersPollingWindow }.count
        return .object([
            ("type", .string("work_queue_stats")),
            ("depth", .int(q.fifo.count - pending)),
            ("pending", .int(pending)),
            ("oldest_queued_at", oldest.map { .string(Self.time($0)) } ?? .null),
            ("workers_polling", .int(workers)),
        ])
    }

    /// Appends to an item's call history (bounded), for the control surface.
    public mutating func recordCall(workID: String, kind: String, status: Int, injected: Bool, now: Date) {
        guard items[workID] != nil else { return }
        items[workID]!.calls.append(AnthropicWorkCall(kind: kind, at: Self.time(now), status: status, injected: injected))
        if items[workID]!.calls.count > maximumCallsKeptPerItem { items[workID]!.calls.removeFirst() }
    }

    func record(_ environmentID: String, _ workID: String) throws(AnthropicEmulatorError) -> AnthropicWorkRecord {
        guard environments[environmentID] != nil else { throw .notFound("environment not found") }
        guard let item = items[workID], item.environmentID == environmentID else { throw .notFound("work item not found") }
        return item
    }

    private mutating func dequeue(_ item: AnthropicWorkRecord) {
        environments[item.environmentID]?.fifo.removeAll { $0 == item.id }
        environments[item.environmentID]?.pending[item.id] = nil
    }
}
