import Glibc

/// A raw loopback HTTP/1.1 client for tests: sends exact bytes, reads answers with a
/// deadline (never sleeping), parses status, headers and bodies (Content-Length,
/// chunked, or delimited by close). Interim 1xx answers are returned like any other.
/// Not thread-safe: one client per test flow.
public final class RawClient {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case connect(errno: Int32)
        case timedOut(what: String)
        /// The server closed before a complete answer; `partial` holds what came.
        case closed(partial: Int)
        case malformed(String)
        case io(errno: Int32)

        public var description: String {
            switch self {
            case .connect(let e): "connect failed (errno \(e))"
            case .timedOut(let w): "timed out waiting for \(w)"
            case .closed(let n): "connection closed after \(n) bytes of an answer"
            case .malformed(let m): "malformed answer: \(m)"
            case .io(let e): "socket error (errno \(e))"
            }
        }
    }

    public let fd: Int32
    /// Bytes received but not yet consumed by a parsed answer.
    public private(set) var buffered: [UInt8] = []
    public private(set) var peerClosed = false

    /// Connects to `host:port` (IPv4 or IPv6 literal), with a deadline.
    public init(port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(5)) throws {
        var storage = sockaddr_storage()
        var len: socklen_t
        let family: Int32
        var a4 = in_addr(), a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            family = AF_INET
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(port).bigEndian)
            sin.sin_addr = a4
            withUnsafeBytes(of: &sin) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            len = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &a6) == 1 {
            family = AF_INET6
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = in_port_t(UInt16(port).bigEndian)
            sin6.sin6_addr = a6
            withUnsafeBytes(of: &sin6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            throw Failure.malformed("host \(host) is not an IP literal")
        }
        let s = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw Failure.connect(errno: errno) }
        _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
        let rc = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, len) }
        }
        if rc != 0 {
            let e = errno
            guard e == EINPROGRESS else { Glibc.close(s); throw Failure.connect(errno: e) }
            guard Self.poll(s, events: Int16(POLLOUT), until: Self.deadline(after: timeout)) else {
                Glibc.close(s); throw Failure.connect(errno: ETIMEDOUT)
            }
            var err: Int32 = 0
            var elen = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen)
            if err != 0 { Glibc.close(s); throw Failure.connect(errno: err) }
        }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = s
    }

    private var isClosed = false

    deinit { if !isClosed { Glibc.close(fd) } }

    /// Closes the socket now (idempotent).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    // MARK: Sending

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8], timeout: Duration = .seconds(5)) throws {
        var off = 0
        let until = Self.deadline(after: timeout)
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n > 0 { off += n; continue }
            let e = errno
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                guard Self.poll(fd, events: Int16(POLLOUT), until: until) else { throw Failure.timedOut(what: "send") }
                continue
            }
            if n < 0 && e == EINTR { continue }
            throw Failure.io(errno: e)
        }
    }

    /// Half-close: the server sees end of input.
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    // MARK: Reading

    /// Reads whatever arrives within `timeout` once at least one byte came (or nothing).
    @discardableResult
    public func fill(until: UInt64) throws -> Bool {
        if peerClosed { return false }
        guard Self.poll(fd, events: Int16(POLLIN), until: until) else { return false }
        var tmp = [UInt8](repeating: 0, count: 65536)
        let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { buffered.append(contentsOf: tmp[0..<n]); return true }
        if n == 0 { peerClosed = true; return false }
        let e = errno
        if e == EAGAIN || e == EINTR { return true }
        if e == ECONNRESET { peerClosed = true; return false }
        throw Failure.io(errno: e)
    }

    /// Reads one answer. `forHEAD`: the answer has no body whatever its headers say.
    public func readResponse(timeout: Duration = .seconds(5), forHEAD: Bool = false) throws -> RawResponse {
        let until = Self.deadline(after: timeout)
        var headEnd: Int? = nil
        while true {
            if let r = Self.find([13, 10, 13, 10], in: buffered) { headEnd = r; break }
            if peerClosed { throw Failure.closed(partial: buffered.count) }
            if try !fill(until: until) && !peerClosed { throw Failure.timedOut(what: "response head") }
        }
        let head = String(decoding: buffered[0..<headEnd!], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw Failure.malformed("status line \(statusLine)")
        }
        var headers: [(String, String)] = []
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { throw Failure.malformed("header line \(l)") }
            headers.append((String(l[..<c]), String(l[l.index(after: c)...]).trimmedOWS()))
        }
        buffered.removeFirst(headEnd! + 4)
        var response = RawResponse(version: String(parts[0]), status: status,
                                   reason: parts.count > 2 ? String(parts[2]) : "", headers: headers, body: [])
        if forHEAD || (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if let te = response.header("Transfer-Encoding"), te.lowercased().contains("chunked") {
            response.body = try readChunked(until: until)
            response.chunked = true
        } else if let cl = response.header("Content-Length") {
            guard let n = Int(cl) else { throw Failure.malformed("content-length \(cl)") }
            while buffered.count < n {
                if peerClosed { throw Failure.closed(partial: buffered.count) }
                if try !fill(until: until) && !peerClosed { throw Failure.timedOut(what: "body") }
            }
            response.body = Array(buffered[0..<n])
            buffered.removeFirst(n)
        } else {
            while !peerClosed {
                if try !fill(until: until) && !peerClosed { throw Failure.timedOut(what: "close-delimited body") }
            }
            response.body = buffered
            buffered = []
        }
        return response
    }

    private func readChunked(until: UInt64) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let lineEnd = try waitFor([13, 10], until: until)
            let line = String(decoding: buffered[0..<lineEnd], as: UTF8.self)
            guard let size = Int(line.split(separator: ";")[0], radix: 16) else { throw Failure.malformed("chunk size \(line)") }
            buffered.removeFirst(lineEnd + 2)
            if size == 0 {
                // trailers until an empty line
                while true {
                    let e = try waitFor([13, 10], until: until)
                    buffered.removeFirst(e + 2)
                    if e == 0 { return body }
                }
            }
            while buffered.count < size + 2 {
                if peerClosed { throw Failure.closed(partial: buffered.count) }
                if try !fill(until: until) && !peerClosed { throw Failure.timedOut(what: "chunk") }
            }
            body.append(contentsOf: buffered[0..<size])
            buffered.removeFirst(size + 2)
        }
    }

    private func waitFor(_ pattern: [UInt8], until: UInt64) throws -> Int {
        while true {
            if let r = Self.find(pattern, in: buffered) { return r }
            if peerClosed { throw Failure.closed(partial: buffered.count) }
            if try !fill(until: until) && !peerClosed { throw Failure.timedOut(what: "line") }
        }
    }

    /// Waits until the server closes the connection; true when it did within `timeout`.
    /// Bytes that arrive meanwhile are kept in `buffered`.
    public func waitForClose(timeout: Duration = .seconds(5)) throws -> Bool {
        let until = Self.deadline(after: timeout)
        while !peerClosed {
            if try !fill(until: until) && !peerClosed { return false }
        }
        return true
    }

    /// Everything until the server closes (or the deadline).
    public func readToEnd(timeout: Duration = .seconds(5)) throws -> [UInt8] {
        _ = try waitForClose(timeout: timeout)
        defer { buffered = [] }
        return buffered
    }

    // MARK: Helpers

    static func find(_ pattern: [UInt8], in data: [UInt8]) -> Int? {
        guard data.count >= pattern.count else { return nil }
        var i = 0
        while i + pattern.count <= data.count {
            if data[i] == pattern[0] && Array(data[i..<i + pattern.count]) == pattern { return i }
            i += 1
        }
        return nil
    }

    /// Monotonic nanoseconds `d` from now.
    public static func deadline(after d: Duration) -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let c = d.components
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec) + UInt64(c.seconds) * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
    }

    public static func nowNanos() -> UInt64 { deadline(after: .zero) }

    static func poll(_ fd: Int32, events: Int16, until: UInt64) -> Bool {
        while true {
            let now = nowNanos()
            if now >= until { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min(UInt64(Int32.max), (until - now + 999_999) / 1_000_000))
            let r = Glibc.poll(&p, 1, ms)
            if r > 0 { return true }
            if r < 0 && errno == EINTR { continue }
            if r == 0 { continue }
            return false
        }
    }
}

/// One parsed answer.
public struct RawResponse: Sendable {
    public var version: String
    public var status: Int
    public var reason: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var chunked = false

    /// First value of `name`, case-insensitive.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public func headers(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

extension String {
    fileprivate func trimmedOWS() -> String {
        let set = " \t"
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
