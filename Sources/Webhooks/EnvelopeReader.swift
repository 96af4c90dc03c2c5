/// A strict RFC 8259 reader that walks one JSON text on raw bytes and keeps only the
/// string members the envelope needs (`type`, `id`, `data.type`, `data.id`). Every
/// other value is validated and skipped, so a malformed body is refused exactly as a
/// full parser would refuse it, without building a dictionary per delivery (the
/// webhook route runs inline on a connection queue).
struct EnvelopeReader {
    struct Fields {
        var type: String?
        var id: String?
        var dataType: String?
        var dataID: String?
        var dataIsObject = false
    }

    private let bytes: [UInt8]
    private var index = 0
    /// Nesting bound: deeper documents are refused rather than recursed into.
    private static let maximumDepth = 64

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Nil unless `bytes` is exactly one JSON object (surrounding whitespace allowed).
    static func read(_ bytes: [UInt8]) -> Fields? {
        var reader = EnvelopeReader(bytes)
        var fields = Fields()
        reader.skipWhitespace()
        guard reader.peek == UInt8(ascii: "{"), reader.object(depth: 1, onMember: { key, reader in
            switch key {
            case "type", "id":
                guard reader.peek == UInt8(ascii: "\"") else { return reader.skipValue(depth: 1) }
                guard let value = reader.string() else { return false }
                if key == "type" { fields.type = value } else { fields.id = value }
                return true
            case "data":
                guard reader.peek == UInt8(ascii: "{") else { return reader.skipValue(depth: 1) }
                fields.dataIsObject = true
                return reader.object(depth: 2) { inner, reader in
                    guard inner == "type" || inner == "id", reader.peek == UInt8(ascii: "\"") else {
                        return reader.skipValue(depth: 2)
                    }
                    guard let value = reader.string() else { return false }
                    if inner == "type" { fields.dataType = value } else { fields.dataID = value }
                    return true
                }
            default:
                return reader.skipValue(depth: 1)
            }
        }) else { return nil }
        reader.skipWhitespace()
        return reader.index == bytes.count ? fields : nil
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    /// `{` members `}`; `onMember` is called positioned at each value and must consume it.
    /// Later duplicates of a key overwrite earlier ones, as most parsers do.
    private mutating func object(depth: Int, onMember: (Substring, inout EnvelopeReader) -> Bool) -> Bool {
        guard depth <= Self.maximumDepth, peek == UInt8(ascii: "{") else { return false }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") { index += 1; return true }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\""), let key = key() else { return false }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            guard onMember(key, &self) else { return false }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return true
            default: return false
            }
        }
    }

    private mutating func array(depth: Int) -> Bool {
        guard depth <= Self.maximumDepth, peek == UInt8(ascii: "[") else { return false }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "]") { index += 1; return true }
        while true {
            skipWhitespace()
            guard skipValue(depth: depth) else { return false }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return true
            default: return false
            }
        }
    }

    private mutating func skipValue(depth: Int) -> Bool {
        switch peek {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "{"): return object(depth: depth + 1) { _, reader in reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { return false }
        index += count
        return true
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() -> Bool {
        func digits(_ r: inout EnvelopeReader) -> Int {
            var n = 0
            while let b = r.peek, b >= 0x30, b <= 0x39 { r.index += 1; n += 1 }
            return n
        }
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            guard let b = peek, b >= 0x31, b <= 0x39 else { return false }
            _ = digits(&self)
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { return false }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { return false }
        }
        return true
    }

    /// A member name, as one of the names the envelope reads or `""` for any other
    /// (no String is made for names nobody reads).
    private mutating func key() -> Substring? {
        let start = index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            index = end + 1
            for (i, name) in Self.nameBytes.enumerated() where name.count == end - start {
                var same = true
                for j in 0..<name.count where bytes[start + j] != name[j] { same = false; break }
                if same { return Self.names[i][...] }
            }
            // Still has to be valid UTF-8 to be JSON.
            return Self.text(bytes, start, end) == nil ? nil : ""
        }
        return string().map { Self.names.contains($0) ? $0[...] : "" }
    }

    private static let names = ["type", "id", "data"]
    private static let nameBytes = names.map { Array($0.utf8) }

    /// `bytes[start..<end]` as a String: ASCII (the usual case) is copied as is, the
    /// rest is validated as UTF-8.
    private static func text(_ bytes: [UInt8], _ start: Int, _ end: Int) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            let slice = UnsafeBufferPointer(rebasing: buffer[start..<end])
            var ascii = true
            for b in slice where b >= 0x80 { ascii = false; break }
            return ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
        }
    }

    /// A string at `index` (which holds `"`), unescaped; nil if malformed: control
    /// characters, bad escapes, unpaired surrogates or invalid UTF-8.
    private mutating func string() -> String? {
        index += 1
        let start = index
        // Fast path: no escapes.
        while let b = peek, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\"), b >= 0x20 { index += 1 }
        if peek == UInt8(ascii: "\"") {
            let end = index
            index += 1
            return Self.text(bytes, start, end)
        }
        var out = Array(bytes[start..<index])
        while let b = peek {
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard let e = peek else { return nil }
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\") else { return nil }
                        index += 1
                        guard peek == UInt8(ascii: "u") else { return nil }
                        index += 1
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        return nil
                    }
                    guard let s = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: String(Character(s)).utf8)
                default: return nil
                }
            default:
                guard b >= 0x20 else { return nil }
                out.append(b)
                index += 1
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
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
