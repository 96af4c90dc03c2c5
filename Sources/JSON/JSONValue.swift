/// A JSON value with ordered object members, for the emulators' request and response
/// bodies. Own reader and writer instead of `JSONSerialization` because the emulators
/// need (a) key order preserved in answers (`"type"` first, as the real APIs send),
/// (b) booleans told apart from numbers (corelibs Foundation bridges both to NSNumber),
/// and (c) a strict reader (RFC 8259) whose failures become a 400, never a crash.
/// Writing is in `JSONValue+Writing.swift`, reading in `JSONValue+Reading.swift`.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as it appeared (or was printed); never re-formatted.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
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

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }
    public static func double(_ value: Double) -> JSONValue { .number(String(value)) }
    public static func optionalString(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    public static func stringMap(_ map: [String: String]) -> JSONValue {
        .object(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    // MARK: Access

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { o } else { nil } }
    public var doubleValue: Double? { if case .number(let n) = self { Double(n) } else { nil } }
    /// Integral numbers only (`3`, `3.0`, `3e0`); nil for `3.5`.
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        guard let d = Double(n), d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// Sets (or replaces) an object member; no-op on non-objects.
    public mutating func set(_ key: String, _ value: JSONValue) {
        guard case .object(var members) = self else { return }
        if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = value } else { members.append((key, value)) }
        self = .object(members)
    }
}
