import APIClient
import Foundation

/// Room under the team's active-sandbox quota (superserve.md §7: 429
/// `too_many_sandboxes`), made the way the janitor pauses idle sandboxes (rule 44):
/// under the session lock, a probe, `cma.paused_at`, pause without waiting.
extension Janitor {
    /// A sandbox whose runner a probe saw running this recently is left out of
    /// room-making (fixed; README, `CMA_QUOTA_RETRY_SECONDS` row).
    public static let runningRecheck: Duration = .seconds(30)

    /// Pauses up to `count` of this environment's active sandboxes whose runner is not
    /// running, longest idle first (in-memory probe time, else `cma.launched_at`).
    /// Sessions being launched are skipped (their lock is held, or their after-hand-off
    /// probe has not run yet), and a sandbox whose
    /// runner runs is left alone. At most `2 × count + 2` probes per call, so a team
    /// full of running runners costs a bounded number of calls. Returns how many it
    /// paused.
    public func makeRoom(count: Int) async -> Int {
        guard count > 0 else { return 0 }
        let sandboxes: [Sandbox]
        do {
            sandboxes = try await client.listSandboxes(
                metadata: ["cma.environment_id": configuration.environmentID], status: ["active"])
        } catch {
            logger.warning("janitor.quota.list_failed", metadata: ["error.message": "\(error)"])
            return 0
        }
        // A sandbox whose launch is still in its after-hand-off probe is not a candidate:
        // its runner has barely started, and the probe would wake it again.
        let at = now()
        let ordered = sandboxes.filter { sandbox in
            guard sandbox.status == .active, !activity.handOffPending(sandbox.id) else { return false }
            // Seen running lately: not probed again yet, so that a team full of busy
            // runners costs each of them one probe per `runningRecheck`, not one per round.
            if let seen = activity.lastSeenRunning(sandbox.id), at.timeIntervalSince(seen) < Self.runningRecheck.seconds {
                return false
            }
            return true
        }
            .map { ($0, lastActivity($0) ?? .distantPast) }
            .sorted { $0.1 < $1.1 }
            .map(\.0)
        var report = SweepReport()
        var probed = 0
        for sandbox in ordered {
            if report.paused.count >= count || probed >= 2 * count + 2 { break }
            probed += 1
            await consider(sandbox, report: &report, trigger: .quota)
        }
        logger.info("janitor.quota.room", metadata: [
            "sandbox.wanted": "\(count)", "sandbox.paused": "\(report.paused.count)",
            "sandbox.probed": "\(probed)",
        ])
        return report.paused.count
    }
}
