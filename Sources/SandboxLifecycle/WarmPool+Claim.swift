import Foundation
import Logging

/// The claim: how two replicas never take the same pool sandbox.
///
/// The race. Superserve has no compare-and-swap on metadata: a PATCH replaces the
/// whole map and the last writer wins (superserve.md §3.6). Replicas A and B both
/// list the pool and both see sandbox S unclaimed; if each "claimed" S by writing
/// `cma.session_id`, both PATCHes would succeed, each would launch its runner in S,
/// and S would serve two sessions (the second runner's launch.sh stops the first,
/// rule 31, stranding a session). Reading the tag back does not help: both may read
/// before either writes.
///
/// The claim is therefore made inside the sandbox, where the file system gives an
/// atomic test-and-set: `ln -s <holder> <runner dir>/.claim` creates the link only if
/// no link exists (symlink(2) fails with EEXIST otherwise) and stores the holder in
/// the same step, so there is no window where the claim exists without its owner.
/// Every claimant then reads the link back: the one whose holder it names has won.
/// The claim is the first part of the one exec that also unpacks the pre-staged
/// bundle and runs launch.sh, so winning costs no call over the launch itself; the
/// loser's exec stops before touching anything (exit 75, `cma-claim-lost <holder>`),
/// and the loser takes the next pool sandbox or creates one. Only the winner
/// re-tags the sandbox with `cma.session_id` (after the hand-off, rule 18), which also
/// drops the pool tags; until then other replicas may still try S and lose.
///
/// The claim is idempotent for its holder: an exec whose answer was lost is repeated
/// (rule 31), `ln` fails, the link names us, and launch.sh finds the runner it
/// started. Recycling takes the same claim with the holder `recycle` before it
/// deletes, so a recycle can never delete a sandbox a session has just won; a
/// recycle that loses to a session hands the sandbox to the janitor instead (tags it
/// with the session), in case the winner's re-tag never happened.
extension WarmPool {
    /// The holder a recycle claims with; session ids start with `sesn_`.
    static let recycleHolder = "recycle"
    /// launch.sh and the claim prefix never exit 75 otherwise (EX_TEMPFAIL).
    static let lostExitCode = 75
    static let lostMarker = "cma-claim-lost"

    public enum ClaimResult: Sendable {
        /// The claim was ours; this is the launch exec's answer.
        case ran(ExecResult)
        /// Someone else holds the sandbox.
        case lost(holder: String)
    }

