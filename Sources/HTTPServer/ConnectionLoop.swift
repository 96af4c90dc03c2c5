import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One serial queue and the connections it drives. The server has a few of these
/// (about one per core); each owns a read scratch buffer (so an idle connection holds
/// no input buffer), the cached `Date` header, and one coarse timer that checks every
/// connection's deadline, instead of one timer per connection.
///
/// `@unchecked Sendable`: every mutable property is read and written only on `queue`
/// (handlers, the timer and `queue.async` blocks); other threads only enqueue work.
final class ConnectionLoop: @unchecked Sendable {
    let queue: DispatchQueue
    let context: ServerContext
    /// 64 KiB read buffer shared by this queue's connections (one read at a time).
    let scratch: UnsafeMutableRawBufferPointer
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var timer: (any DispatchSourceTimer)?
    private var dateSecond: time_t = 0
    private var dateBytes: [UInt8] = []

    static let scratchSize = 64 * 1024

    init(index: Int, context: ServerContext) {
        queue = DispatchQueue(label: "http.connections.\(index)")
        self.context = context
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
    }

    deinit {
        scratch.deallocate()
    }

    func start() {
        queue.async { [self] in
            let t = DispatchSource.makeTimerSource(queue: queue)
            let period = DispatchTimeInterval.nanoseconds(Int(context.tickNanos))
            t.schedule(deadline: .now() + period, repeating: period, leeway: .nanoseconds(Int(context.tickNanos / 4)))
            t.setEventHandler { [unowned self] in checkDeadlines() }
            t.resume()
            timer = t
        }
    }

    /// Stops the deadline timer (after every connection is gone).
    func stop() {
        queue.async { [self] in
            timer?.cancel()
            timer = nil
        }
    }

    /// Takes over an accepted socket (on `queue`).
    func adopt(fd: Int32, peer: IPAddress?) {
        if context.isShuttingDown {
            close(fd)
            context.connectionGone()
            return
        }
        let c = Connection(fd: fd, peer: peer, loop: self)
        connections[ObjectIdentifier(c)] = c
        c.start()
    }

    func remove(_ c: Connection) {
        connections.removeValue(forKey: ObjectIdentifier(c))
    }

    var connectionCount: Int { connections.count }

    private func checkDeadlines() {
        let now = monotonicNanos()
        var expired: [Connection] = []
        for c in connections.values where c.deadline != 0 && c.deadline <= now {
            expired.append(c)
        }
        for c in expired { c.deadlineExpired() }
    }

    /// Shutdown step 1: close what is idle, mark the rest to close after their answer.
    func beginShutdown() {
        for c in Array(connections.values) { c.shutdownRequested() }
    }

    /// Shutdown step 2 (grace period over): close everything.
    func forceCloseAll() {
        for c in Array(connections.values) { c.closeNow() }
    }

    /// The `Date` value of the current second, formatted once per second per queue.
    @inline(__always)
    func dateHeader() -> [UInt8] {
        let t = time(nil)
        if t != dateSecond {
            dateSecond = t
            dateBytes = HTTPDate.format(t)
        }
        return dateBytes
    }
}
