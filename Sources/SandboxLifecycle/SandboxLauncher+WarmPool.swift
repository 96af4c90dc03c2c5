import Foundation
import Logging

extension SandboxLauncher {
    /// A launch that won a pool sandbox's claim and then failed before the hand-off:
    /// the sandbox is this session's now (its claim link names it), so it gets the
    /// session's tags and loses the pool's, as a created sandbox carries them from its
    /// create on. The session's next item finds it by lookup (rule 13) and the janitor
    /// looks after it (rule 44); the pool never offers it again.
    func keepPooledForSession(_ request: LaunchRequest, sandboxID: String, launchedAt: String, logger log: Logger) {
        let key = UUID()
        background.withLock { tasks in
            tasks[key] = Task.detached { [self] in
                await locks.withLock(request.sessionID) {
                    await self.updateMetadata(sandboxID: sandboxID, own: Self.ownMetadata(request, launchedAt: launchedAt),
                                              dropping: WarmPoolPlan.poolKeys, logger: log)
                }
                _ = self.background.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// The `claimPooled` step: the next pool sandbox (or `retrying` again) and its
    /// claim-and-launch exec (`WarmPool+Claim.swift`).
    func claimPooled(_ request: LaunchRequest, retrying: SandboxAccess?,
                             environment: [String: String]) async -> (event: PooledClaimEvent, access: SandboxAccess?) {
        guard let pool, WarmPool.isShellSafe(request.sessionID) else { return (.empty, nil) }
        let access: SandboxAccess
        if let retrying {
            access = retrying
        } else if let candidate = pool.take() {
            access = candidate.access
        } else {
            return (.empty, nil)
        }
        do {
            switch try await pool.claimAndLaunch(WarmPool.Candidate(sandboxID: access.sandboxID, access: access),
                                                 sessionID: request.sessionID, environment: environment,
                                                 timeoutSeconds: configuration.execTimeoutSeconds) {
            case .lost: return (.lost(sandboxID: access.sandboxID), nil)
            case .ran(let result): return (.ran(sandboxID: access.sandboxID, .success(result)), access)
            }
        } catch {
            return (.ran(sandboxID: access.sandboxID, .failure(error)), access)
        }
    }
}
