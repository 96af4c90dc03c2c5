import Foundation
import APIClient
import Logging
import Synchronization

/// Takes work from the queue and hands session items to a `WorkHandler`.
///
/// ONE routine serves both shapes (rule 2): `drain()` (webhook-triggered: no
/// `block_ms`, reclaim 2000, ends at the first empty poll that follows a success;
/// after a failure it polls once more when the reclaim window has passed) and `runForever()`
/// (always-on: `block_ms` 999, reclaim 2000, U(1,3) s after an empty poll).
/// A launch slot is taken BEFORE each poll (rule 6) and kept by the handler's
/// child task; items are acked at once (rule 5); handed-off items are never
/// stopped or heartbeated (rule 9).
public final class Drainer: Sendable {
    enum Shape: String { case drain, alwaysOn = "always_on" }

    private struct State {
        var health = DrainHealth()
        var nextLaunchID: UInt64 = 0
        /// Launch id → work id, for every launch holding a slot.
        var launching: [UInt64: String] = [:]
        var nextWaiterID: UInt64 = 0
        var idleWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    /// One launch, run as a child task of the launch group.
    typealias LaunchJob = @Sendable () async -> Void

    let client: WorkClient
    private let handler: any WorkHandler
    let configuration: DrainerConfiguration
    let logger: Logger
    let sleeper: any Sleeper
    private let random: @Sendable () -> Double
    private let mayClaim: @Sendable () -> Bool
    private let observer: (any DrainerObserver)?
    let slots: AsyncSemaphore
    private let state = Mutex(State())
    /// Failed force-stops, retried for minutes (rule 37).
    public let pendingStops: PendingStops
    /// Launches are child tasks of one task group, fed through this stream: cancelling
    /// the group at the shutdown deadline cancels every launch still running.
    private let launchJobs: AsyncStream<LaunchJob>.Continuation
    private let launchGroup: Task<Void, Never>

    /// - Parameters:
    ///   - random: values in [0, 1) for jitter and the empty-poll sleep (tests pin it).
    ///   - mayClaim: rule 47 gate; no poll happens while it returns false
    ///     (the lead passes "template check passed").
    ///   - observer: hears failed calls, force-stops and health changes (metrics).
    public init(client: WorkClient, handler: any WorkHandler, configuration: DrainerConfiguration = DrainerConfiguration(),
                logger: Logger, sleeper: any Sleeper = ContinuousSleeper(),
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                mayClaim: (@Sendable () -> Bool)? = nil, observer: (any DrainerObserver)? = nil) {
        self.client = client
        self.handler = handler
        self.configuration = configuration
        self.logger = logger
        self.sleeper = sleeper
        self.random = random
        self.mayClaim = mayClaim ?? { true }
        self.observer = observer
        self.slots = AsyncSemaphore(value: max(1, configuration.launchSlots))
        pendingStops = PendingStops(client: client, retryWindow: configuration.forceStopRetryWindow, logger: logger,
                                    sleeper: sleeper, random: random, observer: observer)
        let (jobs, continuation) = AsyncStream.makeStream(of: LaunchJob.self)
        launchJobs = continuation
        launchGroup = Task {
            await withDiscardingTaskGroup { group in
                for await job in jobs { group.addTask { await job() } }
            }
        }
    }

    deinit {
        launchJobs.finish()
    }

    public var health: DrainHealth { state.withLock { $0.health } }

    /// Webhook shape: ends at an empty poll that follows a success; handed-off
    /// launches keep their slots and finish on their own. `.gaveUp` when it stopped
    /// for another reason (failures in a row, the rule 47 gate), so that the scheduler
    /// owes the triggers it absorbed another drain.
    @discardableResult
    public func drain() async -> DrainEnd {
        let started = sleeper.uptime()
        let end = await run(.drain)
        logger.debug("queue.drain.ended", metadata: [
            "drain.end": "\(end)", "drain.ms": "\((sleeper.uptime() - started).milliseconds)",
        ])
        return end
    }

    /// Always-on shape, until the calling task is cancelled (or a fatal poll error,
    /// reported in `health.configurationError`). On cancellation it stops polling
    /// and waits for handed-off launches to finish.
    public func runForever() async {
        _ = await run(.alwaysOn)
        await waitForLaunches()
    }

