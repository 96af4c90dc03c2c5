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

    // SWAR ("SIMD within a register") tests on 8 bytes at once, used to skip long runs of
    // ordinary bytes in values and targets. Each answers "is there any such byte?" exactly
    // (the per-byte flags may be wrong above the first hit, the overall answer is not).
    @inline(__always) @usableFromInline static var ones: UInt64 { 0x0101_0101_0101_0101 }
    @inline(__always) @usableFromInline static var highs: UInt64 { 0x8080_8080_8080_8080 }

    /// Any byte of `w` below `n` (n ≤ 128).
    @inline(__always) @usableFromInline
    static func hasByteBelow(_ w: UInt64, _ n: UInt8) -> Bool {
        (w &- ones &* UInt64(n)) & ~w & highs != 0
    }

    /// Any byte of `w` equal to `b`.
    @inline(__always) @usableFromInline
    static func hasByte(_ w: UInt64, _ b: UInt8) -> Bool {
        let x = w ^ (ones &* UInt64(b))
        return (x &- ones) & ~x & highs != 0
    }

    /// True when all 8 bytes are field-vchar or SP (no CTL, no DEL; obs-text allowed).
    @inline(__always) @usableFromInline
    static func isPlainFieldValueWord(_ w: UInt64) -> Bool {
        !hasByteBelow(w, sp) && !hasByte(w, 0x7F)
    }

    /// True when all 8 bytes are visible ASCII (request-target bytes).
    @inline(__always) @usableFromInline
    static func isPlainTargetWord(_ w: UInt64) -> Bool {
        w & highs == 0 && !hasByteBelow(w, 0x21) && !hasByte(w, 0x7F)
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
