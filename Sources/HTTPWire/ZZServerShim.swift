// TEMPORARY shim on the `server` branch only, so the server compiles before the
// `wire` teammate's parser lands. NEVER merge into main; delete before merging main.

public enum HeadParseResult: Sendable, Equatable {
    case complete(HTTPRequestHead, consumed: Int)
    case incomplete
    case invalid(HTTPParseError)
}

public enum HTTPRequestParser {
    public static func parseHead(_ buffer: UnsafeRawBufferPointer, limits: HTTPLimits) -> HeadParseResult {
        var start = 0
        while start + 1 < buffer.count, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }
        // find end of head
        var i = start
        var end = -1
        while i + 3 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { end = i; break }
            i += 1
        }
        if end < 0 {
            if buffer.count - start > limits.maxRequestLineBytes + limits.maxHeaderBytes { return .invalid(.headerFieldsTooLarge) }
            for b in buffer[start...] where b == 0 { return .invalid(.badRequest(reason: .headerValue)) }
            return .incomplete
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst()
        if requestLine.utf8.count > limits.maxRequestLineBytes { return .invalid(.uriTooLong) }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return .invalid(.badRequest(reason: .requestLine)) }
        let version: HTTPVersion
        switch parts[2] {
        case "HTTP/1.1": version = .http1_1
        case "HTTP/1.0": version = .http1_0
        default: return .invalid(.versionNotSupported)
        }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .invalid(.badRequest(reason: .headerName)) }
            let name = line[..<colon]
            if name.isEmpty || name.contains(" ") || name.contains("\t") { return .invalid(.badRequest(reason: .headerName)) }
            if line.first == " " || line.first == "\t" { return .invalid(.badRequest(reason: .obsFold)) }
            let value = line[line.index(after: colon)...].trimmingOWS()
            if value.utf8.contains(where: { $0 < 0x20 && $0 != 9 || $0 == 0x7f }) { return .invalid(.badRequest(reason: .headerValue)) }
            headers.add(name: String(name), value: String(value))
        }
        if headers.count > limits.maxHeaderCount { return .invalid(.headerFieldsTooLarge) }
        if version == .http1_1 && !headers.contains(name: "Host") { return .invalid(.badRequest(reason: .missingHost)) }
        var framing = BodyFraming.none
        let te = headers[all: "Transfer-Encoding"]
        let cl = headers[all: "Content-Length"]
        if !te.isEmpty {
            if !cl.isEmpty { return .invalid(.badRequest(reason: .contentLengthWithTransferEncoding)) }
            guard te.count == 1, te[0].asciiCaseInsensitiveEquals("chunked") else { return .invalid(.notImplemented) }
            framing = .chunked
        } else if !cl.isEmpty {
            guard cl.count == 1, let n = Int(cl[0]), n >= 0 else { return .invalid(.badRequest(reason: .contentLength)) }
            framing = n > 0 ? .contentLength(n) : .none
        }
        let head = HTTPRequestHead(method: HTTPMethod(token: String(parts[0])), target: String(parts[1]),
                                   version: version, headers: headers, framing: framing)
        return .complete(head, consumed: end + 4)
    }
}

public enum BodyDecodeResult: Sendable, Equatable {
    case needMore(consumed: Int)
    case done(consumed: Int)
    case invalid(HTTPParseError)
}

public struct BodyDecoder: Sendable {
    var framing: BodyFraming
    var maxBodyBytes: Int
    var limits: HTTPLimits
    var remaining: Int = 0
    var inTrailers = false
    var needCRLF = false

    public init(framing: BodyFraming, maxBodyBytes: Int, limits: HTTPLimits) {
        self.framing = framing
        self.maxBodyBytes = maxBodyBytes
        self.limits = limits
        if case .contentLength(let n) = framing { remaining = n }
    }

    public mutating func decode(_ buffer: UnsafeRawBufferPointer, into body: inout [UInt8]) -> BodyDecodeResult {
        switch framing {
        case .none: return .done(consumed: 0)
        case .contentLength:
            if remaining > maxBodyBytes { return .invalid(.contentTooLarge) }
            let n = min(remaining, buffer.count)
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= n
            return remaining == 0 ? .done(consumed: n) : .needMore(consumed: n)
        case .chunked:
            var i = 0
            while true {
                if needCRLF {
                    if buffer.count - i < 2 { return .needMore(consumed: i) }
                    guard buffer[i] == 13, buffer[i + 1] == 10 else { return .invalid(.badRequest(reason: .chunkData)) }
                    i += 2; needCRLF = false
                }
                if remaining > 0 {
                    let n = min(remaining, buffer.count - i)
                    if n == 0 { return .needMore(consumed: i) }
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i..<i + n]))
                    i += n; remaining -= n
                    if remaining == 0 { needCRLF = true }
                    continue
                }
                // line
                var j = i
                while j + 1 < buffer.count, !(buffer[j] == 13 && buffer[j + 1] == 10) { j += 1 }
                if j + 1 >= buffer.count { return .needMore(consumed: i) }
                if inTrailers {
                    if j == i { return .done(consumed: j + 2) }
                    i = j + 2; continue
                }
                var size = 0
                var k = i
                while k < j, let d = hex(buffer[k]) { size = size * 16 + d; k += 1; if size > maxBodyBytes { return .invalid(.contentTooLarge) } }
                if k == i { return .invalid(.badRequest(reason: .chunkSize)) }
                if body.count + size > maxBodyBytes { return .invalid(.contentTooLarge) }
                i = j + 2
                if size == 0 { inTrailers = true } else { remaining = size }
            }
        }
    }

    private func hex(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: Int(c) - 48
        case 97...102: Int(c) - 87
        case 65...70: Int(c) - 55
        default: nil
        }
    }
}

public enum ResponseEncoder {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

    public static func encodeHead(status: Int, headers: HTTPHeaders, version: HTTPVersion, into out: inout [UInt8]) {
        out.append(contentsOf: "\(version) \(status) \(reasonPhrase(status))\r\n".utf8)
        for (n, v) in headers { out.append(contentsOf: "\(n): \(v)\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
    }

    public static func encodeChunk(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(contentsOf: String(bytes.count, radix: 16).utf8)
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: bytes)
        out.append(contentsOf: "\r\n".utf8)
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    public static func fixedResponse(status: Int) -> [UInt8] {
        let body = reasonPhrase(status).lowercased() + "\n"
        return Array("HTTP/1.1 \(status) \(reasonPhrase(status))\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
    }
}
