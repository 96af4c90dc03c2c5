import Foundation
import Glibc
import Synchronization

/// A minimal one-request-per-connection HTTP server on 127.0.0.1:0 for transport
/// tests: reads a request head (and a Content-Length body), records the raw bytes,
/// and answers with whatever `respond` returns (nil = never answer, to provoke a
/// client timeout). Real sockets; closed by `stop()`.
final class LoopbackServer: Sendable {
    let port: Int
    private let listener: Int32
    private let requests = Mutex<[String]>([])
    private let openClients = Mutex<[Int32]>([])
    private let stopped = Mutex(false)

    init(respond: @escaping @Sendable (String) -> [UInt8]?) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
        let thread = Thread { [self] in acceptLoop(respond: respond) }
        thread.start()
    }

    var recordedRequests: [String] { requests.withLock { $0 } }

    func stop() {
        let already = stopped.withLock { s in defer { s = true }; return s }
        guard !already else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in openClients.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(respond: @escaping @Sendable (String) -> [UInt8]?) {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            openClients.withLock { $0.append(client) }
            let thread = Thread { [self] in serve(client, respond: respond) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32, respond: @Sendable (String) -> [UInt8]?) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        func readMore() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            if let range = buffer.firstRange(of: separator) { headEnd = range.upperBound; break }
            guard readMore() else { close(fd); return }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var contentLength = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while buffer.count < headEnd! + contentLength {
            guard readMore() else { break }
        }
        let raw = String(decoding: buffer, as: UTF8.self)
        requests.withLock { $0.append(raw) }
        if let response = respond(raw) {
            _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(fd)
        } else {
            // Hold the connection open until the client gives up or stop() runs.
            _ = readMore()
            close(fd)
        }
    }

    static func response(status: Int, reason: String = "OK", headers: [(String, String)] = [], body: String = "") -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n" + body
        return Array(text.utf8)
    }
}
