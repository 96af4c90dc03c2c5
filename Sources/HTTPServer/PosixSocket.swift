import Glibc

/// The libc calls the server uses, in one place (one shim file per libc concern).
enum PosixSocket {
    /// Binds and listens (nonblocking, close-on-exec, SO_REUSEADDR); returns the fd and
    /// the bound port.
    static func listen(host: String, port: Int, backlog: Int) throws(HTTPServerError) -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            throw .badHost(host)
        }
        defer { freeaddrinfo(res) }
        var lastErrno: Int32 = 0
        var lastCall = "socket"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastErrno = errno; lastCall = "socket"; continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if a.pointee.ai_family == AF_INET6 {
                // `::` serves IPv4 too (dual stack) unless the system forbids it.
                var zero: Int32 = 0
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            }
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 {
                lastErrno = errno; lastCall = "bind"; close(fd); continue
            }
            if Glibc.listen(fd, Int32(clamping: backlog)) != 0 {
                lastErrno = errno; lastCall = "listen"; close(fd); continue
            }
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound = withUnsafeMutablePointer(to: &ss) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            guard bound == 0 else { lastErrno = errno; lastCall = "getsockname"; close(fd); continue }
            return (fd, Int(boundPort(ss)))
        }
        throw .system(call: lastCall, errno: lastErrno)
    }

    private static func boundPort(_ ss: sockaddr_storage) -> UInt16 {
        var s = ss
        switch Int32(s.ss_family) {
        case AF_INET: return withUnsafeBytes(of: &s) { UInt16(bigEndian: $0.load(as: sockaddr_in.self).sin_port) }
        case AF_INET6: return withUnsafeBytes(of: &s) { UInt16(bigEndian: $0.load(as: sockaddr_in6.self).sin6_port) }
        default: return 0
        }
    }

    enum AcceptResult {
        case accepted(fd: Int32, peer: IPAddress?)
        case wouldBlock
        /// Out of descriptors or memory: stop this round, retry at the next event.
        case exhausted
        case failed
    }

    static func accept(_ listener: Int32) -> AcceptResult {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &ss) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.accept(listener, $0, &len)
            }
        }
        if fd >= 0 {
            // Accepted sockets do not inherit O_NONBLOCK on Linux (accept4 is not exported by the Glibc module).
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            // Answers are written in one call; Nagle would only delay them (RFC 9112 has no opinion).
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return .accepted(fd: fd, peer: IPAddress(ss))
        }
        switch errno {
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: return .exhausted
        default: return .failed   // ECONNABORTED, EINTR, EPROTO…: the next accept may work
        }
    }

    /// Raises the soft descriptor limit to the hard limit: 10,000 keep-alive
    /// connections need more than the usual 1024.
    static func raiseFileLimit() {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0, rl.rlim_cur < rl.rlim_max else { return }
        rl.rlim_cur = rl.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    }

    /// CPUs this process may run on (respects `taskset`), at least 1.
    static func usableCPUs() -> Int {
        // sched_getaffinity is not exported by the Glibc module; /proc has the same mask.
        if let f = fopen("/proc/self/status", "r") {
            defer { fclose(f) }
            var line = [CChar](repeating: 0, count: 512)
            while fgets(&line, Int32(line.count), f) != nil {
                let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                guard text.hasPrefix("Cpus_allowed:") else { continue }
                var n = 0
                for c in text.dropFirst("Cpus_allowed:".count) {
                    if let v = c.hexDigitValue { n += v.nonzeroBitCount }
                }
                if n > 0 { return n }
            }
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC): deadlines never move with wall-clock changes.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

extension Duration {
    /// Whole nanoseconds, saturating (for deadline arithmetic on monotonic nanos).
    var nanoseconds: UInt64 {
        let c = components
        if c.seconds < 0 { return 0 }
        let (s, o) = UInt64(c.seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if o { return UInt64.max / 2 }
        return s &+ UInt64(c.attoseconds / 1_000_000_000)
    }
}
