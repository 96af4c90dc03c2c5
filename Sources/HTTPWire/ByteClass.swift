/// Byte classes of the HTTP grammar (RFC 9110 §5.6, RFC 9112), as branch-light tests on
/// constant bitmaps: no tables to initialise, no allocation, inlined into the byte loops.
@usableFromInline
enum ByteClass {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let dquote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let comma: UInt8 = 0x2C

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
    /// "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110 §5.6.2), bytes 0–63 and 64–127.
    @usableFromInline static var tcharLow: UInt64 { 0x03FF_6CFA_0000_0000 }
    @usableFromInline static var tcharHigh: UInt64 { 0x57FF_FFFF_C7FF_FFFE }

    @inline(__always) @usableFromInline
    static func isTChar(_ b: UInt8) -> Bool {
        if b < 64 { return (tcharLow >> UInt64(b)) & 1 != 0 }
        if b < 128 { return (tcharHigh >> UInt64(b &- 64)) & 1 != 0 }
        return false
    }

    /// SP / HTAB: optional whitespace (OWS, BWS).
    @inline(__always) @usableFromInline
    static func isWhitespace(_ b: UInt8) -> Bool { b == sp || b == htab }

    /// field-vchar = VCHAR / obs-text (RFC 9110 §5.5): visible ASCII and bytes ≥ 0x80.
    /// DEL (0x7F) and every other CTL are excluded.
    @inline(__always) @usableFromInline
    static func isFieldVChar(_ b: UInt8) -> Bool { b > sp && b != 0x7F }

    /// Bytes allowed in a request-target: visible ASCII only (RFC 9112 §3.2, RFC 3986);
    /// no CTL, SP or non-ASCII. Quotes, `|`, `\` and `#` are tolerated as real clients
    /// send them (llhttp vectors).
    @inline(__always) @usableFromInline
    static func isTargetByte(_ b: UInt8) -> Bool { b > sp && b < 0x7F }

    @inline(__always) @usableFromInline
    static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    /// HEXDIG value, or nil.
    @inline(__always) @usableFromInline
    static func hexValue(_ b: UInt8) -> Int? {
        if b &- 0x30 < 10 { return Int(b &- 0x30) }
        let l = b | 0x20
        if l &- 0x61 < 6 { return Int(l &- 0x61) + 10 }
        return nil
    }

    /// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4).
    @inline(__always) @usableFromInline
    static func isQDText(_ b: UInt8) -> Bool {
        b == htab || (b >= sp && b != dquote && b != backslash && b != 0x7F)
    }

    /// What may follow a backslash in a quoted-pair: HTAB / SP / VCHAR / obs-text.
    @inline(__always) @usableFromInline
    static func isQuotedPairByte(_ b: UInt8) -> Bool { b == htab || (b >= sp && b != 0x7F) }

    // SWAR ("SIMD within a register") scans of 8 bytes at once, used to skip runs of
    // ordinary bytes in names, values and targets. A word is loaded little-endian, so
    // byte k of memory is bits 8k…8k+7. Each mask sets the high bit of the bytes that end
    // the run; bits above the first real hit may be wrong (borrows and carries travel
    // upward), so only the lowest set bit is used, and it is always exact.
    @inline(__always) @usableFromInline static var ones: UInt64 { 0x0101_0101_0101_0101 }
    @inline(__always) @usableFromInline static var highs: UInt64 { 0x8080_8080_8080_8080 }

    /// The 8 bytes at `p`, byte 0 lowest.
    @inline(__always) @usableFromInline
    static func word(_ p: UnsafeRawPointer) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }

    /// Bytes below `n` (n ≤ 128).
    @inline(__always) @usableFromInline
    static func below(_ w: UInt64, _ n: UInt8) -> UInt64 { (w &- ones &* UInt64(n)) & ~w & highs }

    /// Bytes equal to `b`.
    @inline(__always) @usableFromInline
    static func equal(_ w: UInt64, _ b: UInt8) -> UInt64 {
        let x = w ^ (ones &* UInt64(b))
        return (x &- ones) & ~x & highs
    }

    /// How many leading bytes precede the first flagged one (8 when none is).
    @inline(__always) @usableFromInline
    static func leading(_ hits: UInt64) -> Int { hits == 0 ? 8 : hits.trailingZeroBitCount &>> 3 }

    /// The index of the first byte from `i` (below `bound`) that ends a run of the
    /// bytes `prefix` accepts, scanning a word at a time; bytes after the last whole
    /// word are left to the caller's byte loop.
    @inline(__always) @usableFromInline
    static func skipRun(_ p: UnsafeRawBufferPointer, from i: Int, bound: Int, _ prefix: (UInt64) -> Int) -> Int {
        guard let base = p.baseAddress else { return i }
        var i = i
        while i &+ 8 <= bound {
            let k = prefix(word(base + i))
            i &+= k
            if k < 8 { break }
        }
        return i
    }

    /// Leading bytes that are field-vchar or SP (no CTL, no DEL; obs-text allowed).
    @inline(__always) @usableFromInline
    static func plainFieldValuePrefix(_ w: UInt64) -> Int { leading(below(w, sp) | equal(w, 0x7F)) }

    /// Leading bytes that are visible ASCII (request-target bytes).
    @inline(__always) @usableFromInline
    static func plainTargetPrefix(_ w: UInt64) -> Int { leading((w & highs) | below(w, 0x21) | equal(w, 0x7F)) }

    /// Leading bytes that are ASCII letters, digits or `-`: the bytes of nearly every
    /// field name (a subset of tchar, so skipping them never hides an error).
    @inline(__always) @usableFromInline
    static func plainNamePrefix(_ w: UInt64) -> Int {
        // Up to the first byte that is ≥ 0x80 or < 0x21 the sums below cannot carry
        // between bytes, so there each byte's high bit answers for that byte alone.
        // `| 0x20` folds A–Z onto a–z and maps no other byte of 0x21–0x7F onto a letter,
        // a digit or `-`.
        let y = w | (ones &* 0x20)
        let letter = (y &+ ones &* (0x80 - 0x61)) & ~(y &+ ones &* (0x80 - 0x7B))
        let digit = (y &+ ones &* (0x80 - 0x30)) & ~(y &+ ones &* (0x80 - 0x3A))
        let dash = ~((y ^ (ones &* 0x2D)) &+ ones &* 0x7F)
        return leading((~(letter | digit | dash) & highs) | (w & highs) | below(w, 0x21))
    }

    /// ASCII-lowercase comparison of `p[start..<start+lower.count]` with an already
    /// lowercase ASCII token (header names are tokens, so `| 0x20` is a safe fold:
    /// the only non-letter it could confuse with `-` is CR, which is never in a token).
    @inline(__always) @usableFromInline
    static func equalsLowercase(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ lower: StaticString) -> Bool {
        let n = lower.utf8CodeUnitCount
        guard end - start == n else { return false }
        let q = lower.utf8Start
        for k in 0..<n where p[start &+ k] | 0x20 != q[k] { return false }
        return true
    }
}
