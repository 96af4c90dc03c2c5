import APIClient
import Foundation
import Logging
import Synchronization

/// What the side that knows sandboxes says about a session's runner (the app answers
/// through the janitor's probe; WorkQueue does not know sandboxes).
public enum RunnerPresence: Sendable, Equatable {
    /// A runner is alive in the session's sandbox; `workID` is the item it serves
    /// (`.runner.work`), nil when that could not be read.
    case running(workID: String?)
    /// No runner can hold the item: no sandbox, a paused one, no runner bundle, or a
    /// runner that exited or died. `why` goes into the stop reason.
    case notRunning(why: String)
    /// This process is working on the session right now (its lock is held).
    case busy
    /// The check itself failed (upstream trouble): decide on a later pass.
    case unknown(String)
}

public protocol RunnerCheck: Sendable {
    func presence(sessionID: String) async -> RunnerPresence
}

/// Recovery after a hard stop (SIGKILL, OOM, node loss). Acked items are never
/// re-offered (anthropic.md §2.2), so an item whose claimer died between the ack and
/// the runner's first heartbeat stays acked for ever and its session hangs. At start
/// and every `interval`, the reconciler lists this environment's work (`GET …/work`),
/// takes the items acked (`starting`) more than `minimumAge` ago that never got a
/// heartbeat, asks whether a runner holds each one, and force-stops the orphans with a
/// reason that says so (rule 37). Items seen stopped end their pending stop retries.
///
/// Safe with several replicas (rule 1), with no lock and no leader:
/// - It never claims or launches anything; the only thing it does is a force-stop,
///   which is idempotent (409 = already stopped = done, rule 33), so two replicas
///   reconciling the same item at once cost one extra call and nothing else.
/// - `minimumAge` is above every replica's launch budget (rule 37, default: the
///   budget plus a minute). A live claimer has, by then, either handed the item to a
///   runner or force-stopped it itself; so an item still acked without a heartbeat
///   past that age has no live launch anywhere, whichever replica claimed it.
/// - A runner that started but has not heartbeated yet is found by the probe of the
///   session's sandbox and left alone (rule 9): the reconciler never stops an item a
///   runner holds. A session this process is launching into is skipped (its lock).
public final class Reconciler: Sendable {
    public struct Configuration: Sendable {
        /// `CMA_RECONCILE_INTERVAL_SECONDS`: time between passes (the first runs at start).
        public var interval: Duration = .seconds(120)
        /// `CMA_RECONCILE_MIN_AGE_SECONDS`: acked at least this long ago, never heartbeated.
        /// Must exceed every replica's launch budget.
        public var minimumAge: Duration = .seconds(210)
        /// Items per list call (1–1000) and list calls per pass.
        public var pageSize = 1000
        public var maximumPages = 50

        public init() {}
    }

    /// What the reconciler decided about one candidate (bounded metric labels).
    public enum Verdict: String, Sendable, CaseIterable {
        case orphanStopped = "orphan_stopped"
        case runnerRunning = "runner_running"
        case busy
        case unknown

        public static var metricLabels: [String] { allCases.map(\.rawValue) }
    }

    /// One pass, for logs, `/status` and tests.
    public struct Report: Sendable, Equatable {
        public var listed = 0
        public var candidates = 0
        public var verdicts: [String: Verdict] = [:]
        public var error: String?
        public init() {}
    }

    let drainer: Drainer
    let runnerCheck: any RunnerCheck
    public let configuration: Configuration
    let logger: Logger
    let sleeper: any Sleeper
    let now: @Sendable () -> Date
    let onPass: @Sendable (Report) -> Void
    private let last = Mutex<(at: Date?, report: Report?, orphansStopped: Int)>((nil, nil, 0))

    public init(drainer: Drainer, runnerCheck: any RunnerCheck, configuration: Configuration = Configuration(),
                logger: Logger, sleeper: any Sleeper = ContinuousSleeper(), now: @escaping @Sendable () -> Date = { Date() },
                onPass: @escaping @Sendable (Report) -> Void = { _ in }) {
        self.drainer = drainer
        self.runnerCheck = runnerCheck
        self.configuration = configuration
        self.logger = logger
        self.sleeper = sleeper
        self.now = now
        self.onPass = onPass
    }

