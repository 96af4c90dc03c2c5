extension HTTPMethod {
    /// Recognises a method token straight from the buffer. Methods are case-sensitive
    /// (RFC 9110 §9.1), so the first up-to-8 bytes are packed little-endian into one
    /// integer and compared with constants: no String is built for the common methods.
    /// The caller has already checked that the bytes are a token.
    @inline(__always) @usableFromInline
    static func recognise(_ p: UnsafeRawBufferPointer, start: Int, end: Int) -> HTTPMethod {
        let n = end &- start
        if n >= 3 && n <= 7 {
            var word: UInt64 = 0
            for k in 0..<n { word |= UInt64(p[start &+ k]) << UInt64(8 &* k) }
            switch word {
            case 0x54_4547: return .GET
            case 0x54_5550: return .PUT
            case 0x4441_4548: return .HEAD
            case 0x5453_4F50: return .POST
            case 0x48_4354_4150: return .PATCH
            case 0x45_4341_5254: return .TRACE
            case 0x4554_454C_4544: return .DELETE
            case 0x53_4E4F_4954_504F: return .OPTIONS
            case 0x54_4345_4E4E_4F43: return .CONNECT
            default: break
            }
        }
        return .other(String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<end]), as: UTF8.self))
    }
}
