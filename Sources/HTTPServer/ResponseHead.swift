import HTTPWire

/// Writes a response head straight into the connection's output bytes: status line
/// from a table, the handler's own headers (framing headers are the server's, so a
/// handler's `Content-Length`, `Transfer-Encoding`, `Connection`, `Date`,
/// `X-Request-Id` are dropped), then the server's headers. A handler header whose name
/// is not a token or whose value carries CR, LF or NUL is dropped: it could split the
/// response (RFC 9110 §5.5).
enum ResponseHead {
    enum Framing {
        case length(Int)
        case chunked
        /// No body by definition (1xx, 204, 304) or delimited by close (HTTP/1.0 stream).
        case none
    }

    static func write(status: Int, headers: HTTPHeaders, framing: Framing, date: [UInt8], requestID: String,
                      connection: ConnectionHeader, into out: inout [UInt8]) {
        out.append(contentsOf: statusLine(status))
        headers.forEachField { name, value in
            if isAllowed(name, value) {
                out.append(contentsOf: name)
                out.append(0x3a); out.append(0x20)
                out.append(contentsOf: value)
                out.append(0x0d); out.append(0x0a)
            }
            return true
        }
        switch framing {
        case .length(let n):
            out.append(contentsOf: contentLengthName)
            appendDecimal(n, &out)
            out.append(0x0d); out.append(0x0a)
        case .chunked:
            out.append(contentsOf: chunkedHeader)
        case .none:
            break
        }
        out.append(contentsOf: dateName)
        out.append(contentsOf: date)
        out.append(contentsOf: requestIDName)
        out.append(contentsOf: requestID.utf8)
        out.append(0x0d); out.append(0x0a)
        switch connection {
        case .close: out.append(contentsOf: connectionClose)
        case .keepAlive: out.append(contentsOf: connectionKeepAlive)
        case .omit: break
        }
        out.append(0x0d); out.append(0x0a)
    }

    enum ConnectionHeader { case close, keepAlive, omit }

    private static let contentLengthName = Array("Content-Length: ".utf8)
    private static let chunkedHeader = Array("Transfer-Encoding: chunked\r\n".utf8)
    private static let dateName = Array("Date: ".utf8)
    private static let requestIDName = Array("\r\nX-Request-Id: ".utf8)
    private static let connectionClose = Array("Connection: close\r\n".utf8)
    private static let connectionKeepAlive = Array("Connection: keep-alive\r\n".utf8)
    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private static let common: [Int: [UInt8]] = {
        var t: [Int: [UInt8]] = [:]
        for s in [200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 500, 502, 503, 504] {
            t[s] = Array("HTTP/1.1 \(s) \(ResponseEncoder.reasonPhrase(s))\r\n".utf8)
        }
        return t
    }()
    private static let ok = Array("HTTP/1.1 200 OK\r\n".utf8)

    @inline(__always)
    static func statusLine(_ status: Int) -> [UInt8] {
        if status == 200 { return ok }
        if let l = common[status] { return l }
        let s = (100...999).contains(status) ? status : 500
        return Array("HTTP/1.1 \(s) \(ResponseEncoder.reasonPhrase(s))\r\n".utf8)
    }

    static func isAllowed(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty, name.allSatisfy(RequestID.isTokenChar) else { return false }
        switch name.count {
        case 4: if equalsLowercase(name, "date") { return false }
        case 10: if equalsLowercase(name, "connection") { return false }
        case 12: if equalsLowercase(name, "x-request-id") { return false }
        case 14: if equalsLowercase(name, "content-length") { return false }
        case 17: if equalsLowercase(name, "transfer-encoding") { return false }
        default: break
        }
        for c in value where c == 0x0d || c == 0x0a || c == 0 { return false }
        return true
    }

    /// `token` (a token, so `| 0x20` folds only letters) equals the lowercase `word`.
    private static func equalsLowercase(_ token: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard token.count == word.utf8CodeUnitCount else { return false }
        for i in 0..<token.count where token[i] | 0x20 != word.utf8Start[i] { return false }
        return true
    }

    static func appendDecimal(_ v: Int, _ out: inout [UInt8]) {
        if v < 10 { out.append(UInt8(48 + v)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = v, i = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 && i < 20 { d[i] = UInt8(48 + n % 10); n /= 10; i += 1 }
            while i > 0 { i -= 1; out.append(d[i]) }
        }
    }
}
