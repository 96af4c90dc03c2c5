/// Compact JSON text, members in stored order, strings through `JSONEscape`.
extension JSONValue {
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
        case .string(let s): JSONEscape.appendQuoted(s, to: &out)
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
                JSONEscape.appendQuoted(key, to: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }
}
