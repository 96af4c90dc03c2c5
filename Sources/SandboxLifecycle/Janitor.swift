import APIClient
import Foundation
import Logging

/// Pauses sandboxes whose runner has finished (rules 43–45). Never deletes.
public final class Janitor: Sendable {
    public struct Configuration: Sendable {
        /// The environment whose sandboxes this janitor looks after (`cma.environment_id`).
        public var environmentID: String
        /// `CMA_IDLE_PAUSE_SECONDS`: idle time before a sandbox is probed for pausing (rule 44).
        public var idleTimeout: Duration = .seconds(300)
        /// `CMA_JANITOR_INTERVAL_SECONDS`: time between sweeps (rule 44).
        public var interval: Duration = .seconds(60)
        /// `CMA_RUNNER_DIR`: where probe.sh lives.
        public var runnerDirectory = "/srv/cma"
        /// Exec `timeout_s` of the probe.
        public var probeExecTimeoutSeconds = 15
        /// Rule 43: pause after the runner's `max_idle` plus this margin (`CMA_IDLE_PAUSE_MARGIN_SECONDS`).
        public var maxIdle: Duration = .seconds(60)
        public var idlePauseMargin: Duration = .seconds(30)

        public init(environmentID: String) {
            self.environmentID = environmentID
        }
    }

    /// What one sweep did, for logs and tests.
    public struct SweepReport: Sendable, Equatable {
        public var paused: [String] = []
        public var stillRunning: [String] = []
        public var skipped: [String] = []
        public var errors: [String] = []
    }

    let client: SuperserveClient
    let configuration: Configuration
    let locks: SessionLocks
    let activity: SandboxActivity
    let logger: Logger
    let sleeper: any Sleeper
    let now: @Sendable () -> Date
    let observer: (any LifecycleObserver)?

    public init(client: SuperserveClient, configuration: Configuration, locks: SessionLocks,
                activity: SandboxActivity, logger: Logger, sleeper: any Sleeper = ContinuousSleeper(),
                now: @escaping @Sendable () -> Date = { Date() }, observer: (any LifecycleObserver)? = nil) {
        self.client = client
        self.configuration = configuration
        self.locks = locks
        self.activity = activity
        self.logger = logger
        self.sleeper = sleeper
        self.now = now
        self.observer = observer
    }

