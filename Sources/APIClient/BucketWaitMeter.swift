import Synchronization

/// Adds up the time one piece of work (a launch) spent waiting for token-bucket
/// tokens, so that its budget can leave out its turn in the shared queue (rule 37's
/// budget against rule 35's bucket). Set it for a task with
/// `BucketWaitMeter.$current.withValue(meter) { … }`; `TokenBucket.acquire` adds each
/// wait of that task (and of its child tasks) to it.
public final class BucketWaitMeter: Sendable {
    @TaskLocal public static var current: BucketWaitMeter?

    private let waited = Mutex<Duration>(.zero)

    public init() {}

    /// Time spent waiting for tokens so far.
    public var total: Duration { waited.withLock { $0 } }

    public func add(_ duration: Duration) {
        guard duration > .zero else { return }
        waited.withLock { $0 += duration }
    }
}
