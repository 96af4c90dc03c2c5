import Foundation

/// A JSON value as the Superserve emulator reads and writes it. Objects keep their
/// key order on output (answers read like the service's); input objects come from
/// `JSONDecoder`, which does not keep order, and strict decoding (superserve.md §2)
/// only needs the key set.
enum SuperserveJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([SuperserveJSON])
    case object([(String, SuperserveJSON)])

    static func == (lhs: SuperserveJSON, rhs: SuperserveJSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            // Member order carries no meaning in JSON (RFC 8259 §4).
            a.count == b.count && a.allSatisfy { field in b.contains { $0.0 == field.0 && $0.1 == field.1 } }
        default: false
        }
    }

    /// Parses a request body. Nil for anything that is not JSON text.
    static func parse(_ bytes: [UInt8]) -> SuperserveJSON? {
        guard let decoded = try? JSONDecoder().decode(Decoded.self, from: Data(bytes)) else { return nil }
        return decoded.value
    }

    subscript(key: String) -> SuperserveJSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    var objectFields: [(String, SuperserveJSON)]? {
        if case .object(let fields) = self { return fields }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Integers only; a JSON number with a fraction is not an integer here.
    var intValue: Int? {
        switch self {
        case .int(let i): i
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: Int(d)
        default: nil
        }
    }

    var isNull: Bool { self == .null }

    // MARK: output

    var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    var bytes: [UInt8] { Array(serialized.utf8) }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }

    /// RFC 8259 §7: quote, backslash and control characters are escaped.
    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `Decodable` bridge: the decoder tries the JSON kinds in an order that keeps
    /// `true` a bool and `1` an integer.
    private struct Decoded: Decodable {
        let value: SuperserveJSON

        private struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            if let keyed = try? decoder.container(keyedBy: Key.self) {
                var fields: [(String, SuperserveJSON)] = []
                for key in keyed.allKeys {
                    fields.append((key.stringValue, try keyed.decode(Decoded.self, forKey: key).value))
                }
                value = .object(fields)
                return
            }
            if var unkeyed = try? decoder.unkeyedContainer() {
                var items: [SuperserveJSON] = []
                while !unkeyed.isAtEnd { items.append(try unkeyed.decode(Decoded.self).value) }
                value = .array(items)
                return
            }
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { value = .null }
            else if let b = try? single.decode(Bool.self) { value = .bool(b) }
            else if let i = try? single.decode(Int.self) { value = .int(i) }
            else if let d = try? single.decode(Double.self) { value = .double(d) }
            else { value = .string(try single.decode(String.self)) }
        }
    }
}

extension SuperserveJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
}
