/// Hooks for metrics on a `TokenBucket` (rule 35). Called only when a caller finds
/// the bucket empty or paused, never on the path that takes a token at once, so an
/// idle bucket costs nothing. Implementations must be cheap and must not block.
public protocol TokenBucketObserver: Sendable {
    /// A caller has to wait for a token (one more waiter).
    func bucketWaitStarted()
    /// That caller got its token (or was cancelled) after `waited`.
    func bucketWaitEnded(waited: Duration)
    /// A 429 `rate_limited` paused the bucket; `halved` when it also halved the rate.
    func bucketRateLimited(halved: Bool)
}

extension TokenBucketObserver {
    public func bucketRateLimited(halved: Bool) {}
}