    /// Holders go into a shell command: only ids made of letters, digits, `_`, `-`, `.`.
    static func isShellSafe(_ holder: String) -> Bool {
        !holder.isEmpty && holder.utf8.count <= 128 && holder.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".": true
            default: false
            }
        }
    }

    /// The atomic claim (see above), then nothing if it is ours; a loser prints the
    /// holder and exits 75. Paths stay absolute and space-free (LauncherConfiguration.validate).
    static func claimCommand(holder: String, runnerDirectory dir: String) -> String {
        "mkdir -p \(dir) && { ln -s '\(holder)' \(dir)/.claim 2>/dev/null; h=$(readlink \(dir)/.claim); "
            + "if [ \"$h\" != '\(holder)' ]; then echo \"\(lostMarker) $h\"; exit \(lostExitCode); fi; }"
    }

    /// Claim, then rule 29's launch from the bundle the pool already wrote.
    static func claimAndLaunchCommand(sessionID: String, runnerDirectory dir: String) -> String {
        claimCommand(holder: sessionID, runnerDirectory: dir) + " && " + RunnerEnvironment.launchCommand(runnerDirectory: dir)
    }

    /// The holder named by a lost claim's answer, or nil when the claim was not lost.
    static func lostHolder(_ result: ExecResult) -> String? {
        guard result.exitCode == lostExitCode else { return nil }
        for line in result.stdout.split(separator: "\n") where line.hasPrefix(lostMarker) {
            return String(line.dropFirst(lostMarker.count)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Claims `candidate` for `sessionID` and, if won, launches the runner in the same
    /// exec (`environment` is the runner's per-command env, rule 28).
    public func claimAndLaunch(_ candidate: Candidate, sessionID: String, environment: [String: String],
                               timeoutSeconds: Int) async throws(SandboxLifecycleError) -> ClaimResult {
        let dir = launcher.runnerDirectory
        let result = try await client.exec(candidate.access,
                                           command: Self.claimAndLaunchCommand(sessionID: sessionID, runnerDirectory: dir),
                                           workingDirectory: dir, environment: environment, timeoutSeconds: timeoutSeconds)
        if let holder = Self.lostHolder(result) {
            record(.lost)
            logger.info("warm_pool.claim_lost", metadata: ["sandbox.id": "\(candidate.sandboxID)", "session.id": "\(sessionID)"])
            return .lost(holder: holder)
        }
        record(.won)
        return .ran(result)
    }

    /// Deletes an old, failed or abandoned pool sandbox. An old one is claimed for
    /// the recycle first; if a session holds it, it is handed to the janitor instead.
    func recycle(_ sandbox: Sandbox, reason: WarmPoolPlan.RecycleReason) async {
        let env = configuration.environmentID
        state.withLock { s in
            s.excluded.insert(sandbox.id)
            s.members.removeAll { $0.sandboxID == sandbox.id }
            s.snapshot.ready = s.members.count
        }
        do throws(SandboxLifecycleError) {
            if reason == .age {
                let access = try await accessFor(sandbox.id)
                let dir = launcher.runnerDirectory
                try? await yieldToLaunches()
                let answer = try await client.exec(access, command: Self.claimCommand(holder: Self.recycleHolder, runnerDirectory: dir),
                                                   workingDirectory: dir, timeoutSeconds: 15)
                if let holder = Self.lostHolder(answer) {
                    if holder != Self.recycleHolder, Self.isShellSafe(holder) { await handOver(sandbox.id, to: holder) }
                    return
                }
                guard answer.exitCode == 0 else { throw .invalidResponse("recycle claim exited \(answer.exitCode)") }
            }
            try? await yieldToLaunches()
            try await client.deleteSandbox(id: sandbox.id)
            state.withLock { $0.snapshot.recycled += 1 }
            logger.info("warm_pool.recycled", metadata: ["sandbox.id": "\(sandbox.id)", "recycle.reason": "\(reason.rawValue)"])
            observer?.warmPoolRecycle(environment: env, reason: reason)
        } catch {
            // The next pass lists it again and retries (age is judged before exclusion).
            state.withLock { _ = $0.excluded.remove(sandbox.id) }
            logger.warning("warm_pool.recycle_failed", metadata: ["sandbox.id": "\(sandbox.id)", "error.message": "\(error)"])
        }
    }

    private func accessFor(_ id: String) async throws(SandboxLifecycleError) -> SandboxAccess {
        try? await yieldToLaunches()
        return try SandboxAccess(try await client.activate(id: id))
    }

    /// A sandbox a session won but never re-tagged (its launcher's metadata update
    /// failed): tag it with that session and the environment, drop the pool tags
    /// (rule 18's read-modify-write), so that the janitor (rule 44) looks after it.
    private func handOver(_ id: String, to sessionID: String) async {
        do throws(SandboxLifecycleError) {
            let fresh = try await client.getSandbox(id: id)
            guard fresh.metadata[LaunchPlanner.sessionTag] == nil else { return }
            var metadata = fresh.metadata.filter { !WarmPoolPlan.poolKeys.contains($0.key) && !SandboxLauncher.isReservedKey($0.key) }
            metadata[LaunchPlanner.sessionTag] = sessionID
            metadata["cma.environment_id"] = configuration.environmentID
            metadata["cma.launched_at"] = Timestamp.format(now())
            try await client.updateSandbox(id: id, metadata: metadata)
            logger.notice("warm_pool.handed_over", metadata: ["sandbox.id": "\(id)", "session.id": "\(sessionID)"])
        } catch {
            logger.warning("warm_pool.hand_over_failed", metadata: ["sandbox.id": "\(id)", "error.message": "\(error)"])
        }
    }
}
