import CEpoll
import Dispatch
import Glibc
import Synchronization

/// One serial queue and the connections it drives. The server has a few of these
/// (about one per core); each owns a read scratch buffer (so an idle connection holds
/// no input buffer), the cached `Date` header, and one coarse timer that checks every
/// connection's deadline, instead of one timer per connection.
///
/// Readiness: the queue owns one epoll set holding its connections' sockets, and one
/// `DispatchSourceRead` watches that set. When it fires, the handler collects every
/// ready socket with `epoll_wait(…, 0)` and serves them all in one go. (A Dispatch
/// source per socket costs a manager-thread round trip — eventfd write plus two
/// context switches — per event on Linux; measured, that alone held the server to
/// ~0.45× nginx. Batching per queue keeps Dispatch's scheduling without that cost.)
///
/// `@unchecked Sendable`: every mutable property is read and written only on `queue`
/// (handlers, the timer and `queue.async` blocks); other threads only enqueue work.
final class ConnectionLoop: @unchecked Sendable {
    let queue: DispatchQueue
    let context: ServerContext
    /// Frozen by `HTTPServer.serve(router:)`; every connection of this queue routes with it.
    let router: Router
    /// 64 KiB read buffer shared by this queue's connections (one read at a time).
    let scratch: UnsafeMutableRawBufferPointer
    private var connections: [Int32: Connection] = [:]
    private let epfd: Int32
    private var source: (any DispatchSourceRead)?
    private let events: UnsafeMutablePointer<epoll_event>
    private var timer: (any DispatchSourceTimer)?
    /// Output storage lent to the connection answering right now (see `borrowOutputBuffer`).
    var spareOutput: [UInt8] = []
    /// Evictable connections, oldest first (`ConnectionLoop+Eviction.swift`).
    private var idleList = EvictionList()
    private var awaitingList = EvictionList()
    /// `since` of each list's oldest entry, 0 when empty: published for the acceptor.
    let idleOldestSince = Atomic<UInt64>(0)
    let awaitingOldestSince = Atomic<UInt64>(0)
    private var dateSecond: time_t = 0
    private var dateBytes: [UInt8] = []

    static let scratchSize = 64 * 1024
    static let eventBatch = 256

    init(index: Int, context: ServerContext, router: Router) throws(HTTPServerError) {
        queue = DispatchQueue(label: "http.connections.\(index)")
        self.context = context
        self.router = router
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw .system(call: "epoll_create1", errno: errno) }
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        events = .allocate(capacity: Self.eventBatch)
    }

    deinit {
        scratch.deallocate()
        events.deallocate()
        close(epfd)
    }

    func start() {
        queue.async { [self] in
            let src = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
            // Strong captures: the loop lives until `stop()` cancels these (a dropped server
            // without shutdown leaks its loops rather than firing into freed memory).
            src.setEventHandler { [self] in pollReady() }
            src.resume()
            source = src
            let t = DispatchSource.makeTimerSource(queue: queue)
            let period = DispatchTimeInterval.nanoseconds(Int(context.tickNanos))
            t.schedule(deadline: .now() + period, repeating: period, leeway: .nanoseconds(Int(context.tickNanos / 4)))
            t.setEventHandler { [self] in checkDeadlines() }
            t.resume()
            timer = t
        }
    }

    /// Stops the readiness source and the deadline timer (after every connection is gone).
    func stop() {
        queue.async { [self] in
            timer?.cancel()
            timer = nil
            source?.cancel()
            source = nil
        }
    }

    /// Serves every ready socket; a few rounds while more keep becoming ready.
    private func pollReady() {
        for _ in 0..<4 {
            let n = epoll_wait(epfd, events, Int32(Self.eventBatch), 0)
            if n <= 0 { return }
            for i in 0..<Int(n) {
                let ev = events[i]
                guard let c = connections[ev.data.fd] else { continue }   // closed earlier in this batch
                let flags = ev.events
                // A hung-up socket waiting to write reports ERR/HUP without OUT: let the
                // write fail (and close) instead of reporting the same event forever.
                if flags & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0, c.writeArmed { c.onWritable() }
                if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                    c.onReadable()
                }
            }
            if Int(n) < Self.eventBatch { return }
        }
    }

    /// Sets what `fd` is watched for; a socket wanting nothing leaves the set (a hung-up
    /// socket would otherwise report EPOLLHUP on every round).
    func watch(_ fd: Int32, read: Bool, write: Bool, registered: Bool) -> Bool {
        if !read && !write {
            if registered { _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil) }
            return false
        }
        var ev = epoll_event()
        ev.events = (read ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (write ? EPOLLOUT.rawValue : 0)
        ev.data.fd = fd
        if epoll_ctl(epfd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0 {
            // ENOENT/EEXIST after a missed transition: try the other operation once.
            if epoll_ctl(epfd, registered ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0 { return registered }
        }
        return true
    }

    /// Takes over an accepted socket (on `queue`).
    func adopt(fd: Int32, peer: IPAddress?) {
        if context.isShuttingDown {
            close(fd)
            context.connectionGone()
            return
        }
        let c = Connection(fd: fd, peer: peer, loop: self)
        connections[fd] = c
        c.start()
    }

    /// The connection is closing: out of the epoll set and the table (before its fd is
    /// closed, so a reused descriptor number never reaches the old connection).
    func remove(_ c: Connection, registered: Bool) {
        if registered { _ = epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nil) }
        unlist(c)
        connections.removeValue(forKey: c.fd)
    }

    var connectionCount: Int { connections.count }

    /// Mutates the eviction list of `kind`, then publishes the age of its oldest entry.
    func withList(_ kind: ConnectionState.Evictable, _ body: (inout EvictionList) -> Void) {
        switch kind {
        case .idle:
            body(&idleList)
            idleOldestSince.store(idleList.oldest?.evictionLinks.since ?? 0, ordering: .relaxed)
        case .awaitingFirstHead:
            body(&awaitingList)
            awaitingOldestSince.store(awaitingList.oldest?.evictionLinks.since ?? 0, ordering: .relaxed)
        }
    }

    func oldestListed(_ kind: ConnectionState.Evictable) -> Connection? {
        kind == .idle ? idleList.oldest : awaitingList.oldest
    }

    private func checkDeadlines() {
        let now = monotonicNanos()
        context.budget.tick(observer: context.observer, openConnections: context.tracker.openCount, now: now)
        var expired: [Connection] = []
        for c in connections.values where c.state.hasExpired(at: now) {
            expired.append(c)
        }
        for c in expired { c.deadlineExpired(now: now) }
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
