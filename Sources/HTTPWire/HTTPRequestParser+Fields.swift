extension HTTPRequestParser {
    /// Parses the header section after the request line and decides the body framing
    /// (RFC 9112 §6.3). Framing fields are judged as each one arrives, so the first
    /// offending byte decides the error, exactly as for a prefix of the input.
    @inline(__always)
    static func parseFields(_ p: UnsafeRawBufferPointer, from start: Int, line: RequestLine, limits: HTTPLimits) -> HeadParseResult {
        let count = p.count
        // Field offsets are kept as UInt32: a section is never allowed past 4 GiB.
        let limit = min(max(0, limits.maxHeaderBytes), Int(UInt32.max))
        let bound = start &+ limit < count ? start &+ limit : count
        // Fields are indexed as ranges; the section is copied once when it is complete.
        var index: [HTTPHeaders.Field] = []
        index.reserveCapacity(12)
        var framing = FramingState()
        var i = start

        while true {
            switch FieldLineScanner.scan(p, from: i, bound: bound) {
            case .incomplete:
                return bound < count ? .invalid(.headerFieldsTooLarge) : .incomplete
            case .invalid(let reason):
                return .invalid(.badRequest(reason: reason))
            case .end(let next):
                if let error = framing.finish(version: line.version) { return .invalid(error) }
                let head = HTTPRequestHead(
                    method: line.method,
                    target: String(decoding: UnsafeRawBufferPointer(rebasing: p[line.targetStart..<line.targetEnd]), as: UTF8.self),
                    version: line.version,
                    headers: HTTPHeaders(section: Array(UnsafeRawBufferPointer(rebasing: p[start..<next])), index: index),
                    framing: framing.framing)
                return .complete(head, consumed: next)
            case .field(let ns, let ne, let vs, let ve, let next):
                guard index.count < limits.maxHeaderCount else { return .invalid(.headerFieldsTooLarge) }
                if let error = framing.observe(p, nameStart: ns, nameEnd: ne, valueStart: vs, valueEnd: ve, version: line.version, limits: limits) {
                    return .invalid(error)
                }
                // Offsets into the copied section (bounded by maxHeaderBytes).
                index.append(HTTPHeaders.Field(nameStart: UInt32(ns &- start), nameCount: UInt32(ne &- ns),
                                               valueStart: UInt32(vs &- start), valueEnd: UInt32(ve &- start)))
                i = next
            }
        }
    }
}

/// Tracks the fields that decide message framing and routing authority while the
/// header section is scanned: Content-Length, Transfer-Encoding and Host.
@usableFromInline
struct FramingState {
    var contentLength: Int? = nil
    var chunked = false
    var sawTransferEncoding = false
    var hostCount = 0

    var framing: BodyFraming {
        if chunked { return .chunked }
        if let contentLength { return .contentLength(contentLength) }
        return .none
    }

    /// Judges one field; returns the rejection, if any.
    @inline(__always)
    mutating func observe(_ p: UnsafeRawBufferPointer, nameStart ns: Int, nameEnd ne: Int, valueStart vs: Int, valueEnd ve: Int,
                          version: HTTPVersion, limits: HTTPLimits) -> HTTPParseError? {
        // Only three names matter here; dispatch on length first so most fields cost one compare.
        switch ne &- ns {
        case 4:
            guard ByteClass.equalsLowercase(p, ns, ne, "host") else { return nil }
            // RFC 9112 §3.2: more than one Host field is a 400.
            hostCount &+= 1
            return hostCount > 1 ? .badRequest(reason: .duplicateHost) : nil
        case 14:
            guard ByteClass.equalsLowercase(p, ns, ne, "content-length") else { return nil }
            return observeContentLength(p, vs, ve, limits: limits)
        case 17:
            guard ByteClass.equalsLowercase(p, ns, ne, "transfer-encoding") else { return nil }
            return observeTransferEncoding(p, vs, ve, version: version)
        default:
            return nil
        }
    }

    /// RFC 9112 §6.3 rules 3–5: CL with TE is refused (a proxy may have framed it the other
    /// way); more than one CL — as a list or in several fields, equal or not — is refused;
    /// the value is 1*DIGIT (no sign, no space, no empty), overflow-checked.
    @inline(__always)
    mutating func observeContentLength(_ p: UnsafeRawBufferPointer, _ vs: Int, _ ve: Int, limits: HTTPLimits) -> HTTPParseError? {
        if sawTransferEncoding { return .badRequest(reason: .contentLengthWithTransferEncoding) }
        if contentLength != nil { return .badRequest(reason: .contentLength) }
        guard vs < ve else { return .badRequest(reason: .contentLength) }
        var value = 0
        for k in vs..<ve {
            let d = p[k] &- 0x30
            guard d < 10 else { return .badRequest(reason: .contentLength) }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(d))
            if o1 || o2 { return .badRequest(reason: .contentLength) }
            value = s
        }
        // Refuse as soon as the head announces it, before any body byte is read.
        if value > limits.maxBodyBytes { return .contentTooLarge }
        contentLength = value
        return nil
    }

    /// RFC 9112 §6.1: only `chunked` is implemented (anything else is 501, §6.1 ¶ "not
    /// understood"), it must be the final coding and appear once; TE on HTTP/1.0 is refused
    /// (§6.1: a 1.0 message with TE is faulty framing); empty list elements are skipped
    /// (RFC 9110 §5.6.1) but a field with no coding at all is a 400.
    @inline(__always)
    mutating func observeTransferEncoding(_ p: UnsafeRawBufferPointer, _ vs: Int, _ ve: Int, version: HTTPVersion) -> HTTPParseError? {
        if contentLength != nil { return .badRequest(reason: .contentLengthWithTransferEncoding) }
        if version == .http1_0 { return .badRequest(reason: .transferEncoding) }
        sawTransferEncoding = true
        var sawCoding = false
        var k = vs
        while k < ve {
            // One list element: skip OWS, take up to the next comma, trim OWS.
            while k < ve && ByteClass.isWhitespace(p[k]) { k &+= 1 }
            let es = k
            while k < ve && p[k] != ByteClass.comma { k &+= 1 }
            var ee = k
            while ee > es && ByteClass.isWhitespace(p[ee &- 1]) { ee &-= 1 }
            k &+= 1
            if es == ee { continue }
            sawCoding = true
            guard ByteClass.equalsLowercase(p, es, ee, "chunked") else { return .notImplemented }
            if chunked { return .badRequest(reason: .transferEncoding) }
            chunked = true
        }
        return sawCoding ? nil : .badRequest(reason: .transferEncoding)
    }

    /// Checks that need the whole section.
    @inline(__always)
    func finish(version: HTTPVersion) -> HTTPParseError? {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
        if version == .http1_1 && hostCount == 0 { return .badRequest(reason: .missingHost) }
        return nil
    }
}
