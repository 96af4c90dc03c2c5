/// The strict reader (RFC 8259): one JSON text, surrounding whitespace allowed, nothing
/// else; no trailing commas, no leading zeros, no raw control characters in strings,
/// no unpaired surrogates, valid UTF-8, nesting bounded. Token rules are `JSONScan`'s.
extension JSONValue {
    public struct ParseError: Error, Sendable, Equatable {
        /// Where reading stopped (for a bad string, its opening quote).
        public let offset: Int
    }

    /// Maximum nesting accepted by `parse`, so hostile bodies cannot exhaust the stack.
    public static let maximumDepth = 64

    /// Parses one JSON text (RFC 8259); surrounding whitespace allowed, nothing else.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw ParseError(offset: parser.index) }
        return value
    }

    public static func parse(_ text: String) throws(ParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipWhitespace() {
            index = JSONScan.skipWhitespace(bytes, from: index)
        }

        func fail() -> ParseError { ParseError(offset: index) }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < JSONValue.maximumDepth, index < bytes.count else { throw fail() }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return try number()
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            guard JSONScan.literal(word, in: bytes, at: &index) else { throw fail() }
        }

        mutating func object(depth: Int) throws(ParseError) -> JSONValue {
            index += 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail() }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail() }
                index += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw fail() }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw fail()
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> JSONValue {
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw fail() }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                throw fail()
            }
        }

        mutating func number() throws(ParseError) -> JSONValue {
            let start = index
            guard JSONScan.number(bytes, at: &index) else { throw fail() }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        /// The string whose opening quote is at `index`.
        mutating func string() throws(ParseError) -> String {
            var out: [UInt8] = []
            guard let close = JSONScan.string(bytes, from: index + 1, into: &out),
                  let s = String(validating: out, as: UTF8.self) else { throw fail() }
            index = close + 1
            return s
        }
    }
}
