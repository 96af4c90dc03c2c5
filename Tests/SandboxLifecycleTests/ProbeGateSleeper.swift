import APIClient
import TestSupport

/// A launcher's sleeper that holds the probe after the hand-off (the one sleep of
/// `probeDelay`) until the test opens the gate; every other wait is real time.
final class ProbeGateSleeper: Sleeper {
    /// A delay no backoff or budget uses, so only the probe's sleep is held.
    static let probeDelay = Duration.milliseconds(777)
    let gate = Gate()

    func sleep(for duration: Duration) async throws {
        guard duration == Self.probeDelay else { return try await ContinuousSleeper().sleep(for: duration) }
        await gate.wait()
        try Task.checkCancellation()
    }

    func uptime() -> Duration { ContinuousSleeper().uptime() }
}
