/// One field line of a header or trailer section (RFC 9112 §5, RFC 9110 §5.5).
/// Shared by the head parser and the chunked decoder so both apply the same rules.
@usableFromInline
enum FieldLine {
    /// `name: value` CRLF. Value bounds exclude the OWS around it. `next` is the index
    /// after the line's LF.
    case field(nameStart: Int, nameEnd: Int, valueStart: Int, valueEnd: Int, next: Int)
    /// The empty line that ends the section; `next` is the index after its LF.
    case end(next: Int)
    /// Needs bytes at or beyond `bound`.
    case incomplete
    case invalid(BadRequestReason)
}

@usableFromInline
enum FieldLineScanner {
    /// Scans one line starting at `start`, looking at bytes below `bound` only. Bytes are
    /// judged strictly left to right, so a prefix of an input either stays `.incomplete`
    /// or fails with the same reason as the whole input.
    @inline(__always) @usableFromInline
    static func scan(_ p: UnsafeRawBufferPointer, from start: Int, bound: Int) -> FieldLine {
        typealias C = ByteClass
        var i = start
        guard i < bound else { return .incomplete }
        let first = p[i]
        if first == C.cr {
            guard i &+ 1 < bound else { return .incomplete }
            return p[i &+ 1] == C.lf ? .end(next: i &+ 2) : .invalid(.bareCR)
        }
        if first == C.lf { return .invalid(.bareLF) }
        // RFC 9112 §5.2: obs-fold is rejected; so is whitespace before the first field (§2.2).
        if C.isWhitespace(first) { return .invalid(.obsFold) }

        let nameStart = i
        // Fast path: runs of letters, digits and dashes, a word at a time.
        i = C.skipRun(p, from: i, bound: bound, C.plainNamePrefix)
        while true {
            guard i < bound else { return .incomplete }
            let b = p[i]
            if C.isTChar(b) { i &+= 1; continue }
            if b == C.colon { break }
            // RFC 9112 §5.1: no whitespace between field name and colon (smuggling vector).
            if C.isWhitespace(b) { return .invalid(.whitespaceBeforeColon) }
            if b == C.lf { return .invalid(.bareLF) }
            if b == C.cr {
                guard i &+ 1 < bound else { return .incomplete }
                return .invalid(p[i &+ 1] == C.lf ? .headerName : .bareCR)
            }
            return .invalid(.headerName)
        }
        if i == nameStart { return .invalid(.headerName) }
        let nameEnd = i
        i &+= 1

        while i < bound && C.isWhitespace(p[i]) { i &+= 1 }
        let valueStart = i
        while true {
            // Fast path: runs of ordinary value bytes, a word at a time, stopping on the
            // byte that ends the run (usually the CR).
            i = C.skipRun(p, from: i, bound: bound, C.plainFieldValuePrefix)
            guard i < bound else { return .incomplete }
            let b = p[i]
            if C.isFieldVChar(b) || C.isWhitespace(b) { i &+= 1; continue }
            if b == C.cr {
                guard i &+ 1 < bound else { return .incomplete }
                guard p[i &+ 1] == C.lf else { return .invalid(.bareCR) }
                // Trailing OWS is not part of the value (RFC 9112 §5).
                var valueEnd = i
                while valueEnd > valueStart && C.isWhitespace(p[valueEnd &- 1]) { valueEnd &-= 1 }
                return .field(nameStart: nameStart, nameEnd: nameEnd, valueStart: valueStart, valueEnd: valueEnd, next: i &+ 2)
            }
            if b == C.lf { return .invalid(.bareLF) }
            // NUL and the other CTLs (RFC 9110 §5.5: a recipient may reject them; we do).
            return .invalid(.headerValue)
        }
    }
}
