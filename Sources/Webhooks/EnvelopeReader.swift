/// A strict RFC 8259 reader that walks one JSON text on raw bytes and keeps only the
/// string members the envelope needs (`type`, `id`, `data.type`, `data.id`). Every
/// other value is validated and skipped without being built, so a malformed body is
/// refused exactly as a full parser would refuse it, and a well-formed one costs four
/// Strings (the webhook route runs inline on a connection queue).
struct EnvelopeReader {
    struct Fields {
        var type: String?
        var id: String?
        var dataType: String?
        var dataID: String?
        var dataIsObject = false
    }

    /// The member names the envelope reads; every other name is `.other`.
    private enum Name { case type, id, data, other }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Nesting bound: deeper documents are refused rather than recursed into.
    private static let maximumDepth = 64

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Nil unless `bytes` is exactly one JSON object (surrounding whitespace allowed).
    static func read(_ bytes: [UInt8]) -> Fields? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = EnvelopeReader(buffer)
            return reader.envelope()
        }
    }

    private mutating func envelope() -> Fields? {
        var fields = Fields()
        skipWhitespace()
        guard peek == UInt8(ascii: "{"), object(depth: 1, onMember: { name, reader in
            switch name {
            case .type, .id:
                guard reader.peek == UInt8(ascii: "\"") else { return reader.skipValue(depth: 1) }
                guard let value = reader.string(keep: true) else { return false }
                if name == .type { fields.type = value } else { fields.id = value }
                return true
            case .data:
                guard reader.peek == UInt8(ascii: "{") else { return reader.skipValue(depth: 1) }
                fields.dataIsObject = true
                return reader.object(depth: 2) { inner, reader in
                    guard inner == .type || inner == .id, reader.peek == UInt8(ascii: "\"") else {
                        return reader.skipValue(depth: 2)
                    }
                    guard let value = reader.string(keep: true) else { return false }
                    if inner == .type { fields.dataType = value } else { fields.dataID = value }
                    return true
                }
            case .other:
                return reader.skipValue(depth: 1)
            }
        }) else { return nil }
        skipWhitespace()
        return index == bytes.count ? fields : nil
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    /// `{` members `}`; `onMember` is called positioned at each value and must consume it.
    /// Later duplicates of a key overwrite earlier ones, as most parsers do.
    private mutating func object(depth: Int, onMember: (Name, inout EnvelopeReader) -> Bool) -> Bool {
        guard depth <= Self.maximumDepth, peek == UInt8(ascii: "{") else { return false }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") { index += 1; return true }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\""), let name = name() else { return false }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            guard onMember(name, &self) else { return false }
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
        case UInt8(ascii: "\""): return string(keep: false) != nil
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

    /// A member name at `index` (which holds `"`), matched on its bytes when it has no
    /// escapes (the usual case); nil if it is not a valid JSON string.
    private mutating func name() -> Name? {
        let start = index + 1
        guard let (end, clean) = scanPlain(from: start) else {
            // Escapes: decode, then compare (`"\u0074ype"` is `type`).
            return string(keep: true).map { text in
                switch text {
                case "type": .type
                case "id": .id
                case "data": .data
                default: .other
                }
            }
        }
        guard clean || Self.isValidUTF8(bytes, start, end) else { return nil }
        index = end + 1
        switch end - start {
        case 2 where bytes[start] == UInt8(ascii: "i") && bytes[start + 1] == UInt8(ascii: "d"):
            return .id
        case 4 where Self.equals(bytes, start, "type"):
            return .type
        case 4 where Self.equals(bytes, start, "data"):
            return .data
        default:
            return .other
        }
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ word: StaticString) -> Bool {
        for i in 0..<word.utf8CodeUnitCount where bytes[start + i] != word.utf8Start[i] { return false }
        return true
    }

    /// From `start`, the index of the closing quote of a string without escapes or
    /// control characters, and whether every byte before it is ASCII; nil when an
    /// escape, a control character or the end comes first.
    private func scanPlain(from start: Int) -> (end: Int, ascii: Bool)? {
        var end = start
        var high: UInt8 = 0
        while end < bytes.count {
            let b = bytes[end]
            if b == UInt8(ascii: "\"") { return (end, high < 0x80) }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            high |= b
            end += 1
        }
        return nil
    }

    private static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) != nil
    }

    /// A string at `index` (which holds `"`), unescaped; nil if malformed: control
    /// characters, bad escapes, unpaired surrogates or invalid UTF-8. Without `keep`
    /// it is only validated, and the result is an empty String.
    private mutating func string(keep: Bool) -> String? {
        let start = index + 1
        if let (end, ascii) = scanPlain(from: start) {
            index = end + 1
            let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if ascii { return keep ? String(decoding: text, as: UTF8.self) : "" }
            guard let valid = String(validating: text, as: UTF8.self) else { return nil }
            return keep ? valid : ""
        }
        index = start
        var out: [UInt8] = []
        while let b = peek {
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard let valid = String(validating: out, as: UTF8.self) else { return nil }
                return keep ? valid : ""
            case UInt8(ascii: "\\"):
                index += 1
                guard JSONEscape.decode(bytes, at: &index, into: &out) else { return nil }
            default:
                guard b >= 0x20 else { return nil }
                out.append(b)
                index += 1
            }
        }
        return nil
    }
}
