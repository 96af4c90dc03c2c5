import APIClient
import Foundation
import Logging

/// What happens after the hand-off, off the critical path (rule 24): the metadata
/// read-modify-write of rule 18 and the liveness probe of rule 30.
extension SandboxLauncher {
    func startAfterHandOff(_ request: LaunchRequest, context: any LaunchContext, sandboxID: String,
                           origin: SandboxOrigin?, access: SandboxAccess?, launchedAt: String, logger log: Logger) {
        let key = UUID()
        // Registered under the lock before it can run to its own removal, so
        // `waitForBackgroundWork` never sees a finished task that stays listed.
        background.withLock { tasks in
            tasks[key] = Task.detached { [self] in
                if origin != .created {
                    // Rule 18: prepared and found sandboxes get the cma.* tags (the
                    // environment tag brings them under the janitor, rule 44).
                    await locks.withLock(request.sessionID) {
                        await self.updateMetadata(sandboxID: sandboxID,
                                                  own: Self.ownMetadata(request, launchedAt: launchedAt),
                                                  dropping: origin == .pooled ? WarmPoolPlan.poolKeys : [], logger: log)
                    }
                }
                if let access {
                    await self.probeAfterLaunch(request, context: context, access: access, logger: log)
                }
                _ = self.background.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// GET, merge the `cma.*` keys, drop `cma.paused_at`, PATCH the whole map (rule 18).
    /// Keys Superserve reserves are never sent back (rule 17).
    /// `dropping`: keys removed in the same PATCH (a claimed pool sandbox's pool tags).
    func updateMetadata(sandboxID: String, own: [String: String], dropping: Set<String> = [], logger log: Logger) async {
        do throws(SandboxLifecycleError) {
            let current = try await client.getSandbox(id: sandboxID)
            let merged = Self.mergedMetadata(current.metadata, own: own).filter { !dropping.contains($0.key) }
            guard merged != current.metadata else { return }
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

    /// Rule 30: about `probeDelay` after the hand-off run probe.sh; `running` or
    /// `exited` 0 is success, anything else is reported with the runner.log tail.
    func probeAfterLaunch(_ request: LaunchRequest, context: any LaunchContext, access: SandboxAccess,
                          logger log: Logger) async {
        do { try await sleeper.sleep(for: configuration.probeDelay) } catch { return }
        let sandboxID = access.sandboxID
        var problem = "probe failed"
        // Any failed probe call is tried again, fatal classes included (not rule 33's
        // data-plane row): a false "not alive" force-stops an item that a live runner
        // holds (rule 37), so the probe gives the runner the benefit of the doubt.
        for attempt in 0..<3 {
            do throws(SandboxLifecycleError) {
                let probe = try await runProbe(access)
                if let probe, probe.isHealthy {
                    if probe.state == .running { activity.recordRunning(sandboxID, at: now()) }
                    log.info("runner.probe.ok", metadata: ["sandbox.id": "\(sandboxID)", "runner.state": "\(probe.state.rawValue)"])
                    return
                }
                problem = probe.map { "runner \($0.state.rawValue)" + ($0.exitCode.map { " with exit code \($0)" } ?? "") }
                    ?? "probe.sh printed no state"
                break
            } catch {
                problem = "probe failed: \(error)"
                if attempt < 2 {
                    let delay = Backoff(cap: configuration.retryCap).delay(attempt: attempt, hint: error.retryAfter)
                    do { try await sleeper.sleep(for: delay) } catch { return }
                }
            }
        }
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
