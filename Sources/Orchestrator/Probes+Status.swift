import Foundation
import JSON

extension Probes {
    static let statusSchemaVersion = 1

    /// The status page's data. Ids, counts and fixed reasons only: no key, token or
    /// secret is reachable from here (style habit 6).
    func statusJSON() -> String {
        let reasons = pipelines.notReadyReasons(stop: stop)
        let health = pipeline.drainer.health
        func string(_ s: String?) -> String { s.map(JSONEscape.quoted) ?? "null" }
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        let uptime = (ContinuousClock.now - startedAt).secondsDouble
        let template = pipeline.templateCheck.status
        // Every environment's launches (one family per environment when labelled).
        let launched = pipelines.all.reduce(0) { $0 + $1.metrics.launches("launched") }
        let failed = pipelines.all.reduce(0) { $0 + $1.metrics.launches("failed") }
        let inFlight = pipelines.all.reduce(0) { $0 + $1.drainer.health.launchesInFlight }

        var out = "{"
        // Bumped when a field changes meaning or goes away; new fields keep the version
        // (README, "Status JSON").
        out += #""schema_version":"# + String(Self.statusSchemaVersion)
        out += #","service":"cma-orchestrator","version":"# + JSONEscape.quoted(OrchestratorApp.version)
        out += #","mode":"# + JSONEscape.quoted(configuration.mode.rawValue)
        out += #","emulated":"# + (configuration.emulated ? "true" : "false")
        out += #","uptime_seconds":"# + String((uptime * 10).rounded() / 10)
        out += #","ready":"# + (reasons.isEmpty ? "true" : "false")
        out += #","not_ready_reasons":["# + reasons.map(JSONEscape.quoted).joined(separator: ",") + "]"
        out += #","environment_id":"# + JSONEscape.quoted(configuration.environmentID)
        out += #","template":{"name":"# + JSONEscape.quoted(configuration.launcher.template)
        out += #","status":"# + JSONEscape.quoted(template.isReady ? "ready" : (template.reason ?? "checking"))
        // The runner bundle version launches expect, and whether the template's
        // sandboxes are known to hold it (`current`), not (`older`) or not yet (`unknown`).
        out += #","runner_version":"# + JSONEscape.quoted(pipeline.templateCheck.expectedRunnerVersion ?? "")
        out += #","runner_version_state":"# + JSONEscape.quoted(pipeline.templateCheck.runnerVersionState.rawValue) + "}"
        out += #","drain":{"draining":"# + ((pipeline.scheduler?.isDraining ?? false) ? "true" : "false")
        out += #","drains_started":"# + String(pipeline.scheduler?.drainsStarted ?? 0)
        out += #","triggers":"# + String(pipeline.scheduler?.triggersReceived ?? 0)
        out += #","polling":"# + (health.polling ? "true" : "false")
        out += #","last_success":"# + date(health.lastSuccess)
        out += #","last_error":"# + string(health.lastError)
        out += #","configuration_error":"# + string(health.configurationError)
        out += #","pending_stops":"# + String(pipeline.drainer.pendingStops.count) + "}"
        out += #","upstreams":"# + upstreamsJSON(now: Date())
        out += #","reconciler":"# + reconcilerJSON()
        out += #","shutdown_grace_seconds":"# + String(configuration.shutdownGrace.secondsDouble)
        out += #","launches":{"launched":"# + String(launched) + #","failed":"# + String(failed)
        out += #","in_flight":"# + String(inFlight) + "}"
        // The team's Superserve budget: the bucket's rate now and the limit Superserve
        // reported, and the active-sandbox quota's pressure (superserve.md §7).
        let superserve = pipeline.launcher.client
        out += #","superserve":{"rate_per_second":"# + String((superserve.rateInForce * 100).rounded() / 100)
        out += #","reported_limit_per_second":"# + (superserve.reportedRateLimit.map { String($0) } ?? "null")
        out += #","bucket_waiters":"# + String(superserve.bucketWaiters)
        let limited = superserve.rateLimitedAnswers
        out += #","rate_limited":"# + String(limited.total) + #","rate_halvings":"# + String(limited.halved)
        out += #","quota":{"waiting":"# + String(pipelines.all.reduce(0) { $0 + $1.quotaRoom.waiting })
        out += #","paused_for_room":"# + String(pipelines.all.reduce(0) { $0 + $1.quotaRoom.pausedForRoom })
        out += #","last_pressure":"# + date(pipelines.all.compactMap(\.quotaRoom.lastPressure).max()) + "}}"
        out += #","webhooks":{"queued":"# + String(metrics.webhooks(.queued)) + #","ignored":"# + String(metrics.webhooks(.ignored))
        out += #","duplicate":"# + String(metrics.webhooks(.duplicate)) + #","rejected":"# + String(metrics.webhooks(.rejected)) + "}"
        out += #","environments":"# + environmentsJSON()
        out += #","recent":["#
        out += activity.recent.map { entry in
            #"{"at":"# + date(entry.at) + #","event":"# + JSONEscape.quoted(entry.event)
                + #","session_id":"# + string(entry.sessionID) + #","work_id":"# + string(entry.workID)
                + #","sandbox_id":"# + string(entry.sandboxID) + #","detail":"# + string(entry.detail)
                + #","environment_id":"# + string(entry.environmentID) + "}"
        }.joined(separator: ",")
        out += "]"
        out += #","warm_pool":"# + warmPoolJSON()
        out += #","sessions":"# + sessionsJSON(now: Date())
        out += #","sandboxes":"# + sandboxesJSON()
        out += #","series":"# + seriesJSON()
        out += "}"
        return out
    }

