import CEpoll
import Dispatch
import Glibc
import Synchronization

/// One budget for the request bytes the server holds across all its connections:
/// partial heads (`Connection.inbuf`) and bodies being read. A connection reserves
/// before it grows a buffer and releases when the buffer goes (handed to a handler,
/// consumed, or the connection closed); a reservation that does not fit is refused and
/// the request gets 503 with `Retry-After` and `Connection: close`. What is reserved is
/// the buffer's capacity, not its count, so the figure is the memory really held.
///
/// Probes keep working when the budget is spent: a request without a body needs no
/// body budget, a head that arrives in one read is parsed straight from the loop's
/// scratch buffer without being buffered, and the first `headAllowance` bytes of a
/// buffered head are not charged (so a probe split over a few reads still gets in).
/// Those allowances are bounded by the connection cap: at most
/// `maxConnections × headAllowance` bytes beside the budget.
///
/// Giving memory back: glibc keeps freed memory in its arenas. `HTTPServer.bind()`
/// fixes the mmap threshold (`configureAllocator`), so that a buffer of 128 KiB or more
/// is its own mapping and goes back to the kernel when freed; the smaller buffers
/// (heads, small bodies) leave free pages inside the arenas, which `malloc_trim(0)`
/// returns. The trim runs after a burst (see `tick`), off the connection queues.
final class BufferBudget: Sendable {
    /// Bytes that may be reserved at once.
    let limit: Int
    /// Per connection, the first bytes of a buffered head that are not charged.
    let headAllowance: Int
    /// Whether `tick` trims the allocator after a burst.
    let trimsAfterBursts: Bool
    private let used = Atomic<Int>(0)
    /// The most reserved since the last trim (or since start).
    private let highWater = Atomic<Int>(0)
    /// Open connections seen at most since the last trim (their objects are not budgeted).
    private let connectionsHighWater = Atomic<Int>(0)
    /// Reported to the observer by the last `tick` (so unchanged values are not re-sent).
    private let reported = Atomic<Int>(-1)
    /// Monotonic nanoseconds of the last trim; 0 before the first.
    private let lastTrim = Atomic<UInt64>(0)
    private let trimming = Atomic<Bool>(false)

    /// A burst worth trimming after: this much reserved, or this many connections open.
    static let trimAfterBytes = 4 << 20
    static let trimAfterConnections = 1024
    /// At most one trim per this period.
    static let trimPeriodNanos: UInt64 = 1_000_000_000

    init(limit: Int, headAllowance: Int, trimsAfterBursts: Bool) {
        self.limit = limit
        self.headAllowance = headAllowance
        self.trimsAfterBursts = trimsAfterBursts
    }

    /// Bytes reserved now.
    var bytes: Int { used.load(ordering: .relaxed) }

    /// Reserves `n` bytes if they fit; false (nothing reserved) if not.
    func reserve(_ n: Int) -> Bool {
        guard n > 0 else { return true }
        var current = used.load(ordering: .relaxed)
        while true {
            let next = current &+ n
            if next > limit { return false }
            let (done, seen) = used.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if done {
                if next > highWater.load(ordering: .relaxed) { highWater.store(next, ordering: .relaxed) }
                return true
            }
            current = seen
        }
    }

    func release(_ n: Int) {
        guard n > 0 else { return }
        used.subtract(n, ordering: .relaxed)
    }

    /// Called by every connection queue's deadline timer (a few times a second):
    /// publishes the reserved bytes to the observer when they changed, and after a
    /// burst (much reserved, or many connections open) that has passed, trims the
    /// allocator once on a utility queue (at most once per `trimPeriodNanos`).
    func tick(observer: (any HTTPServerObserver)?, openConnections: Int, now: UInt64) {
        let current = used.load(ordering: .relaxed)
        if let observer, reported.exchange(current, ordering: .relaxed) != current {
            observer.bufferedBytesChanged(current)
        }
        guard trimsAfterBursts else { return }
        if openConnections > connectionsHighWater.load(ordering: .relaxed) {
            connectionsHighWater.store(openConnections, ordering: .relaxed)
        }
        // A burst has passed when what made it is down to a quarter of its height.
        let bytesBurst = highWater.load(ordering: .relaxed)
        let connectionsBurst = connectionsHighWater.load(ordering: .relaxed)
        let passed = (bytesBurst >= Self.trimAfterBytes && current <= bytesBurst / 4)
            || (connectionsBurst >= Self.trimAfterConnections && openConnections <= connectionsBurst / 4)
        guard passed, now &- lastTrim.load(ordering: .relaxed) >= Self.trimPeriodNanos,
              trimming.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        highWater.store(current, ordering: .relaxed)
        connectionsHighWater.store(openConnections, ordering: .relaxed)
        lastTrim.store(now, ordering: .relaxed)
        DispatchQueue.global(qos: .utility).async { [self] in
            _ = malloc_trim(0)
            trimming.store(false, ordering: .releasing)
        }
    }

    /// Fixes glibc's mmap threshold at its default (128 KiB) instead of letting it
    /// grow with every large block freed (up to 32 MiB), after which 1 MiB bodies would
    /// come from the arenas and stay there once freed; and the top-of-heap trim
    /// threshold likewise. Process-wide; done once.
    static func configureAllocator() {
        _ = allocatorConfigured
    }

    private static let allocatorConfigured: Bool = {
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        _ = mallopt(M_TRIM_THRESHOLD, 128 * 1024)
        return true
    }()
}
