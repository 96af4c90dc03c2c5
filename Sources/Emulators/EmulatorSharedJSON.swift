import Webhooks

/// A JSON value with ordered object members, for the emulators' request and response
/// bodies. Own parser and printer instead of `JSONSerialization` because the emulators
/// need (a) key order preserved in answers (`"type"` first, as the real APIs send),
/// (b) booleans told apart from numbers (corelibs Foundation bridges both to NSNumber),
/// and (c) a strict parser (RFC 8259) whose failures become a 400, never a crash.
public indirect enum EmulatorSharedJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as it appeared (or was printed); never re-formatted.
    case number(String)
    case string(String)
    case array([EmulatorSharedJSON])
    case object([(String, EmulatorSharedJSON)])

    public static func == (lhs: EmulatorSharedJSON, rhs: EmulatorSharedJSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public static func int(_ value: Int) -> EmulatorSharedJSON { .number(String(value)) }
    public static func double(_ value: Double) -> EmulatorSharedJSON { .number(String(value)) }
    public static func optionalString(_ value: String?) -> EmulatorSharedJSON { value.map { .string($0) } ?? .null }
    public static func stringMap(_ map: [String: String]) -> EmulatorSharedJSON {
        .object(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    // MARK: Access

    public subscript(key: String) -> EmulatorSharedJSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }
    public var arrayValue: [EmulatorSharedJSON]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [(String, EmulatorSharedJSON)]? { if case .object(let o) = self { o } else { nil } }
    public var doubleValue: Double? { if case .number(let n) = self { Double(n) } else { nil } }
    /// Integral numbers only (`3`, `3.0`, `3e0`); nil for `3.5`.
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        guard let d = Double(n), d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// Sets (or replaces) an object member; no-op on non-objects.
    public mutating func set(_ key: String, _ value: EmulatorSharedJSON) {
        guard case .object(var members) = self else { return }
        if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = value } else { members.append((key, value)) }
        self = .object(members)
    }

    // MARK: Printing

    /// Compact JSON text (no whitespace), members in stored order.
    public var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    public var bytes: [UInt8] { Array(serialized.utf8) }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
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

    // MARK: Parsing

    public struct ParseError: Error, Sendable, Equatable {
        public let offset: Int
    }

    /// Maximum nesting accepted by `parse`, so hostile bodies cannot exhaust the stack.
    public static let maximumDepth = 64

    /// Parses one JSON text (RFC 8259); surrounding whitespace allowed, nothing else.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> EmulatorSharedJSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw ParseError(offset: parser.index) }
        return value
    }

    public static func parse(_ text: String) throws(ParseError) -> EmulatorSharedJSON {
        try parse(Array(text.utf8))
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        func fail() -> ParseError { ParseError(offset: index) }

        mutating func value(depth: Int) throws(ParseError) -> EmulatorSharedJSON {
            guard depth < EmulatorSharedJSON.maximumDepth, index < bytes.count else { throw fail() }
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

        mutating func literal(_ word: String) throws(ParseError) {
            let w = Array(word.utf8)
            guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else { throw fail() }
            index += w.count
        }

        mutating func object(depth: Int) throws(ParseError) -> EmulatorSharedJSON {
            index += 1
            var members: [(String, EmulatorSharedJSON)] = []
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

        mutating func array(depth: Int) throws(ParseError) -> EmulatorSharedJSON {
            index += 1
            var items: [EmulatorSharedJSON] = []
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

        mutating func number() throws(ParseError) -> EmulatorSharedJSON {
            let start = index
            func digits(_ p: inout Parser) -> Int {
                let s = p.index
                while p.index < p.bytes.count, (0x30...0x39).contains(p.bytes[p.index]) { p.index += 1 }
                return p.index - s
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw fail() }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                guard digits(&self) > 0 else { throw fail() }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits(&self) > 0 else { throw fail() }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits(&self) > 0 else { throw fail() }
            }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        mutating func string() throws(ParseError) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw fail() }
                let c = bytes[index]
                switch c {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let s = String(validating: out, as: UTF8.self) else { throw fail() }
                    return s
                case UInt8(ascii: "\\"):
                    index += 1
                    guard JSONEscape.decode(bytes, at: &index, into: &out) else { throw fail() }
                case 0x00..<0x20:
                    throw fail()
                default:
                    out.append(c)
                    index += 1
                }
            }
        }
    }
}
