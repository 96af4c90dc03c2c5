import APIClient

/// Rule 37's budget against rule 35's shared bucket: a launch is charged for its own
/// calls and waits, not for its turn in the team's token queue. When many launches
/// share the bucket (a burst, a 429 pausing it for everyone), a launch that waited for
/// tokens would otherwise be force-stopped although nothing went wrong with it.
extension SandboxLauncher {
    /// The time charged to a launch `start` ago: the wall-clock time less what it spent
    /// waiting for bucket tokens, of which at most one more `launchBudget` is left
    /// out. So no launch holds its acked item longer than twice the budget, however
    /// long the bucket's queue (rule 37: an acked item without a runner must not hang).
    func chargedElapsed(since start: Duration, meter: BucketWaitMeter) -> Duration {
        let wall = sleeper.uptime() - start
        return wall - min(meter.total, configuration.launchBudget)
    }

    /// Runs `body` with `meter` counting this task's bucket waits.
    func metered<T: Sendable>(_ meter: BucketWaitMeter, _ body: () async -> T) async -> T {
        await BucketWaitMeter.$current.withValue(meter) { await body() }
    }
}
