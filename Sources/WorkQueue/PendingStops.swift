import APIClient
import Foundation
import Logging
import Synchronization

/// Force-stops whose call failed, retried with backoff until one succeeds, the item is
/// seen stopped (409, or the reconciler's list), or `retryWindow` (minutes) runs out.
///
/// An acked item that nobody stops stays acked for ever and its session hangs (rule 37,
/// anthropic.md §2.2), so a stop is not given up after the work client's three quick
/// attempts. The count shows on `/status` and in `cma_work_pending_stops`. What is still
/// pending when the process stops is logged; the reconciler of any replica finds those
/// items again (acked, no heartbeat, old).
public final class PendingStops: Sendable {
    private struct Entry {
        var sessionID: String?
        var cause: ForceStopReason
        var task: Task<Void, Never>?
    }

    let client: WorkClient
    /// How long one stop is retried (`CMA_FORCE_STOP_RETRY_SECONDS`, 600 s).
    public let retryWindow: Duration
    private let backoff: Backoff
    private let logger: Logger
    private let sleeper: any Sleeper
    private let observer: (any DrainerObserver)?
    private let entries = Mutex<[String: Entry]>([:])
    /// Set at shutdown: waits between attempts shrink to `hurriedInterval`.
    private let hurried = Atomic<Bool>(false)
    static let hurriedInterval: Duration = .milliseconds(500)

    public init(client: WorkClient, retryWindow: Duration = .seconds(600), backoffCap: Duration = .seconds(30),
                logger: Logger, sleeper: any Sleeper = ContinuousSleeper(),
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                observer: (any DrainerObserver)? = nil) {
        self.client = client
        self.retryWindow = retryWindow
        self.backoff = Backoff(cap: backoffCap, random: random)
        self.logger = logger
        self.sleeper = sleeper
        self.observer = observer
    }

    /// Stops being retried now.
    public var count: Int { entries.withLock { $0.count } }

    public func contains(workID: String) -> Bool { entries.withLock { $0[workID] != nil } }

    /// Retries `workID`'s force-stop in the background (one retry loop per item).
    func retry(workID: String, sessionID: String?, _ cause: ForceStopReason, reason: String) {
        let added: Bool = entries.withLock { all in
            guard all[workID] == nil else { return false }
            all[workID] = Entry(sessionID: sessionID, cause: cause, task: nil)
            return true
        }
        guard added else { return }
        changed()
        let task = Task { [self] in await loop(workID: workID, sessionID: sessionID, cause, reason: reason) }
        let finishedAlready: Bool = entries.withLock { all in
            guard all[workID] != nil else { return true }
            all[workID]?.task = task
            return false
        }
        if finishedAlready { task.cancel() }
    }

    /// The item is stopped (a list showed it, or another stop got through): no more retries.
    public func seenStopped(workID: String) {
        guard let entry = remove(workID) else { return }
        entry.task?.cancel()
        logger.info("queue.item.stop_confirmed", metadata: ["work.id": "\(workID)", "stop.outcome": "seen_stopped"])
        observer?.itemForceStopped(entry.cause, outcome: .alreadyStopped)
    }

    /// Shutdown: try each pending stop again at once and every `hurriedInterval`, until
    /// `deadline`; what is left then is logged and abandoned. Returns how many were left.
    @discardableResult
    public func flush(until deadline: ContinuousClock.Instant) async -> Int {
        // Each loop hears this within one backoff slice (1 s) and then tries every 0.5 s.
        hurried.store(true, ordering: .releasing)
        while count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(100), ContinuousClock.now.duration(to: deadline)))
        }
        let left = entries.withLock { all -> [(String, Entry)] in
            defer { all.removeAll() }
            return Array(all)
        }
        for (workID, entry) in left {
            entry.task?.cancel()
            var meta: Logger.Metadata = ["work.id": "\(workID)"]
            if let session = entry.sessionID { meta["session.id"] = "\(session)" }
            logger.error("queue.item.stop_abandoned", metadata: meta)
            observer?.itemForceStopped(entry.cause, outcome: nil)
        }
        if !left.isEmpty { changed() }
        return left.count
    }

    private func loop(workID: String, sessionID: String?, _ cause: ForceStopReason, reason: String) async {
        let clock = ContinuousClock()
        let start = clock.now
        var meta: Logger.Metadata = ["work.id": "\(workID)", "stop.reason": "\(reason)"]
        if let sessionID { meta["session.id"] = "\(sessionID)" }
        var attempt = 0
        while !Task.isCancelled {
            // Backoff in short slices, so that a shutdown's hurry is heard within one.
            var left = backoff.delay(attempt: attempt, hint: nil)
            while left > .zero, !hurried.load(ordering: .acquiring) {
                let slice = min(left, .seconds(1))
                guard (try? await sleeper.sleep(for: slice)) != nil else { return }
                left -= slice
            }
            if hurried.load(ordering: .acquiring) {
                guard (try? await sleeper.sleep(for: Self.hurriedInterval)) != nil else { return }
            }
            attempt += 1
            do {
                let outcome = try await client.stop(workID: workID, force: true)
                guard remove(workID) != nil else { return }
                meta["stop.outcome"] = outcome == .stopped ? "stopped" : "already_stopped"
                meta["retry.attempt"] = "\(attempt)"
                logger.info("queue.item.stopped", metadata: meta)
                observer?.itemForceStopped(cause, outcome: outcome)
                return
            } catch {
                if error.isCancellation || Task.isCancelled { return }
                if error.status == 404 {
                    // No such item (any more): nothing is left to stop.
                    guard remove(workID) != nil else { return }
                    logger.warning("queue.item.stop_gone", metadata: meta)
                    observer?.itemForceStopped(cause, outcome: .alreadyStopped)
                    return
                }
                observer?.workQueueCallFailed(.stop, ErrorClassifier.disposition(of: error, for: .stop))
                if clock.now - start >= retryWindow {
                    guard remove(workID) != nil else { return }
                    meta["error.message"] = "\(error)"
                    meta["retry.attempt"] = "\(attempt)"
                    logger.error("queue.item.stop_abandoned", metadata: meta)
                    observer?.itemForceStopped(cause, outcome: nil)
                    return
                }
            }
        }
    }

    private func remove(_ workID: String) -> Entry? {
        let removed = entries.withLock { $0.removeValue(forKey: workID) }
        if removed != nil { changed() }
        return removed
    }

    private func changed() { observer?.pendingStopsChanged(count) }
}
