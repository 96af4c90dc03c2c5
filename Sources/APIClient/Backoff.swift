/// Rule 34: delay = min(cap, base × 2^attempt) × U(0.5, 1]; a server hint
/// (`retry-after-ms`, `Retry-After` seconds or HTTP-date, see `RetryHint`) that asks
/// for more wins, up to `Backoff.maximumHint` (60 s).
///
/// Caps per rule 34: 30 s for per-item steps, 60 s for the poll loop.
public struct Backoff: Sendable {
    /// Longest server hint honoured (rule 34).
    public static let maximumHint: Duration = .seconds(60)

    public let base: Duration
    public let cap: Duration
    /// Returns a value in [0, 1); the jitter factor is `1 - 0.5 × random()`, i.e. in (0.5, 1].
    private let random: @Sendable () -> Double

    public init(base: Duration = .milliseconds(500), cap: Duration) {
        self.init(base: base, cap: cap, random: { Double.random(in: 0..<1) })
    }

    /// Injectable randomness for tests: `random` must return a value in [0, 1).
    public init(base: Duration = .milliseconds(500), cap: Duration, random: @escaping @Sendable () -> Double) {
        self.base = base
        self.cap = cap
        self.random = random
    }

    /// Delay before retry number `attempt` (0 = first retry). `hint` is the
    /// server's requested wait, if any.
    public func delay(attempt: Int, hint: Duration?) -> Duration {
        let capSeconds = cap.secondsDouble
        // 2^attempt overflows nothing in Double; clamp the exponent anyway so
        // huge attempt counts stay finite.
        let exponential = base.secondsDouble * Double(sign: .plus, exponent: min(max(attempt, 0), 1000), significand: 1)
        let r = min(max(random(), 0), 0.999_999_999)
        let jittered = min(capSeconds, exponential) * (1 - 0.5 * r)
        var seconds = jittered
        if let hint {
            let hinted = min(hint.secondsDouble, Self.maximumHint.secondsDouble)
            if hinted > seconds { seconds = hinted }
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}

extension Duration {
    /// The duration as seconds (fractional).
    public var secondsDouble: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// Whole milliseconds, for log metadata.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
