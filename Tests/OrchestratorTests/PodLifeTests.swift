import Foundation
import Orchestrator
import TestSupport
import XCTest

/// A pod's life through the built binary, with both emulators in their own processes:
/// SIGTERM with launches held by slow creates, SIGKILL during a burst with faults on
/// both upstreams, an Anthropic outage in webhook mode, and poll mode's fatal answers.
/// Each prints its measured figures as `PODLIFE name=value` lines.
final class PodLifeTests: XCTestCase {
    static func figure(_ name: String, _ value: Any) { print("PODLIFE \(name)=\(value)") }

    /// Waits for the process's exit until `deadline`, then SIGKILLs it as the kubelet
    /// does. Returns whether it exited by itself, and when.
    static func waitForExit(_ serve: ServeProcess, from start: ContinuousClock.Instant, sigkillAfter: Duration)
        -> (byItself: Bool, after: Duration) {
        while serve.process.isRunning, ContinuousClock.now - start < sigkillAfter { usleep(20_000) }
        let after = ContinuousClock.now - start
        let byItself = !serve.process.isRunning
        if !byItself { kill(serve.process.processIdentifier, SIGKILL) }
        serve.process.waitUntilExit()
        return (byItself, after)
    }

    /// Bounded shutdown: stop claiming at once, launches held by 45 s creates are
    /// cancelled at the deadline of `CMA_SHUTDOWN_GRACE_SECONDS` and their items
    /// force-stopped with the reason; exit 0 before the kubelet's SIGKILL at the
    /// manifest's grace. Also: queued work is launched right after the template check
    /// passes, not at the 30 s timer drain.
    func testSIGTERMWithLaunchesHeldBySlowCreatesExitsZeroBeforeTheKubeletsSIGKILL() async throws {
        let manifest = try ManifestShutdown.read()
        XCTAssertGreaterThan(manifest.sigkillAfterSIGTERM, manifest.shutdownGraceSeconds,
                             "the pod's grace period minus its preStop pause covers CMA_SHUTDOWN_GRACE_SECONDS")
        let stack = try await PodLifeStack()
        defer { stack.stop() }
        let early = [try await stack.createSession(), try await stack.createSession()]
        let serve = try await stack.serve("serve", ["CMA_SHUTDOWN_GRACE_SECONDS": String(manifest.shutdownGraceSeconds)])
        defer { if serve.process.isRunning { kill(serve.process.processIdentifier, SIGKILL) } }
        // Below the 30 s timer drain: the first drain followed the template check.
        try await stack.eventually("the items queued before the start to reach a runner", timeout: .seconds(20)) {
            let served = Set(stack.liveRunners().values)
            return early.allSatisfy { served.contains($0.work) }
        }

        // The issue's 45 s creates hold every new launch.
        try await stack.setFaults(superserve: #"{"latency_ms":45000,"routes":"sandboxes.create"}"#)
        var held: [(session: String, work: String)] = []
        for _ in 0..<6 { held.append(try await stack.createSession()) }
        let queued = try await stack.deliverWebhook(to: serve)
        XCTAssertEqual(queued, 200)
        try await stack.eventually("six launches in flight", timeout: .seconds(20)) {
            let status = try await stack.call("GET", "\(serve.base)/status").object
            return (status["launches"] as? [String: Any])?["in_flight"] as? Int == 6
        }

        let start = ContinuousClock.now
        kill(serve.process.processIdentifier, SIGTERM)
        // While it stops: not ready, and webhooks answered 503 (rule 39).
        try await stack.eventually("/readyz to say shutting down", timeout: .seconds(5), interval: .milliseconds(50)) {
            try await stack.call("GET", "\(serve.base)/readyz").status == 503
        }
        let refused = try await stack.deliverWebhook(to: serve)
        XCTAssertEqual(refused, 503)
        let exit = Self.waitForExit(serve, from: start, sigkillAfter: .seconds(manifest.sigkillAfterSIGTERM))
        Self.figure("shutdown_seconds_45s_creates", exit.after.secondsDouble)
        XCTAssertTrue(exit.byItself, "SIGKILL at the manifest's grace (\(manifest.sigkillAfterSIGTERM) s after SIGTERM) was needed")
        XCTAssertEqual(serve.process.terminationReason, .exit)
        XCTAssertEqual(serve.process.terminationStatus, 0, serve.text.suffix(3000).description)
        XCTAssertLessThanOrEqual(exit.after, .seconds(manifest.shutdownGraceSeconds) + .seconds(1),
                                 "CMA_SHUTDOWN_GRACE_SECONDS bounds the whole stop")

        // Every item ended with a runner or a visible stop.
        let items = try await stack.workItems()
        let served = Set(stack.liveRunners().values)
        var stranded = 0
        for item in items where !(item.state == "stopped" || served.contains(item.id)) { stranded += 1 }
        Self.figure("stranded_after_sigterm", stranded)
        XCTAssertEqual(stranded, 0, "\(items)")
        for item in early { XCTAssertTrue(served.contains(item.work), "handed-off items are never stopped (rule 9)") }
        let stops = serve.logLines(message: "queue.item.force_stop")
            .filter { ($0["stop.reason"] as? String ?? "").hasPrefix("shutting down") }
        XCTAssertEqual(Set(stops.compactMap { $0["work.id"] as? String }), Set(held.map(\.work)))
        XCTAssertFalse(serve.logLines(message: "shutdown.work_finished").isEmpty)
    }

    /// Recovery after hard stops: two SIGKILLs during a burst with 20% faults on both
    /// upstreams, then a restart. The reconciler stops every item left acked without a
    /// runner, no session gets two sandboxes or two runners, and the janitor pauses
    /// every sandbox without a runner (no bundle counts as "not running", rule 44).
    func testSIGKILLTwiceDuringABurstThenTheReconcilerLeavesNoItemAckedWithoutARunner() async throws {
        let count = Int(ProcessInfo.processInfo.environment["CMA_PODLIFE_SESSIONS"] ?? "") ?? 100
        let stack = try await PodLifeStack()
        defer { stack.stop() }
        try await stack.setFaults(anthropic: #"{"error_rate":0.2,"statuses":[429,500,503],"retry_after_seconds":0}"#)
        // 429s included: each pauses the shared bucket (rule 35) but, with the answers
        // around it showing the team has room, does not halve its rate (TokenBucket).
        try await stack.setFaults(superserve: #"{"error_rate":0.2,"statuses":[429,500,502,503],"retry_after_seconds":0}"#)
        for _ in 0..<count { _ = try await stack.createSession() }
        let env = [
            "CMA_LAUNCH_BUDGET_SECONDS": "12", "CMA_RECONCILE_MIN_AGE_SECONDS": "15", "CMA_RECONCILE_INTERVAL_SECONDS": "3",
            "CMA_IDLE_PAUSE_SECONDS": "2", "CMA_JANITOR_INTERVAL_SECONDS": "2", "CMA_DRAIN_INTERVAL_SECONDS": "1",
            "CMA_SUPERSERVE_RATE": "200", "CMA_SUPERSERVE_BURST": "200",
        ]
        let burstStart = ContinuousClock.now
        /// Items acked whose runner is not alive: what a hard stop strands.
        func stranded() async throws -> [String] {
            let served = Set(stack.liveRunners().values)
            return try await stack.workItems().filter { $0.state == "starting" && !served.contains($0.id) }.map(\.id)
        }
        func claimed() async throws -> Int { try await stack.workItems().filter { $0.state != "queued" }.count }

        for (round, share) in [(1, 3), (2, 3)].map({ ($0.0, $0.1) }) {
            let serve = try await stack.serve("serve", env)
            let target = count * round / share
            try await stack.eventually("\(target) items claimed before SIGKILL \(round)", timeout: .seconds(120),
                                       interval: .milliseconds(50)) { try await claimed() >= target }
            kill(serve.process.processIdentifier, SIGKILL)
            serve.process.waitUntilExit()
            Self.figure("stranded_after_sigkill_\(round)", try await stranded().count)
        }

        let serve = try await stack.serve("serve", env)
        defer { serve.stop() }
        try await stack.eventually("every item claimed, and none acked without a runner", timeout: .seconds(300),
                                   interval: .seconds(1)) {
            let claimedNow = try await claimed()
            let strandedNow = try await stranded()
            return claimedNow == count && strandedNow.isEmpty
        }
        Self.figure("seconds_until_reconciled", (ContinuousClock.now - burstStart).secondsDouble)
        let status = try await stack.call("GET", "\(serve.base)/status").object
        let orphans = (status["reconciler"] as? [String: Any])?["orphans_stopped"] as? Int ?? -1
        Self.figure("orphans_stopped_by_reconciler", orphans)
        for line in serve.logLines(message: "reconciler.orphan") {
            XCTAssertTrue((line["stop.reason"] as? String ?? "").hasPrefix("orphaned:"), "\(line)")
        }

        // Sandboxes: at most one per session, at most one runner per session, and every
        // one without a live runner paused.
        do {
            try await stack.eventually("every sandbox without a runner to be paused", timeout: .seconds(90), interval: .seconds(1)) {
                let runners = stack.liveRunners()
                return try await stack.sandboxes().allSatisfy { $0.status == "paused" || $0.status == "failed" || runners[$0.id] != nil }
            }
        } catch {
            let runners = stack.liveRunners()
            let left = try await stack.sandboxes().filter { $0.status != "paused" && $0.status != "failed" && runners[$0.id] == nil }
            print("PODLIFE unpaused without a runner: \(left)")
            if let status = try? await stack.call("GET", "\(serve.base)/status").object {
                print("PODLIFE superserve budget: \(status["superserve"] ?? "none")")
            }
            for sandbox in left {
                for line in serve.text.split(separator: "\n") where line.contains(sandbox.id) || line.contains(sandbox.session ?? "-") {
                    print("PODLIFE log: \(line.prefix(400))")
                }
            }
            print("PODLIFE janitor lines: \(serve.logLines(message: "janitor.paused").count) paused, "
                  + "\(serve.logLines(message: "janitor.pause_failed").count) failed, "
                  + "\(serve.logLines(message: "janitor.probe_unreadable").count) unreadable")
            throw error
        }
        let sandboxes = try await stack.sandboxes().filter { $0.status != "failed" && $0.status != "deleted" }
        let bySession = Dictionary(grouping: sandboxes) { $0.session ?? "-" }
        XCTAssertTrue(bySession.values.allSatisfy { $0.count == 1 }, "twins: \(bySession.filter { $0.value.count > 1 })")
        let runners = stack.liveRunners()
        let runnerSessions = sandboxes.filter { runners[$0.id] != nil }.map { $0.session ?? "-" }
        XCTAssertEqual(runnerSessions.count, Set(runnerSessions).count, "a session with two runners")
        Self.figure("sandboxes", sandboxes.count)
        Self.figure("sandboxes_paused", sandboxes.filter { $0.status == "paused" }.count)
        Self.figure("runners_alive", runners.count)
    }

    /// Readiness means "takes webhooks and work" (rule 47 as amended): an Anthropic outage
    /// of 20 s in webhook mode leaves /readyz at 200 throughout, and /status names it.
    func testAnAnthropicOutageInWebhookModeLeavesReadyzAt200AndStatusNamesIt() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["CMA_PODLIFE_OUTAGE_SECONDS"] ?? "") ?? 20
        let stack = try await PodLifeStack()
        defer { stack.stop() }
        let serve = try await stack.serve("serve", ["CMA_DRAIN_INTERVAL_SECONDS": "2"])
        defer { serve.stop() }
        try await stack.eventually("ready", timeout: .seconds(20)) {
            try await stack.call("GET", "\(serve.base)/readyz").status == 200
        }
        try await stack.setFaults(anthropic: #"{"error_rate":1.0,"statuses":[503]}"#)
        let start = ContinuousClock.now
        var samples: [Int] = []
        var deliveries: [Int] = []
        var lastDelivery = start - .seconds(10)
        while ContinuousClock.now - start < .seconds(seconds) {
            samples.append(try await stack.call("GET", "\(serve.base)/readyz").status)
            if ContinuousClock.now - lastDelivery >= .seconds(2) {
                _ = try await stack.createSession()
                deliveries.append(try await stack.deliverWebhook(to: serve))
                lastDelivery = .now
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let status = try await stack.call("GET", "\(serve.base)/status").object
        Self.figure("outage_seconds", seconds)
        Self.figure("readyz_200_during_outage", "\(samples.filter { $0 == 200 }.count)/\(samples.count)")
        XCTAssertEqual(samples.filter { $0 != 200 }, [], "readiness left the Service during an upstream outage")
        XCTAssertGreaterThanOrEqual(samples.count, seconds, "at least one sample a second")
        XCTAssertTrue(deliveries.allSatisfy { $0 == 200 }, "\(deliveries)")
        let anthropic = (status["upstreams"] as? [String: Any])?["anthropic"] as? [String: Any] ?? [:]
        XCTAssertEqual(anthropic["state"] as? String, "outage", "\(status["upstreams"] ?? "none")")
        XCTAssertNotNil(anthropic["failing_since"] as? String)
        XCTAssertEqual(status["ready"] as? Bool, true)
        XCTAssertTrue(((status["drain"] as? [String: Any])?["last_error"] as? String ?? "").contains("503"))
        XCTAssertFalse(serve.logLines(message: "upstream.outage").isEmpty)
        let metrics = try await stack.call("GET", "\(serve.base)/metrics").body
        XCTAssertTrue(metrics.contains(#"cma_upstream_up{upstream="anthropic"} 0"#), metrics)

        // The outage ends: the queued sessions are launched and the status recovers.
        try await stack.setFaults(anthropic: nil)
        try await stack.eventually("the sessions queued during the outage to reach runners", timeout: .seconds(60)) {
            let served = Set(stack.liveRunners().values)
            return try await stack.workItems().allSatisfy { served.contains($0.id) }
        }
        try await stack.eventually("/status to show anthropic ok", timeout: .seconds(10)) {
            let upstreams = try await stack.call("GET", "\(serve.base)/status").object["upstreams"] as? [String: Any]
            return (upstreams?["anthropic"] as? [String: Any])?["state"] as? String == "ok"
        }
    }

    /// Poll mode: a fatal poll answer (401) is reported on /status, in metrics and in the
    /// log, the process keeps running and ready, and once the key works again the loop
    /// recovers without a restart.
    func testPollModeReportsAFatalAnswerAndRecoversWithoutARestart() async throws {
        let stack = try await PodLifeStack()
        defer { stack.stop() }
        try await stack.setFaults(anthropic: #"{"error_rate":1.0,"statuses":[401],"routes":["poll"]}"#)
        let serve = try await stack.serve("poll", ["CMA_POLL_FATAL_RETRY_SECONDS": "1"])
        defer { serve.stop() }
        try await stack.eventually("the fatal answer on /status and tried again", timeout: .seconds(30)) {
            let drain = try await stack.call("GET", "\(serve.base)/status").object["drain"] as? [String: Any]
            return (drain?["configuration_error"] as? String ?? "").contains("401") && serve.logLines(message: "queue.poll.fatal").count >= 2
        }
        XCTAssertTrue(serve.process.isRunning)
        let readyz = try await stack.call("GET", "\(serve.base)/readyz").status
        XCTAssertEqual(readyz, 200)
        let failing = try await stack.call("GET", "\(serve.base)/metrics").body
        XCTAssertTrue(failing.contains("cma_work_queue_configuration_error 1"))

        // The key is fixed upstream: no restart needed.
        try await stack.setFaults(anthropic: nil)
        let created = try await stack.createSession()
        try await stack.eventually("the new session to reach a runner", timeout: .seconds(30)) {
            stack.liveRunners().values.contains(created.work)
        }
        let drain = try await stack.call("GET", "\(serve.base)/status").object["drain"] as? [String: Any]
        XCTAssertTrue(drain?["configuration_error"] is NSNull, "\(drain ?? [:])")
        let recovered = try await stack.call("GET", "\(serve.base)/metrics").body
        XCTAssertTrue(recovered.contains("cma_work_queue_configuration_error 0"))
        XCTAssertTrue(serve.process.isRunning)
    }
}
