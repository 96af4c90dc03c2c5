public enum HeadParseResult: Sendable, Equatable {
    /// `consumed` = bytes of skipped empty lines + request line + headers + final CRLF.
    case complete(HTTPRequestHead, consumed: Int)
    /// Need more bytes; the limits were already checked on what is there.
    case incomplete
    case invalid(HTTPParseError)
}

/// Pure HTTP/1.1 request-head parser in the shape of picohttpparser: it never reads from
/// a socket, it is handed the bytes received so far and answers complete / incomplete /
/// invalid. It is strict where leniency enables request smuggling (RFC 9112 §11.2).
///
/// Bytes are judged strictly left to right and every limit is checked at the byte where
/// it is crossed, so a prefix of an input is either `.incomplete` or fails exactly like
/// the whole input; the server may therefore re-run it on each read without state.
public enum HTTPRequestParser {
    /// Parses one request head at the start of `buffer`. Leading empty lines (CRLF) before
    /// the request line are skipped per RFC 9112 §2.2 (counted in `consumed`).
    public static func parseHead(_ buffer: UnsafeRawBufferPointer, limits: HTTPLimits) -> HeadParseResult {
        var line = RequestLine()
        switch parseRequestLine(buffer, limits: limits, into: &line) {
        case .failure(let error): return .invalid(error)
        case .success(false): return .incomplete
        case .success(true): break
        }
        return parseFields(buffer, from: line.end, line: line, limits: limits)
    }
}

/// What the request line scan found; indices into the buffer.
@usableFromInline
struct RequestLine {
    var method: HTTPMethod = .GET
    var targetStart = 0
    var targetEnd = 0
    var version = HTTPVersion.http1_1
    /// Index after the request line's LF.
    var end = 0
}

/// Head-section errors carried through `Result` (HTTPParseError is the module's one error type).
extension HTTPRequestParser {
    /// Returns `.success(true)` when the line is complete, `.success(false)` when more
    /// bytes are needed, `.failure` on a rejection.
    @inline(__always)
    static func parseRequestLine(_ p: UnsafeRawBufferPointer, limits: HTTPLimits, into line: inout RequestLine) -> Result<Bool, HTTPParseError> {
        typealias C = ByteClass
        let count = p.count
        // Everything up to the request line's LF must fit in maxRequestLineBytes: hitting
        // `bound` below `count` means the limit, hitting it at `count` means "read more".
        let bound = min(count, max(0, limits.maxRequestLineBytes))
        @inline(__always) func needMore() -> Result<Bool, HTTPParseError> {
            bound < count ? .failure(.uriTooLong) : .success(false)
        }
        var i = 0

        // RFC 9112 §2.2: ignore empty lines received before the request line.
        while true {
            guard i < bound else { return needMore() }
            let b = p[i]
            if b == C.cr {
                guard i &+ 1 < bound else { return needMore() }
                guard p[i &+ 1] == C.lf else { return .failure(.badRequest(reason: .bareCR)) }
                i &+= 2
                continue
            }
            if b == C.lf { return .failure(.badRequest(reason: .bareLF)) }
            break
        }

        // method = token, then exactly one SP (RFC 9112 §3).
        let methodStart = i
        while true {
            guard i < bound else { return needMore() }
            let b = p[i]
            if C.isTChar(b) { i &+= 1; continue }
            if b == C.sp && i > methodStart { break }
            return .failure(.badRequest(reason: .method))
        }
        line.method = HTTPMethod.recognise(p, start: methodStart, end: i)
        i &+= 1

        // request-target: visible ASCII up to the next SP.
        let targetStart = i
        while true {
            i = C.skipRun(p, from: i, bound: bound, C.plainTargetPrefix)
            guard i < bound else { return needMore() }
            let b = p[i]
            if C.isTargetByte(b) { i &+= 1; continue }
            if b == C.sp {
                if i == targetStart { return .failure(.badRequest(reason: .requestLine)) }
                break
            }
            if b == C.cr || b == C.lf { return .failure(.badRequest(reason: .requestLine)) }
            return .failure(.badRequest(reason: .target))
        }
        line.targetStart = targetStart
        line.targetEnd = i
        if !isValidTargetForm(p, start: targetStart, end: i, method: line.method) {
            return .failure(.badRequest(reason: .target))
        }
        i &+= 1

        // HTTP-version = "HTTP" "/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive.
        let versionStart = i
        for k in 0..<8 {
            guard i < bound else { return needMore() }
            let b = p[i]
            let ok: Bool
            switch k {
            case 0: ok = b == 0x48 // H
            case 1, 2: ok = b == 0x54 // T
            case 3: ok = b == 0x50 // P
            case 4: ok = b == 0x2F // /
            case 6: ok = b == 0x2E // .
            default: ok = C.isDigit(b)
            }
            guard ok else {
                // A second SP inside the line lands here as a bad version.
                return .failure(.badRequest(reason: k == 0 && b == C.sp ? .requestLine : .version))
            }
            i &+= 1
        }
        let major = Int(p[versionStart &+ 5] &- 0x30), minor = Int(p[versionStart &+ 7] &- 0x30)
        guard major == 1 && (minor == 0 || minor == 1) else { return .failure(.versionNotSupported) }
        line.version = minor == 1 ? .http1_1 : .http1_0

        guard i < bound else { return needMore() }
        let b = p[i]
        if b == C.lf { return .failure(.badRequest(reason: .bareLF)) }
        guard b == C.cr else { return .failure(.badRequest(reason: .requestLine)) }
        guard i &+ 1 < bound else { return needMore() }
        guard p[i &+ 1] == C.lf else { return .failure(.badRequest(reason: .bareCR)) }
        line.end = i &+ 2
        return .success(true)
    }

    /// RFC 9112 §3.2: origin-form for everyone; asterisk-form only for OPTIONS;
    /// authority-form only (and always) for CONNECT; absolute-form with an http(s) scheme.
    @inline(__always)
    static func isValidTargetForm(_ p: UnsafeRawBufferPointer, start: Int, end: Int, method: HTTPMethod) -> Bool {
        let first = p[start]
        if method == .CONNECT { return isAuthorityForm(p, start: start, end: end) }
        if first == 0x2F { return true } // "/"
        if first == 0x2A { return end &- start == 1 && method == .OPTIONS } // "*"
        return ByteClass.equalsLowercase(p, start, min(end, start &+ 7), "http://") && end &- start > 7
            || ByteClass.equalsLowercase(p, start, min(end, start &+ 8), "https://") && end &- start > 8
    }

    /// authority-form = uri-host ":" port (RFC 9112 §3.2.3): a non-empty host without
    /// path, query, fragment or userinfo delimiters, and a decimal port of 1–5 digits.
    static func isAuthorityForm(_ p: UnsafeRawBufferPointer, start: Int, end: Int) -> Bool {
        var colon = -1
        for k in start..<end {
            switch p[k] {
            case 0x2F, 0x3F, 0x23, 0x40, 0x22, 0x5C, 0x7C: return false // / ? # @ " \ |
            case ByteClass.colon: colon = k
            default: break
            }
        }
        guard colon > start, end &- colon &- 1 >= 1, end &- colon &- 1 <= 5 else { return false }
        for k in (colon &+ 1)..<end where !ByteClass.isDigit(p[k]) { return false }
        return true
    }
}
