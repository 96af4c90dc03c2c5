/// JSON string escapes (RFC 8259 §7) in both directions: the one escaper every JSON
/// text of the project is written with (log lines, the emulators' answers, hand-built
/// request bodies) and the one decoder both readers share (`JSONValue.parse` and the
/// webhook envelope reader).
public enum JSONEscape {
    /// Appends `s` as a JSON string, quotes included. Escaped: `"`, `\`, every control
    /// character (`\n`, `\r`, `\t` by name, the rest as `\u00XX`) and U+2028/U+2029.
    /// RFC 8259 allows those two raw, but they are line terminators to JavaScript
    /// before ES2019 and to readers that split on Unicode line breaks: escaped, a log
    /// record or an SSE `data:` line stays one line for every consumer.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x2028 || c.value == 0x2029:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `appendQuoted(_:to:)` on UTF-8 bytes, for lines written without a `String`
    /// (the access log): the same escapes, byte for byte.
    public static func appendQuoted(_ s: some StringProtocol, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var utf8 = s.utf8.makeIterator()
        var pending: UInt8? = nil
        while let b = pending ?? utf8.next() {
            pending = nil
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(b); out.append(b)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20: appendUnicodeEscape(UInt32(b), to: &out)
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                guard let b1 = utf8.next() else { out.append(b); break }
                guard b1 == 0x80, let b2 = utf8.next() else { out.append(b); pending = b1; break }
                if b2 == 0xA8 || b2 == 0xA9 {
                    appendUnicodeEscape(0x2000 | UInt32(b2 - 0xA8 + 0x28), to: &out)
                } else {
                    out.append(b); out.append(b1); out.append(b2)
                }
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendUnicodeEscape(_ v: UInt32, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "u"))
        for shift in [12, 8, 4, 0] as [UInt32] { out.append(hex[Int((v >> shift) & 0xF)]) }
    }

    /// `s` as a JSON string, quotes included.
    public static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }

    /// Decodes the escape whose letter is at `index` (just after the backslash),
    /// appends its UTF-8 to `out` and moves `index` past it. False for an unknown
    /// escape, bad hex digits or an unpaired surrogate. Inlinable: the webhook
    /// envelope reader specialises it for its byte buffer.
    @inlinable
    public static func decode<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes, at index: inout Int, into out: inout [UInt8]
    ) -> Bool where Bytes.Index == Int {
        guard index < bytes.endIndex else { return false }
        let letter = bytes[index]
        index += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(letter)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            guard var code = hex4(bytes, at: &index) else { return false }
            if (0xD800...0xDBFF).contains(code) {
                // A high surrogate must be followed by an escaped low one.
                guard index + 2 <= bytes.endIndex, bytes[index] == UInt8(ascii: "\\"),
                      bytes[index + 1] == UInt8(ascii: "u") else { return false }
                index += 2
                guard let low = hex4(bytes, at: &index), (0xDC00...0xDFFF).contains(low) else { return false }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                return false
            }
            guard let scalar = Unicode.Scalar(code) else { return false }
            UTF8.encode(scalar) { out.append($0) }
        default:
            return false
        }
        return true
    }

    @inlinable
    static func hex4<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at index: inout Int) -> UInt32?
    where Bytes.Index == Int {
        guard index + 4 <= bytes.endIndex else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