    /// Waits until no launch holds a slot (or the calling task is cancelled).
    public func waitForLaunches() async {
        let waiterID: UInt64 = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now: Bool = state.withLock { s in
                    if s.launching.isEmpty || Task.isCancelled { return true }
                    s.idleWaiters[waiterID] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.idleWaiters.removeValue(forKey: waiterID) }?.resume()
        }
    }

    /// Whether this process is launching `workID` right now (the reconciler leaves it alone).
    public func isLaunching(workID: String) -> Bool {
        state.withLock { $0.launching.values.contains(workID) }
    }

    /// The bounded end of launches at shutdown (claiming has stopped already): launches
    /// may finish until `finishBy`; then the rest are cancelled, and each cancelled
    /// launch force-stops its item with a reason saying so (rule 37, `.shutdown`).
    /// Returns once every launch has ended or `giveUpAt` has passed; the number of
    /// launches cancelled.
    @discardableResult
    public func stopLaunches(finishBy: ContinuousClock.Instant, giveUpAt: ContinuousClock.Instant) async -> Int {
        await waitForLaunches(until: finishBy)
        let left = state.withLock { $0.launching.count }
        guard left > 0 else { return 0 }
        logger.warning("shutdown.launches_cancelled", metadata: ["launch.count": "\(left)"])
        launchJobs.finish()
        launchGroup.cancel()
        await waitForLaunches(until: giveUpAt)
        return left
    }

    /// `waitForLaunches`, or until `deadline`, whichever comes first.
    func waitForLaunches(until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in await waitForLaunches() }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: the one routine (rule 2)

    private func run(_ shape: Shape) async -> DrainEnd {
        let backoff = Backoff(cap: configuration.pollBackoffCap, random: random)
        var pollFailures = 0   // separate counters (anthropic.md §4)
        var ackFailures = 0
        // After a failed poll or ack, an item may sit claimed but unacked (its poll
        // answer lost, or its ack refused) and comes back only once the reclaim window
        // has passed. So the drain does not take the next empty poll as the end: it
        // polls once more at this time, and ends at an empty poll that follows a success.
        var recheckAt: Duration?
        updateHealth { $0.polling = true }
        defer { updateHealth { $0.polling = false } }
        while !Task.isCancelled {
            let result = await claimOne(shape)
            var wait: Duration?
            switch result {
            case .cancelled:
                return .finished
            case .gated:
                // Rule 47: claim nothing until the template check passes.
                if shape == .drain {
                    logger.info("queue.drain.gated")
                    return .gaveUp
                }
                wait = configuration.gateRecheckInterval
            case .claimed:
                pollFailures = 0
                ackFailures = 0
            case .ackFatalStopped:
                pollFailures = 0
            case .empty:
                pollFailures = 0
                if shape == .drain {
                    guard let at = recheckAt else { return .finished }
                    recheckAt = nil
                    let left = at - sleeper.uptime()
                    logger.debug("queue.drain.recheck", metadata: ["drain.wait_ms": "\(max(.zero, left).milliseconds)"])
                    if left > .zero { wait = left }
                } else {
                    let span = configuration.emptyPollSleep
                    wait = .milliseconds(Int64(((span.lowerBound + (span.upperBound - span.lowerBound) * random()) * 1000).rounded()))
                }
            case .pollFailed(let error, .transient):
                pollFailures += 1
                recheckAt = sleeper.uptime() + reclaimRecheck
                logger.warning("queue.poll.failed", metadata: [
                    "error.message": "\(error)", "retry.attempt": "\(pollFailures)", "drain.shape": "\(shape.rawValue)",
                ])
                if shape == .drain, pollFailures >= configuration.drainMaxFailures { return gaveUp(pollFailures, call: .poll) }
                wait = backoff.delay(attempt: pollFailures - 1, hint: error.retryAfter)
            case .pollFailed(let error, _):
                // Rule 33: a fatal poll answer (401, 403, 404) is a configuration problem,
                // reported on /status, in metrics and the log. A drain ends; the always-on
                // loop retries slowly, so a key fixed upstream recovers without a restart.
                logger.error("queue.poll.fatal", metadata: ["error.message": "\(error)", "drain.shape": "\(shape.rawValue)"])
                updateHealth { $0.configurationError = error.description }
                if shape == .drain { return .gaveUp }
                wait = configuration.fatalPollRetryInterval
            case .ackFailed(let error):
                pollFailures = 0
                ackFailures += 1
                // The item stays claimed until the reclaim window passes (rule 7).
                recheckAt = sleeper.uptime() + reclaimRecheck
                if shape == .drain, ackFailures >= configuration.drainMaxFailures { return gaveUp(ackFailures, call: .ack) }
                wait = backoff.delay(attempt: ackFailures - 1, hint: error.retryAfter)
            }
            if let wait {
                guard (try? await sleeper.sleep(for: wait)) != nil else { return .finished }
            }
        }
        return .finished
    }