    /// Sweeps every `interval` until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            await sweep()
            do { try await sleeper.sleep(for: configuration.interval) } catch { return }
        }
    }

    /// One pass of rule 44: list this environment's active sandboxes, probe the
    /// idle ones under their session lock, pause those whose runner is not running.
    @discardableResult
    public func sweep() async -> SweepReport {
        var report = SweepReport()
        let sandboxes: [Sandbox]
        do {
            sandboxes = try await client.listSandboxes(
                metadata: ["cma.environment_id": configuration.environmentID], status: ["active"])
        } catch {
            logger.warning("janitor.list_failed", metadata: ["error.message": "\(error)"])
            report.errors.append("list: \(error)")
            observer?.janitorSwept(listed: false)
            return report
        }
        for sandbox in sandboxes where sandbox.status == .active {
            guard isIdle(sandbox) else { continue }
            await consider(sandbox, report: &report, trigger: .idle)
        }
        observer?.janitorSwept(listed: true)
        if !report.paused.isEmpty {
            logger.info("janitor.sweep", metadata: ["sandbox.paused": "\(report.paused.joined(separator: ","))"])
        }
        return report
    }

    /// Rule 43 (optional): after the runner's `max_idle` plus a margin, pause the
    /// session's sandbox if the probe shows the runner is not running.
    public func pauseWhenIdle(sessionID: String) async {
        do { try await sleeper.sleep(for: configuration.maxIdle + configuration.idlePauseMargin) } catch { return }
        do {
            let sandboxes = try await client.listSandboxes(metadata: ["cma.session_id": sessionID], status: ["active"])
            var report = SweepReport()
            for sandbox in sandboxes where sandbox.status == .active {
                await consider(sandbox, report: &report, trigger: .maxIdle)
            }
        } catch {
            logger.warning("janitor.idle_pause_failed", metadata: ["session.id": "\(sessionID)", "error.message": "\(error)"])
        }
    }

    /// What a session's sandbox says about its runner, for the reconciler.
    public enum SessionRunner: Sendable, Equatable {
        case running(workID: String?)
        case notRunning(String)
        /// This process holds the session's lock (a launch or a pause is under way).
        case busy
        case unknown(String)
    }

    /// Whether a runner lives in the session's sandbox (rule 10: under its lock, and a
    /// held lock answers `.busy` at once). Active sandboxes are probed; a paused one, no
    /// sandbox at all, or one without the runner bundle hold no runner.
    public func sessionRunner(sessionID: String) async -> SessionRunner {
        let answer: SessionRunner? = await locks.withLockIfAvailable(sessionID) { () async -> SessionRunner in
            do throws(SandboxLifecycleError) {
                let sandboxes = try await client.listSandboxes(metadata: ["cma.session_id": sessionID])
                    .filter { $0.status != .failed && $0.status != .deleted }
                if sandboxes.isEmpty { return .notRunning("no sandbox") }
                var notes: [String] = []
                for sandbox in sandboxes {
                    switch sandbox.status {
                    case .active:
                        let access: SandboxAccess
                        if let known = activity.access(for: sandbox.id) {
                            access = known
                        } else {
                            access = try SandboxAccess(try await client.activate(id: sandbox.id))
                            activity.remember(access)
                        }
                        guard let look = try await lookAtRunner(access) else {
                            return .unknown("sandbox \(sandbox.id): probe printed no state")
                        }
                        if look.probe.state == .running {
                            activity.recordRunning(sandbox.id, at: now())
                            return .running(workID: look.workID)
                        }
                        notes.append(look.noBundle ? "sandbox \(sandbox.id) has no runner bundle"
                            : "sandbox \(sandbox.id): runner \(look.probe.state.rawValue)")
                    case .paused, .pausing:
                        notes.append("sandbox \(sandbox.id) is paused")
                    default:
                        // starting, resuming, migrating: look again on a later pass.
                        return .unknown("sandbox \(sandbox.id) is \(sandbox.status.rawValue)")
                    }
                }
                return .notRunning(notes.joined(separator: "; "))
            } catch {
                return .unknown("\(error)")
            }
        }
        return answer ?? .busy
    }

    /// The probe's answer, the work id the runner was started for (`.runner.work`), and
    /// whether the runner bundle is missing. A sandbox without the bundle (created by
    /// a process that died before the upload, or never launched into) reads as
    /// `no_pidfile`, "runner not running" (rule 44), so the janitor pauses it when
    /// idle instead of failing on it every sweep. Nil when the probe printed no state.
    func lookAtRunner(_ access: SandboxAccess) async throws(SandboxLifecycleError) -> (probe: ProbeResult, workID: String?, noBundle: Bool)? {
        let dir = configuration.runnerDirectory
        let command = "if [ -f \(dir)/probe.sh ]; then sh \(dir)/probe.sh; printf '\(Self.workMarker)%s\\n' \"$(cat \(dir)/.runner.work 2>/dev/null)\"; "
            + "else printf '%s\\n' '\(Self.noBundleMarker)'; fi"
        let stdout: String
        do throws(SandboxLifecycleError) {
            // No working directory: the runner's may not exist.
            stdout = try await client.exec(access, command: command, timeoutSeconds: configuration.probeExecTimeoutSeconds).stdout
        } catch {
            // An exec refused for a missing path is the same "no bundle".
            guard error.status == 400 else { throw error }
            return (ProbeResult(state: .noPidfile, pid: nil, exitCode: nil), nil, true)
        }
        let lines = stdout.split(whereSeparator: \.isNewline)
        if lines.contains(where: { $0 == Self.noBundleMarker }) {
            return (ProbeResult(state: .noPidfile, pid: nil, exitCode: nil), nil, true)
        }
        guard let probe = ProbeResult.parse(stdout) else { return nil }
        let work = lines.last { $0.hasPrefix(Self.workMarker) }.map { String($0.dropFirst(Self.workMarker.count)) }
        return (probe, work.flatMap { $0.isEmpty ? nil : $0 }, false)
    }

    static let workMarker = "cma.runner.work="
    static let noBundleMarker = "cma.no_runner_bundle"

    /// Last activity: the later of the in-memory probe time and `cma.launched_at`.
    func lastActivity(_ sandbox: Sandbox) -> Date? {
        let launched = sandbox.metadata["cma.launched_at"].flatMap(Timestamp.parse)
        let seen = activity.lastSeenRunning(sandbox.id)
        switch (launched, seen) {
        case (let a?, let b?): return max(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }

    func isIdle(_ sandbox: Sandbox) -> Bool {
        guard let last = lastActivity(sandbox) else { return true }
        return now().timeIntervalSince(last) > configuration.idleTimeout.seconds
    }

    private enum Verdict {
        case paused, running, skipped
        case failed(String)
    }

    /// `.maxIdle` pauses without the idle test: the session's own idle webhook and
    /// the runner's `max_idle` already say so (rule 43).
    private func consider(_ listed: Sandbox, report: inout SweepReport, trigger: PauseTrigger) async {
        let requireIdle = trigger == .idle
        let sessionID = listed.metadata["cma.session_id"] ?? "sandbox:" + listed.id
        var log = logger
        log[metadataKey: "sandbox.id"] = "\(listed.id)"
        log[metadataKey: "session.id"] = "\(sessionID)"
        // Rule 10: a session being launched is not idle; skip it rather than wait.
        let outcome: Verdict? = await locks.withLockIfAvailable(sessionID) { () async -> Verdict in
            do throws(SandboxLifecycleError) {
                // Rule 44: re-read right before deciding; cma.launched_at may have moved.
                let fresh = try await client.getSandbox(id: listed.id)
                guard fresh.status == .active else { return .skipped }
                if requireIdle, !isIdle(fresh) { return .skipped }
                let access: SandboxAccess
                if let known = activity.access(for: fresh.id) {
                    access = known
                } else {
                    access = try SandboxAccess(try await client.activate(id: fresh.id))
                    activity.remember(access)
                }
                guard let probe = try await lookAtRunner(access)?.probe else {
                    log.warning("janitor.probe_unreadable")
                    return .failed("probe printed no state")
                }
                if probe.state == .running {
                    activity.recordRunning(fresh.id, at: now())
                    return .running
                }
                var metadata = fresh.metadata.filter { !SandboxLauncher.isReservedKey($0.key) }
                metadata["cma.paused_at"] = Timestamp.format(now())
                try await client.updateSandbox(id: fresh.id, metadata: metadata)
                let pause = try await client.pause(id: fresh.id)
                activity.recordPaused(fresh.id, runnerState: probe.state.rawValue, at: now())
                log.info("janitor.paused", metadata: ["runner.state": "\(probe.state.rawValue)", "pause.outcome": "\(pause)"])
                return .paused
            } catch {
                log.warning("janitor.sandbox_failed", metadata: ["error.message": "\(error)"])
                return .failed("\(error)")
            }
        }
        switch outcome {
        case .paused?:
            report.paused.append(listed.id)
            observer?.janitorPause(trigger, paused: true)
        case .running?: report.stillRunning.append(listed.id)
        case .skipped?, nil: report.skipped.append(listed.id)
        case .failed(let detail)?:
            report.errors.append("\(listed.id): \(detail)")
            observer?.janitorPause(trigger, paused: false)
        }
    }
}
