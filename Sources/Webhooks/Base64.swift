/// Standard-alphabet base64 (RFC 4648 §4) without Foundation, strict where
/// signatures need it (rule 38: a malformed entry rejects the whole header).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = Int16(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard base64. With `requirePadding` the length must be a multiple
    /// of 4 with `=` padding; without it, missing padding is accepted (the
    /// library appends `==` to keys, §7.2 step 1). Characters outside the alphabet,
    /// misplaced `=` and non-zero trailing bits are errors (canonical form only).
    static func decode<Bytes: BidirectionalCollection<UInt8>>(_ text: Bytes, requirePadding: Bool) -> [UInt8]? {
        var end = text.endIndex
        var padding = 0
        while end > text.startIndex, text[text.index(before: end)] == UInt8(ascii: "=") {
            end = text.index(before: end)
            padding += 1
        }
        let chars = text[..<end]
        let count = text.distance(from: text.startIndex, to: end)
        if padding > 2 { return nil }
        if requirePadding {
            guard (count + padding) % 4 == 0 else { return nil }
        } else if padding > 0 {
            guard (count + padding) % 4 == 0 else { return nil }
        }
        let remainder = count % 4
        if remainder == 1 { return nil }
        if requirePadding || padding > 0 {
            // Padding present must be exactly what the remainder needs.
            let needed = remainder == 0 ? 0 : 4 - remainder
            guard padding == needed else { return nil }
        }
        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        let table = decodeTable
        for c in chars {
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            accumulator = accumulator << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Signatures: leftover bits must be zero (canonical encoding only). Keys are
        // decoded as leniently as the library does.
        if requirePadding { guard accumulator == 0 else { return nil } }
        return out
    }

    /// Decodes the canonical padded form of exactly 32 bytes (44 characters, one `=`,
    /// zero trailing bits) into `out`: what `decode(_:requirePadding: true)` accepts
    /// for a 32-byte result, without an allocation. A v1 signature has no other form.
    static func decodeDigest(_ text: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        guard text.count == 44, text[43] == UInt8(ascii: "=") else { return false }
        return decodeTable.withUnsafeBufferPointer { table in
            var o = 0
            var i = 0
            // Ten groups of four characters make thirty bytes.
            while i < 40 {
                let a = table[Int(text[i])], b = table[Int(text[i + 1])], c = table[Int(text[i + 2])], d = table[Int(text[i + 3])]
                guard a | b | c | d >= 0 else { return false }
                let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out[o] = UInt8(truncatingIfNeeded: n >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: n)
                o += 3
                i += 4
            }
            // Then three characters for the last two bytes; their low two bits must be zero.
            let a = table[Int(text[40])], b = table[Int(text[41])], c = table[Int(text[42])]
            guard a | b | c >= 0, c & 3 == 0 else { return false }
            let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
            out[30] = UInt8(truncatingIfNeeded: n >> 16)
            out[31] = UInt8(truncatingIfNeeded: n >> 8)
            return true
        }
    }

    static func decode(_ text: String, requirePadding: Bool) -> [UInt8]? {
        decode(text.utf8, requirePadding: requirePadding)
    }
}
