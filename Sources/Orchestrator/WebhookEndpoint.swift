import Foundation
import HTTPServer
import Logging
import Webhooks
import WorkQueue

/// `POST /webhooks` (rules 38–43): verify the raw bytes first, then answer at once
/// and leave the work to the drain schedulers. Runs inline on the connection queue
/// (`.sync`): verification is a few microseconds of HMAC, and nothing here waits.
///
/// With several environments, the key that verified the delivery picks the
/// environments to drain (`WebhookRouting`, rule 42).
///
/// A class: the route's closure holds one reference rather than a copy of every field.
public final class WebhookEndpoint: Sendable {
    let routing: WebhookRouting
    let dedupe: DeliveryDedupe
    /// Rule 40: where verified `session.status_run_started` deliveries go, coalesced;
    /// one per environment, in configuration order (the bits of `routing`'s masks).
    let schedulers: [DrainScheduler]
    /// Rule 43, when enabled: pause the session's sandbox once its runner is idle
    /// (the first environment of the verifying key, the session id).
    let schedulePause: (@Sendable (Int, String) -> Void)?
    /// With several environments: whether environment `e`'s last poll was refused
    /// (401/403/404). Its drain is then left to its timer (`CMA_DRAIN_INTERVAL_SECONDS`),
    /// so deliveries of a key shared with healthy environments do not turn into a stream
    /// of refused polls and error lines; nil with one environment (drained as before).
    let isRefused: (@Sendable (Int) -> Bool)?
    /// Rule 39: set when the process stops; deliveries then get 503.
    let stop: StopFlag
    let metrics: OrchestratorMetrics
    let activity: ActivityLog
    /// The status page: a terminated or deleted session leaves the board as stopped;
    /// every answer counts in the per-minute plot.
    let board: SessionBoard
    let series: StatusSeries
    let logger: Logger
    /// The logger's level is fixed at start-up; asking the handler on every delivery
    /// costs a copy of it.
    let logsInfo: Bool
    let now: @Sendable () -> Int64

    static let pauseEvents: Set<String> = ["session.status_idled", "session.status_terminated", "session.deleted"]

    /// One environment: every key of `verifier` drains `scheduler`.
    public convenience init(verifier: WebhookVerifier, dedupe: DeliveryDedupe, scheduler: DrainScheduler,
                            schedulePause: (@Sendable (String) -> Void)?, stop: StopFlag,
                            metrics: OrchestratorMetrics, activity: ActivityLog, board: SessionBoard = SessionBoard(),
                            series: StatusSeries = StatusSeries(), logger: Logger,
                            now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        var pauseInEnvironment: (@Sendable (Int, String) -> Void)?
        if let schedulePause {
            pauseInEnvironment = { (_: Int, session: String) in schedulePause(session) }
        }
        self.init(routing: WebhookRouting(verifier: verifier), dedupe: dedupe, schedulers: [scheduler],
                  schedulePause: pauseInEnvironment, stop: stop,
                  metrics: metrics, activity: activity, board: board, series: series, logger: logger, now: now)
    }

    /// `schedulers[e]` drains environment `e` of `routing`.
    public init(routing: WebhookRouting, dedupe: DeliveryDedupe, schedulers: [DrainScheduler],
                schedulePause: (@Sendable (Int, String) -> Void)?, isRefused: (@Sendable (Int) -> Bool)? = nil, stop: StopFlag,
                metrics: OrchestratorMetrics, activity: ActivityLog, board: SessionBoard = SessionBoard(),
                series: StatusSeries = StatusSeries(), logger: Logger,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        precondition(!schedulers.isEmpty && schedulers.count <= WebhookRouting.maximumEnvironments)
        self.routing = routing
        self.dedupe = dedupe
        self.schedulers = schedulers
        self.schedulePause = schedulePause
        self.isRefused = isRefused
        self.stop = stop
        self.metrics = metrics
        self.activity = activity
        self.board = board
        self.series = series
        self.logger = logger
        self.logsInfo = logger.logLevel <= .info
        self.now = now
    }

    /// Every answer, in `/metrics` and in the status page's per-minute plot.
    private func count(_ outcome: WebhookOutcome) {
        metrics.webhook(outcome)
        series.webhook(outcome.rawValue)
    }

