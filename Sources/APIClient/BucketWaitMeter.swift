import Synchronization

/// Adds up the time one piece of work (a launch) spent waiting for token-bucket
/// tokens, so that its budget can leave out its turn in the shared queue (rule 37's
/// budget against rule 35's bucket). Set it for a task with
/// `BucketWaitMeter.$current.withValue(meter) { … }`; `TokenBucket.acquire` adds each
/// wait of that task (and of its child tasks) to it, and counts the tokens it took:
/// one per upstream call, retries included.
public final class BucketWaitMeter: Sendable {
    @TaskLocal public static var current: BucketWaitMeter?

    private let waited = Mutex<Duration>(.zero)
    private let taken = Atomic<Int>(0)

    public init() {}

    /// Time spent waiting for tokens so far.
    public var total: Duration { waited.withLock { $0 } }

    /// Tokens taken so far: the calls made through the bucket.
    public var tokens: Int { taken.load(ordering: .relaxed) }

    public func tokenTaken() { taken.add(1, ordering: .relaxed) }

    public func add(_ duration: Duration) {
        guard duration > .zero else { return }
        waited.withLock { $0 += duration }
    }
}