    /// One entry per served environment, in configuration order: its state (`ready`,
    /// `checking`, `failing` with the problem), template, drain and launches. The
    /// single-environment fields above describe the first entry (README "Status JSON").
    func environmentsJSON() -> String {
        func string(_ s: String?) -> String { s.map(JSONEscape.quoted) ?? "null" }
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        let entries = pipelines.all.map { pipeline -> String in
            let (state, problem) = WorkPipelines.state(of: pipeline)
            let health = pipeline.drainer.health
            let template = pipeline.templateCheck.status
            return #"{"id":"# + JSONEscape.quoted(pipeline.environmentID)
                + #","state":"# + JSONEscape.quoted(state) + #","problem":"# + string(problem)
                + #","template":{"name":"# + JSONEscape.quoted(pipeline.templateCheck.templateName)
                + #","status":"# + JSONEscape.quoted(template.isReady ? "ready" : (template.reason ?? "checking")) + "}"
                + #","drain":{"draining":"# + ((pipeline.scheduler?.isDraining ?? false) ? "true" : "false")
                + #","drains_started":"# + String(pipeline.scheduler?.drainsStarted ?? 0)
                + #","triggers":"# + String(pipeline.scheduler?.triggersReceived ?? 0)
                + #","polling":"# + (health.polling ? "true" : "false")
                + #","last_success":"# + date(health.lastSuccess) + #","last_error":"# + string(health.lastError)
                + #","configuration_error":"# + string(health.configurationError)
                + #","pending_stops":"# + String(pipeline.drainer.pendingStops.count) + "}"
                + #","launches":{"launched":"# + String(pipeline.metrics.launches("launched"))
                + #","failed":"# + String(pipeline.metrics.launches("failed"))
                + #","in_flight":"# + String(health.launchesInFlight) + "}}"
        }
        return "[" + entries.joined(separator: ",") + "]"
    }