    /// Sessions that end upstream; their rows on the status page become `stopped`.
    static let endEvents: Set<String> = ["session.status_terminated", "session.deleted"]

    /// Fixed bodies: nothing of the request, the expected MAC or the key is echoed.
    enum Answer {
        static let rejected = Response.json(#"{"error":"invalid webhook signature"}"#, status: 401)
        static let unavailable = Response.json(#"{"error":"shutting down, retry later"}"#, status: 503)
        static let queued = Response.json(#"{"status":"queued"}"#)
        static let ignored = Response.json(#"{"status":"ignored"}"#)
        static let duplicate = Response.json(#"{"status":"duplicate"}"#)
        static let pauseScheduled = Response.json(#"{"status":"pause_scheduled"}"#)
    }

    public func handle(_ request: Request) -> Response {
        // Rule 38: the raw bytes as received, before anything else.
        let verified: VerifiedDelivery
        let now = now()
        // The three header values are read as bytes where they lie.
        let body = request.body
        let verifier = routing.verifier
        let result = request.headers.withFields { fields in
            verifier.verifyMatching(body: body, id: fields.first("webhook-id"), timestamp: fields.first("webhook-timestamp"),
                                    signature: fields.first("webhook-signature"), now: now)
        }
        // Bit e: environment e is drained by this delivery's key(s).
        let environments: UInt64
        switch result {
        case .success(let match):
            verified = match.delivery
            environments = schedulers.count == 1 ? 1 : routing.environments(matching: match.keys)
        case .failure(let error):
            count(.rejected)
            logger.warning("webhook.rejected", metadata: ["webhook.reject_reason": "\(error)", "request.id": "\(request.requestID)"])
            return Answer.rejected
        }
        // Rule 39: a 503 makes Anthropic retry; the timer drain (rule 42) covers the rest.
        if stop.isSet {
            count(.unavailable)
            return Answer.unavailable
        }
        guard let event = WebhookEnvelope.decode(body) else {
            // Rule 39 (amended): the sender signed it, so a non-2xx would only cause
            // retries of the same bytes; a drain picks up whatever it meant to announce.
            trigger(environments)
            count(.malformed)
            logger.warning("webhook.malformed", metadata: ["webhook.id": "\(verified.webhookID)"])
            return Answer.ignored
        }
        // Rule 41: after verification, keyed on the delivery's webhook-id.
        if dedupe.isRepeat(verified.webhookID, now: now) {
            count(.duplicate)
            return Answer.duplicate
        }
        // Metadata is built only when the level is enabled (the autoclosures are lazy).
        func metadata() -> Logger.Metadata {
            ["webhook.id": "\(verified.webhookID)", "event.type": "\(event.dataType)",
             "session.id": "\(event.sessionID ?? "")"]
        }
        if event.dataType == "session.status_run_started" {
            // Rules 39, 40, 42: coalesced, and every environment the key serves.
            trigger(environments)
            count(.queued)
            activity.record("webhook", sessionID: event.sessionID, detail: event.dataType)
            if logsInfo { logger.info("webhook.queued", metadata: metadata()) }
            return Answer.queued
        }
        if Self.endEvents.contains(event.dataType), let session = event.sessionID {
            board.stopped(sessionID: session, reason: event.dataType)
        }
        if let schedulePause, Self.pauseEvents.contains(event.dataType), let session = event.sessionID {
            // The session's environment is not in the delivery: the pause goes once, to
            // the first environment of the key (the app prefers the session's own).
            if environments != 0 { schedulePause(environments.trailingZeroBitCount, session) }
            count(.pauseScheduled)
            if logsInfo { logger.info("webhook.pause_scheduled", metadata: metadata()) }
            return Answer.pauseScheduled
        }
        count(.ignored)
        logger.debug("webhook.ignored", metadata: metadata())
        return Answer.ignored
    }

    /// Triggers the drain of every environment in the mask (coalesced each, rule 40),
    /// but a refused environment's (see `isRefused`).
    private func trigger(_ environments: UInt64) {
        forEach(environments) { e in
            if let isRefused, isRefused(e) { return }
            schedulers[e].trigger()
        }
    }

    private func forEach(_ environments: UInt64, _ body: (Int) -> Void) {
        var rest = environments
        while rest != 0 {
            let e = rest.trailingZeroBitCount
            if e < schedulers.count { body(e) }
            rest &= rest - 1
        }
    }
}
