/// Serialises response heads and chunks (RFC 9112 §4, §7.1) and the fixed answers to
/// rejected requests. Terse on output: fixed bodies, `Connection: close`, never an echo
/// of request bytes (Go net/http's habit), so an error page cannot reflect input.
public enum ResponseEncoder {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        // RFC 9112 §4: the reason phrase is optional; a class name keeps the line readable.
        case 100..<200: "Informational"
        case 200..<300: "Success"
        case 300..<400: "Redirection"
        case 400..<500: "Client Error"
        default: "Server Error"
        }
    }

    /// Status line + headers + CRLF CRLF, appended to `out`. Status codes outside
    /// 100–999 are clamped to 500. CR, LF and other CTLs (except HTAB) in header names or
    /// values are dropped so no caller-supplied value can split the response (RFC 9110 §5.5).
    public static func encodeHead(status: Int, headers: HTTPHeaders, version: HTTPVersion, into out: inout [UInt8]) {
        let code = (100...999).contains(status) ? status : 500
        out.reserveCapacity(out.count &+ 64 &+ headers.count &* 40)
        appendASCII("HTTP/", to: &out)
        out.append(UInt8(truncatingIfNeeded: 0x30 &+ min(max(version.major, 0), 9)))
        out.append(0x2E)
        out.append(UInt8(truncatingIfNeeded: 0x30 &+ min(max(version.minor, 0), 9)))
        out.append(ByteClass.sp)
        out.append(UInt8(truncatingIfNeeded: 0x30 &+ code / 100))
        out.append(UInt8(truncatingIfNeeded: 0x30 &+ code / 10 % 10))
        out.append(UInt8(truncatingIfNeeded: 0x30 &+ code % 10))
        out.append(ByteClass.sp)
        appendASCII(reasonPhrase(code), to: &out)
        out.append(ByteClass.cr); out.append(ByteClass.lf)
        for (name, value) in headers {
            appendSafe(name, to: &out)
            out.append(ByteClass.colon); out.append(ByteClass.sp)
            appendSafe(value, to: &out)
            out.append(ByteClass.cr); out.append(ByteClass.lf)
        }
        out.append(ByteClass.cr); out.append(ByteClass.lf)
    }

    /// One chunk: hex size CRLF data CRLF. Nothing for empty input, because a zero-size
    /// chunk would end the body (use `lastChunk` for that).
    public static func encodeChunk(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        out.reserveCapacity(out.count &+ bytes.count &+ 20)
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = UInt(bytes.count), len = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                let v = UInt8(truncatingIfNeeded: n & 0xF)
                d[len] = v < 10 ? 0x30 &+ v : 0x61 &+ v &- 10
                len &+= 1
                n >>= 4
            } while n > 0
            for k in stride(from: len &- 1, through: 0, by: -1) { out.append(d[k]) }
        }
        out.append(ByteClass.cr); out.append(ByteClass.lf)
        out.append(contentsOf: bytes)
        out.append(ByteClass.cr); out.append(ByteClass.lf)
    }

    /// The last chunk with no trailers: `0\r\n\r\n`.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// Complete fixed answer for a parse error (and 408/503 given as status): fixed short
    /// body, `Content-Type: text/plain`, `Content-Length`, `Connection: close`, never
    /// echoing input. Statuses below 400 or above 599 get the generic 500 answer.
    public static func fixedResponse(status: Int) -> [UInt8] {
        switch status {
        case 400: fixed400
        case 408: fixed408
        case 413: fixed413
        case 414: fixed414
        case 431: fixed431
        case 501: fixed501
        case 503: fixed503
        case 505: fixed505
        default: makeFixedResponse(status: (400...599).contains(status) ? status : 500)
        }
    }

    // Built once: under attack the same few answers are sent again and again.
    static let fixed400 = makeFixedResponse(status: 400)
    static let fixed408 = makeFixedResponse(status: 408)
    static let fixed413 = makeFixedResponse(status: 413)
    static let fixed414 = makeFixedResponse(status: 414)
    static let fixed431 = makeFixedResponse(status: 431)
    static let fixed501 = makeFixedResponse(status: 501)
    static let fixed503 = makeFixedResponse(status: 503)
    static let fixed505 = makeFixedResponse(status: 505)

    /// The fixed 503 with `Retry-After: seconds` (RFC 9110 §10.2.3): the server is
    /// briefly out of room for request bytes and the client may try again shortly.
    public static func fixedUnavailable(retryAfterSeconds seconds: Int) -> [UInt8] {
        seconds == 1 ? fixed503RetryAfter1 : makeFixedResponse(status: 503, retryAfter: max(0, seconds))
    }

    static let fixed503RetryAfter1 = makeFixedResponse(status: 503, retryAfter: 1)

    static func makeFixedResponse(status: Int, retryAfter: Int? = nil) -> [UInt8] {
        let body = "\(status) \(reasonPhrase(status))\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if let retryAfter { headers.add(name: "Retry-After", value: String(retryAfter)) }
        headers.add(name: "Connection", value: "close")
        var out: [UInt8] = []
        encodeHead(status: status, headers: headers, version: .http1_1, into: &out)
        out.append(contentsOf: body.utf8)
        return out
    }

    @inline(__always)
    static func appendASCII(_ s: String, to out: inout [UInt8]) {
        out.append(contentsOf: s.utf8)
    }

    /// Appends `s`, dropping bytes that could end or fold a header line.
    @inline(__always)
    static func appendSafe(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { u in
            if !u.contains(where: isUnsafeHeaderByte) { out.append(contentsOf: u); return }
            for c in u where !isUnsafeHeaderByte(c) { out.append(c) }
        }
    }

    @inline(__always)
    static func isUnsafeHeaderByte(_ b: UInt8) -> Bool { (b < ByteClass.sp && b != ByteClass.htab) || b == 0x7F }
}