    /// Each upstream's answers (`UpstreamHealth`): `ok`, `failing` (failures since the
    /// last success) or `outage` (failing for 5 s or more). Not part of readiness.
    func upstreamsJSON(now: Date) -> String {
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        let parts = UpstreamRoute.Upstream.allCases.map { upstream -> String in
            let e = metrics.upstreamHealth.entry(upstream)
            let state = e.failingSince.map { now.timeIntervalSince($0) >= UpstreamHealth.outageAfter ? "outage" : "failing" } ?? "ok"
            return JSONEscape.quoted(upstream.rawValue) + #":{"state":"# + JSONEscape.quoted(state)
                + #","failing_since":"# + date(e.failingSince) + #","last_success":"# + date(e.lastSuccess)
                + #","last_failure":"# + (e.lastFailure.map(JSONEscape.quoted) ?? "null") + "}"
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// The reconciler's last pass and the orphans it stopped since start.
    func reconcilerJSON() -> String {
        let last = pipeline.reconciler.lastPass
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        return #"{"interval_seconds":"# + String(pipeline.reconciler.configuration.interval.secondsDouble)
            + #","minimum_age_seconds":"# + String(pipeline.reconciler.configuration.minimumAge.secondsDouble)
            + #","last_pass_at":"# + date(last.at) + #","last_listed":"# + String(last.report?.listed ?? 0)
            + #","last_candidates":"# + String(last.report?.candidates ?? 0)
            + #","last_error":"# + (last.report?.error.map(JSONEscape.quoted) ?? "null")
            + #","orphans_stopped":"# + String(last.orphansStopped) + "}"
    }

    /// The session board, newest first. `idle_seconds`: since the runner was last seen
    /// running (its launch or a probe), the janitor's measure of idleness (rule 44).
    func sessionsJSON(now: Date) -> String {
        func string(_ s: String?) -> String { s.map(JSONEscape.quoted) ?? "null" }
        func date(_ d: Date?) -> String { d.map { JSONEscape.quoted(UTCTimestamp.format($0)) } ?? "null" }
        func seconds(_ s: Double?) -> String { s.map { String(($0 * 1000).rounded() / 1000) } ?? "null" }
        let rows = board.snapshot.map { row in
            let idle = row.runnerSeenAt.map { max(0, now.timeIntervalSince($0)) }
            return #"{"environment_id":"# + JSONEscape.quoted(row.environmentID)
                + #","session_id":"# + JSONEscape.quoted(row.sessionID) + #","work_id":"# + string(row.workID)
                + #","sandbox_id":"# + string(row.sandboxID) + #","state":"# + JSONEscape.quoted(row.state.rawValue)
                + #","reason":"# + string(row.reason) + #","launched_at":"# + date(row.launchStartedAt)
                + #","launch_seconds":"# + seconds(row.launchSeconds) + #","runner_state":"# + string(row.runnerState)
                + #","idle_seconds":"# + seconds(idle.map { $0.rounded(.down) }) + #","updated_at":"# + date(row.updatedAt) + "}"
        }
        return #"{"capacity":"# + String(board.capacity) + #","by_state":"# + byState(board.countsByState())
            + #","rows":["# + rows.joined(separator: ",") + "]}"
    }

    /// Sandboxes this instance knows of, each under the state of the latest session
    /// row that names it. The janitor lists active sandboxes only, so the board is
    /// the one source that also sees paused and failed ones.
    func sandboxesJSON() -> String {
        var seen = Set<String>()
        var counts = Dictionary(uniqueKeysWithValues: SessionBoard.State.allCases.map { ($0, 0) })
        for row in board.snapshot {
            guard let id = row.sandboxID, seen.insert(id).inserted else { continue }
            counts[row.state, default: 0] += 1
        }
        return #"{"source":"session_board","total":"# + String(seen.count) + #","by_state":"#
            + byState(SessionBoard.State.allCases.map { ($0, counts[$0] ?? 0) }) + "}"
    }

    private func byState(_ counts: [(state: SessionBoard.State, count: Int)]) -> String {
        "{" + counts.map { JSONEscape.quoted($0.state.rawValue) + ":" + String($0.count) }.joined(separator: ",") + "}"
    }

    /// The per-minute plots, oldest minute first.
    func seriesJSON() -> String {
        func object(_ names: [String], _ values: [Int]) -> String {
            "{" + zip(names, values).map { JSONEscape.quoted($0) + ":" + String($1) }.joined(separator: ",") + "}"
        }
        func seconds(_ s: Double?) -> String { s.map { String(($0 * 1000).rounded() / 1000) } ?? "null" }
        let minutes = series.window.map { m in
            #"{"start":"# + JSONEscape.quoted(UTCTimestamp.format(m.start))
                + #","launches":"# + object(StatusSeries.launchOutcomes, m.launches)
                + #","launch_seconds":{"p50":"# + seconds(m.p50) + #","p90":"# + seconds(m.p90)
                + #","p99":"# + seconds(m.p99) + "}"
                + #","webhooks":"# + object(StatusSeries.webhookOutcomes, m.webhooks) + "}"
        }
        return #"{"bucket_seconds":60,"minutes":["# + minutes.joined(separator: ",") + "]}"
    }
}
