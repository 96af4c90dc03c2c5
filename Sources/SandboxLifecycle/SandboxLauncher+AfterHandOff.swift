import APIClient
import Foundation
import Logging

/// What happens after the hand-off, off the critical path (rule 24): the metadata
/// read-modify-write of rule 18 and the liveness probe of rule 30.
extension SandboxLauncher {
    func startAfterHandOff(_ request: LaunchRequest, context: any LaunchContext, sandboxID: String,
                           origin: SandboxOrigin?, access: SandboxAccess?, knownMetadata: [String: String]? = nil,
                           launchedAt: String, logger log: Logger) {
        let key = UUID()
        activity.handOffStarted(sandboxID)
        // Registered under the lock before it can run to its own removal, so
        // `waitForBackgroundWork` never sees a finished task that stays listed.
        background.withLock { tasks in
            tasks[key] = Task.detached { [self] in
                // Bookkeeping and the probe yield to launches in the shared bucket (rule 35).
                await TokenBucket.Priority.$current.withValue(.background) {
                    if origin != .created {
                        // Rule 18: prepared and found sandboxes get the cma.* tags (the
                        // environment tag brings them under the janitor, rule 44).
                        await locks.withLock(request.sessionID) {
                            await self.updateMetadata(sandboxID: sandboxID,
                                                      own: Self.ownMetadata(request, launchedAt: launchedAt),
                                                      known: knownMetadata,
                                                      dropping: origin == .pooled ? WarmPoolPlan.poolKeys : [], logger: log)
                        }
                    }
                    if let access {
                        await self.probeAfterLaunch(request, context: context, access: access, logger: log)
                    }
                }
                self.activity.handOffEnded(sandboxID)
                _ = self.background.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// GET, merge the `cma.*` keys, drop `cma.paused_at`, PATCH the whole map (rule 18).
    /// Keys Superserve reserves are never sent back (rule 17). `known`: the map the
    /// launch's own lookup or activate answer carried moments ago, which stands in
    /// for the GET (no call whose answer is already in hand). `dropping`: keys removed
    /// in the same PATCH (a claimed pool sandbox's pool tags).
    func updateMetadata(sandboxID: String, own: [String: String], known: [String: String]? = nil,
                        dropping: Set<String> = [], logger log: Logger) async {
        do throws(SandboxLifecycleError) {
            let current: [String: String]
            if let known { current = known } else { current = try await client.getSandbox(id: sandboxID).metadata }
            let merged = Self.mergedMetadata(current, own: own).filter { !dropping.contains($0.key) }
            guard merged != current else { return }
            try await client.updateSandbox(id: sandboxID, metadata: merged)
            log.debug("sandbox.metadata.updated", metadata: ["sandbox.id": "\(sandboxID)"])
        } catch {
            // Not fatal: the runner is already running; the janitor falls back to
            // its in-memory activity for this sandbox.
            log.warning("sandbox.metadata.update_failed", metadata: ["sandbox.id": "\(sandboxID)", "error.message": "\(error)"])
        }
    }

    static func mergedMetadata(_ current: [String: String], own: [String: String]) -> [String: String] {
        var merged = current.filter { !isReservedKey($0.key) }
        merged["cma.paused_at"] = nil
        merged.merge(own) { _, new in new }
        return merged
    }

    static func isReservedKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        return lower.hasPrefix("superserve.") || lower.hasPrefix("_superserve")
    }

    /// Probe calls tried after the hand-off before the probe is given up as unknown.
    static let probeAttempts = 5

    /// Rule 30: about `probeDelay` after the hand-off run probe.sh; `running` or
    /// `exited` 0 is success, and only an answer that shows the runner dead, never
    /// started or failed is reported (with the runner.log tail) as a late failure.
    ///
    /// Rule 9: a handed-off item is the runner's. A probe that gets no usable answer
    /// (errors, transport failures, output without a state) says nothing about the
    /// runner, so after `probeAttempts` tries it is logged and the item is left alone:
    /// force-stopping it would strand a session whose runner may well be running.
    func probeAfterLaunch(_ request: LaunchRequest, context: any LaunchContext, access: SandboxAccess,
                          logger log: Logger) async {
        do { try await sleeper.sleep(for: configuration.probeDelay) } catch { return }
        let sandboxID = access.sandboxID
        var problem = "probe failed"
        var answered: ProbeResult?
        let backoff = Backoff(cap: configuration.retryCap)
        for attempt in 0..<Self.probeAttempts {
            do throws(SandboxLifecycleError) {
                if let probe = try await runProbe(access) {
                    answered = probe
                    break
                }
                problem = "probe.sh printed no state"
            } catch {
                problem = "probe failed: \(error)"
                // Every failed probe call is tried again, fatal classes included: its
                // answer only decides whether to report, never what to run.
                if attempt + 1 < Self.probeAttempts {
                    do { try await sleeper.sleep(for: backoff.delay(attempt: attempt, hint: error.retryAfter)) } catch { return }
                }
                continue
            }
            if attempt + 1 < Self.probeAttempts {
                do { try await sleeper.sleep(for: backoff.delay(attempt: attempt, hint: nil)) } catch { return }
            }
        }
        guard let probe = answered else {
            log.warning("runner.probe.unknown", metadata: ["sandbox.id": "\(sandboxID)", "error.message": "\(problem)"])
            return
        }
        if probe.isHealthy {
            if probe.state == .running {
                activity.recordRunning(sandboxID, at: now())
            } else {
                // Making room under the quota reuses this answer instead of probing again.
                activity.recordEnded(sandboxID, state: probe.state, at: now())
            }
            log.info("runner.probe.ok", metadata: ["sandbox.id": "\(sandboxID)", "runner.state": "\(probe.state.rawValue)"])
            return
        }
        problem = "runner \(probe.state.rawValue)" + (probe.exitCode.map { " with exit code \($0)" } ?? "")
        let tail = await logTail(access)
        let failure = LaunchFailure(reason: "runner not healthy after launch: \(problem)", sandboxID: sandboxID, logTail: tail)
        log.error("runner.probe.failed", metadata: [
            "sandbox.id": "\(sandboxID)", "error.message": "\(failure.reason)", "runner.log_tail": "\(tail ?? "")",
        ])
        // Rule 37 through the item's owner: the app force-stops it via the drainer.
        await context.lateFailure(workID: request.workID, sessionID: request.sessionID, failure)
    }

    func runProbe(_ access: SandboxAccess) async throws(SandboxLifecycleError) -> ProbeResult? {
        let dir = configuration.runnerDirectory
        let result = try await client.exec(access, command: RunnerEnvironment.probeCommand(runnerDirectory: dir),
                                           workingDirectory: dir, timeoutSeconds: configuration.probeExecTimeoutSeconds)
        return ProbeResult.parse(result.stdout)
    }

    func logTail(_ access: SandboxAccess) async -> String? {
        let dir = configuration.runnerDirectory
        let command = RunnerEnvironment.logTailCommand(runnerDirectory: dir, bytes: configuration.logTailBytes)
        let result = try? await client.exec(access, command: command, workingDirectory: dir,
                                            timeoutSeconds: configuration.probeExecTimeoutSeconds)
        return result.map { Self.tail($0.stdout, bytes: configuration.logTailBytes) }
    }
}