    /// How long after a failure the drain polls again for an item the failure may
    /// have left claimed: the reclaim window plus a margin.
    private var reclaimRecheck: Duration {
        .milliseconds(configuration.reclaimOlderThanMs) + configuration.reclaimRecheckMargin
    }

    private func gaveUp(_ failures: Int, call: AnthropicCall) -> DrainEnd {
        logger.warning("queue.drain.gave_up", metadata: ["retry.attempt": "\(failures)", "queue.call": "\(call.rawValue)"])
        return .gaveUp
    }

    enum ClaimResult {
        case claimed, empty, cancelled, gated, ackFatalStopped
        case pollFailed(WorkQueueError, ErrorDisposition)
        case ackFailed(WorkQueueError)
    }

    /// One slot, one poll, at most one item: ack, filter, hand off.
    private func claimOne(_ shape: Shape) async -> ClaimResult {
        guard mayClaim() else { return .gated }
        // Rule 6: only poll while a launch slot is free.
        do { try await slots.wait() } catch { return .cancelled }
        // The gate may have closed while this waited for a slot.
        guard mayClaim() else {
            slots.signal()
            return .gated
        }
        let item: WorkItem?
        do {
            item = try await client.poll(blockMs: shape == .alwaysOn ? configuration.alwaysOnBlockMs : nil,
                                         reclaimOlderThanMs: configuration.reclaimOlderThanMs)
            updateHealth { h in
                h.lastSuccess = Date()
                h.configurationError = nil
            }
        } catch {
            slots.signal()
            if error.isCancellation || Task.isCancelled { return .cancelled }
            let disposition = ErrorClassifier.disposition(of: error, for: .poll)
            recordError(error, call: .poll, disposition)
            return .pollFailed(error, disposition)
        }
        guard let item else {
            slots.signal()
            return .empty
        }
        var meta: Logger.Metadata = ["work.id": "\(item.id)"]
        if let session = item.sessionID { meta["session.id"] = "\(session)" }
        // Rule 5: ack at once, before any slow step.
        do {
            try await client.ack(workID: item.id)
        } catch {
            slots.signal()
            let disposition = ErrorClassifier.disposition(of: error, for: .ack)
            recordError(error, call: .ack, disposition)
            if disposition == .transient {
                // Rule 7: do not launch; the item becomes reclaimable.
                logger.warning("queue.ack.transient", metadata: meta.merging(["error.message": "\(error)"]) { $1 })
                return .ackFailed(error)
            }
            logger.error("queue.ack.fatal", metadata: meta.merging(["error.message": "\(error)"]) { $1 })
            await forceStop(item, .ackFailed, reason: "ack failed: \(error)")
            return .ackFatalStopped
        }
        // Rule 8: nothing to run for non-session items (healthcheck, …).
        guard item.dataType == "session" else {
            slots.signal()
            await forceStop(item, .notSession, reason: "not a session item (data.type \(Self.printable(item.dataType)))")
            return .claimed
        }
        guard let sessionID = item.sessionID, !sessionID.isEmpty else {
            slots.signal()
            await forceStop(item, .notSession, reason: "session item without data.id")
            return .claimed
        }
        // Rule 26 (amended): refused by default, before any hand-off.
        if configuration.refuseSecretless, item.sessionsToken == nil {
            slots.signal()
            await forceStop(item, .secretless, reason: Self.secretlessReason)
            return .claimed
        }
        launch(item)
        return .claimed
    }