    /// The last pass's time and report, and orphans stopped since start (`/status`).
    public var lastPass: (at: Date?, report: Report?, orphansStopped: Int) { last.withLock { $0 } }

    /// A pass at once, then one every `interval`, until cancelled. `mayRun` gates each
    /// pass (the app passes "template ready and not stopping").
    public func run(mayRun: @escaping @Sendable () -> Bool = { true }) async {
        while !Task.isCancelled {
            if mayRun() { await pass() }
            do { try await sleeper.sleep(for: mayRun() ? configuration.interval : .seconds(1)) } catch { return }
        }
    }

    /// The items that may be orphans: acked (`starting`), never heartbeated, acked at
    /// least `minimumAge` before `now`. Pure.
    public static func candidates(_ items: [WorkListing.Item], now: Date, minimumAge: Duration) -> [WorkListing.Item] {
        items.filter { item in
            guard item.state == "starting", item.latestHeartbeatAt == nil, let acked = item.acknowledgedAt else { return false }
            return now.timeIntervalSince(acked) >= minimumAge.secondsDouble
        }
    }

    @discardableResult
    public func pass() async -> Report {
        var report = Report()
        var items: [WorkListing.Item] = []
        var page: String?
        do throws(WorkQueueError) {
            for _ in 0..<max(1, configuration.maximumPages) {
                let listing = try await drainer.client.listWork(limit: configuration.pageSize, page: page)
                items += listing.items
                page = listing.nextPage
                if page == nil { break }
            }
        } catch {
            report.error = error.description
            logger.warning("reconciler.list_failed", metadata: ["error.message": "\(error)"])
            finish(report)
            return report
        }
        report.listed = items.count
        for item in items where item.state == "stopped" && drainer.pendingStops.contains(workID: item.id) {
            drainer.pendingStops.seenStopped(workID: item.id)
        }
        let at = now()
        let candidates = Self.candidates(items, now: at, minimumAge: configuration.minimumAge)
        report.candidates = candidates.count
        for item in candidates {
            guard !Task.isCancelled else { break }
            // This process's own launch, or a stop already being retried: nothing to add.
            if drainer.isLaunching(workID: item.id) || drainer.pendingStops.contains(workID: item.id) {
                report.verdicts[item.id] = .busy
                continue
            }
            report.verdicts[item.id] = await consider(item, age: at.timeIntervalSince(item.acknowledgedAt ?? at))
        }
        finish(report)
        return report
    }

    private func consider(_ item: WorkListing.Item, age: TimeInterval) async -> Verdict {
        var meta: Logger.Metadata = ["work.id": "\(item.id)", "work.age_seconds": "\(Int(age))"]
        let why: String
        if item.dataType == "session", let sessionID = item.sessionID, !sessionID.isEmpty {
            meta["session.id"] = "\(sessionID)"
            switch await runnerCheck.presence(sessionID: sessionID) {
            case .running(let workID):
                if let other = workID, other != item.id {
                    why = "the session's runner serves another item (\(other))"
                } else {
                    logger.info("reconciler.runner_running", metadata: meta)
                    return .runnerRunning
                }
            case .notRunning(let reason):
                why = reason
            case .busy:
                return .busy
            case .unknown(let problem):
                meta["error.message"] = "\(problem)"
                logger.warning("reconciler.check_failed", metadata: meta)
                return .unknown
            }
        } else {
            why = "not a session item"
        }
        let reason = "orphaned: acked \(Int(age)) s ago with no heartbeat and no runner (\(why)); stopped by the reconciler"
        logger.warning("reconciler.orphan", metadata: meta.merging(["stop.reason": "\(reason)"]) { $1 })
        await drainer.forceStop(workID: item.id, sessionID: item.sessionID, .orphaned, reason: reason)
        return .orphanStopped
    }

    private func finish(_ report: Report) {
        let stopped = report.verdicts.values.filter { $0 == .orphanStopped }.count
        last.withLock { $0 = (now(), report, $0.orphansStopped + stopped) }
        if report.candidates > 0 || report.error != nil {
            logger.info("reconciler.pass", metadata: [
                "work.listed": "\(report.listed)", "work.candidates": "\(report.candidates)",
                "work.orphans_stopped": "\(stopped)",
            ])
        }
        onPass(report)
    }
}