    /// Runs the handler in a child task of the launch group; it holds the slot taken
    /// before the poll.
    private func launch(_ item: WorkItem) {
        let id: UInt64 = state.withLock { s in
            s.nextLaunchID += 1
            s.launching[s.nextLaunchID] = item.id
            s.health.launchesInFlight = s.launching.count
            return s.nextLaunchID
        }
        let job: LaunchJob = { [self] in
            defer { finishLaunch(id) }
            let outcome = await handler.handle(item, from: self)
            if case .failed(let reason) = outcome {
                // Rule 37: nothing holds the item; stop it so it does not hang. A launch
                // cancelled at the shutdown deadline says so in its reason.
                if Task.isCancelled {
                    await forceStop(item, .shutdown, reason: Self.shutdownReason + ": " + reason)
                } else {
                    await forceStop(item, .launchFailed, reason: reason)
                }
            }
            // .handedOff: never stop, never heartbeat (rule 9).
        }
        if case .terminated = launchJobs.yield(job) {
            // Launches were closed by a shutdown between the claim and here.
            Task { [self] in
                defer { finishLaunch(id) }
                await forceStop(item, .shutdown, reason: Self.shutdownReason)
            }
        }
    }

    /// What a launch cancelled at the shutdown deadline is stopped with.
    public static let shutdownReason = "shutting down: launch cancelled at the shutdown deadline (CMA_SHUTDOWN_GRACE_SECONDS)"

    private func finishLaunch(_ id: UInt64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.launching[id] = nil
            s.health.launchesInFlight = s.launching.count
            guard s.launching.isEmpty else { return [] }
            defer { s.idleWaiters.removeAll() }
            return Array(s.idleWaiters.values)
        }
        slots.signal()
        for waiter in waiters { waiter.resume() }
    }

    /// Force-stops an item this drainer claimed (rules 7, 8, 37).
    /// What a refused secret-less item is stopped with: why, and the operator's way out.
    public static let secretlessReason =
        "work item has no secret with a sessions token; set CMA_REQUIRE_WORK_SECRET=false to pass the runner the environment key"

    func forceStop(_ item: WorkItem, _ cause: ForceStopReason, reason: String) async {
        await forceStop(workID: item.id, sessionID: item.sessionID, cause, reason: reason)
    }

    /// The one force-stop of an acked item: `{"force":true}`; 409 = already stopped
    /// = done (rules 7, 8, 37). Public for a failure found after the hand-off (rules
    /// 30, 37), which the app reports through the drainer that claimed the item.
    /// `cause` is the bounded class of `reason` for metrics; `reason` is logged.
    public func forceStop(workID: String, sessionID: String?, _ cause: ForceStopReason = .other, reason: String) async {
        var meta: Logger.Metadata = ["work.id": "\(workID)", "stop.reason": "\(reason)"]
        if let sessionID { meta["session.id"] = "\(sessionID)" }
        logger.warning("queue.item.force_stop", metadata: meta)
        // Its own task: a launch cancelled at the shutdown deadline still gets its stop
        // out (cancellation would end the call before it is sent).
        let client = self.client
        let result = await Task { () -> Result<StopOutcome, WorkQueueError> in
            do throws(WorkQueueError) { return .success(try await client.stop(workID: workID, force: true)) } catch {
                return .failure(error)
            }
        }.value
        switch result {
        case .success(let outcome):
            pendingStops.seenStopped(workID: workID)
            meta["stop.outcome"] = outcome == .stopped ? "stopped" : "already_stopped"
            logger.info("queue.item.stopped", metadata: meta)
            observer?.itemForceStopped(cause, outcome: outcome)
        case .failure(let error):
            recordError(error, call: .stop, ErrorClassifier.disposition(of: error, for: .stop))
            meta["error.message"] = "\(error)"
            logger.error("queue.item.stop_failed", metadata: meta)
            // Not given up: retried with backoff for minutes (rule 37).
            pendingStops.retry(workID: workID, sessionID: sessionID, cause, reason: reason)
        }
    }

    private func recordError(_ error: WorkQueueError, call: AnthropicCall, _ disposition: ErrorDisposition) {
        observer?.workQueueCallFailed(call, disposition)
        updateHealth { h in
            h.lastError = error.description
            h.lastErrorAt = Date()
        }
    }

    private func updateHealth(_ body: (inout DrainHealth) -> Void) {
        state.withLock { body(&$0.health) }
        observer?.drainHealthChanged()
    }

    /// data.type comes from the server; keep log text bounded and printable.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }.prefix(64).map(Character.init))
        return cleaned.isEmpty ? "none" : cleaned
    }
}
