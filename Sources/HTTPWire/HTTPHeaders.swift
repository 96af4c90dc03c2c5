/// Header fields in arrival order. Names keep their original spelling; lookups are
/// ASCII case-insensitive (RFC 9110 §5.1). Values are stored without the optional
/// whitespace around them (RFC 9112 §5).
///
/// The fields live as byte ranges in one buffer: a parsed request keeps its header
/// section as received (one copy) plus a small index, and Strings are made only for
/// the fields someone asks for. Lookups compare bytes in place.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public typealias Element = (name: String, value: String)

    /// One field: `bytes[nameStart..<valueStart]` holds the name at its start,
    /// `bytes[valueStart..<valueEnd]` the value.
    @usableFromInline
    struct Field: Sendable {
        @usableFromInline var nameStart: UInt32
        @usableFromInline var nameCount: UInt32
        @usableFromInline var valueStart: UInt32
        @usableFromInline var valueEnd: UInt32

        @usableFromInline
        init(nameStart: UInt32, nameCount: UInt32, valueStart: UInt32, valueEnd: UInt32) {
            self.nameStart = nameStart
            self.nameCount = nameCount
            self.valueStart = valueStart
            self.valueEnd = valueEnd
        }

        @inlinable var name: Range<Int> { Int(nameStart)..<Int(nameStart &+ nameCount) }
        @inlinable var value: Range<Int> { Int(valueStart)..<Int(valueEnd) }
    }

    @usableFromInline var bytes: [UInt8]
    @usableFromInline var fields: [Field]

    public init() {
        bytes = []
        fields = []
    }

    public init(_ list: [(String, String)]) {
        self.init()
        for (name, value) in list { add(name: name, value: value) }
    }

    /// For the parser: `section` holds the field lines, `index` their ranges in it.
    init(section: [UInt8], index: [Field]) {
        bytes = section
        fields = index
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public mutating func add(name: String, value: String) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: value.utf8)
        precondition(bytes.count <= Int(UInt32.max), "header fields beyond 4 GiB")
        fields.append(Field(nameStart: UInt32(nameStart), nameCount: UInt32(valueStart - nameStart),
                            valueStart: UInt32(valueStart), valueEnd: UInt32(bytes.count)))
    }

    /// Replaces every field with this name by one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Drops the fields from the index; their bytes stay until the value is rebuilt.
    public mutating func remove(name: String) {
        let section = bytes
        section.withUnsafeBytes { p in
            Self.nameBytes(name) { n in
                fields.removeAll { Self.equalsFolded(UnsafeRawBufferPointer(rebasing: p[$0.name]), n) }
            }
        }
    }

    /// The first value of `name`, if any.
    public subscript(first name: String) -> String? {
        withFields { $0.first(name).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Every value of `name`, in order.
    public subscript(all name: String) -> [String] {
        withFields { f in
            Self.nameBytes(name) { n in
                f.fields.indices.filter { f.isNamed($0, n) }.map { String(decoding: f.value($0), as: UTF8.self) }
            }
        }
    }

    public func contains(name: String) -> Bool { withFields { $0.first(name) != nil } }

    /// Read access to the fields' bytes, lent for the duration of `withFields`.
    public struct FieldBytes {
        @usableFromInline let bytes: UnsafeRawBufferPointer
        @usableFromInline let fields: UnsafeBufferPointer<Field>

        @inlinable
        init(bytes: UnsafeRawBufferPointer, fields: UnsafeBufferPointer<Field>) {
            self.bytes = bytes
            self.fields = fields
        }

        /// The bytes of the first value of `name` (ASCII case-insensitive), nil when absent.
        @inlinable
        public func first(_ name: String) -> UnsafeRawBufferPointer? {
            HTTPHeaders.nameBytes(name) { n in fields.indices.first { isNamed($0, n) }.map(value) }
        }

        @inlinable
        func name(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[fields[i].name]) }

        @inlinable
        func value(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[fields[i].value]) }

        /// Field `i`'s name is `name` (ASCII case-insensitive).
        @inlinable
        func isNamed(_ i: Int, _ name: UnsafeRawBufferPointer) -> Bool { HTTPHeaders.equalsFolded(self.name(i), name) }
    }

    /// Calls `body` with the fields' bytes in place, for values that are only parsed
    /// (no String is made). The pointers must not escape `body`.
    @inlinable
    public func withFields<R>(_ body: (FieldBytes) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { p in
            try fields.withUnsafeBufferPointer { f in try body(FieldBytes(bytes: p, fields: f)) }
        }
    }

    /// Calls `body` with the name and value bytes of every field in order; it stops
    /// early when `body` returns false. For writers that copy fields out.
    public func forEachField(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) rethrows {
        try withFields { f in
            for i in f.fields.indices {
                guard try body(f.name(i), f.value(i)) else { return }
            }
        }
    }

    /// True when a comma-separated list header (`Connection`, `Transfer-Encoding`)
    /// carries `token`, compared case-insensitively (RFC 9110 §5.6.1). Scans the bytes in
    /// place: it runs for every request (keep-alive), so it must not allocate.
    public func containsToken(_ token: String, in name: String) -> Bool {
        withFields { f in
            Self.nameBytes(name) { n in
                Self.nameBytes(token) { t in
                    f.fields.indices.contains { f.isNamed($0, n) && Self.list(f.value($0), contains: t) }
                }
            }
        }
    }

    static func list(_ v: UnsafeRawBufferPointer, contains t: UnsafeRawBufferPointer) -> Bool {
        var k = 0
        while k < v.count {
            while k < v.count && (v[k] == 0x20 || v[k] == 0x09) { k += 1 }
            let start = k
            while k < v.count && v[k] != 0x2C { k += 1 }
            var end = k
            while end > start && (v[end - 1] == 0x20 || v[end - 1] == 0x09) { end -= 1 }
            k += 1
            if end - start == t.count, equalsFolded(UnsafeRawBufferPointer(rebasing: v[start..<end]), t) { return true }
        }
        return false
    }

    /// The UTF-8 of `name` without a copy when the String is native (literals are).
    @inlinable
    static func nameBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = name.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(name.utf8).withUnsafeBytes(body)
    }

    /// ASCII case-insensitive byte equality (names and list tokens are ASCII by grammar).
    @inlinable
    static func equalsFolded(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] {
            let x = a[i], y = b[i]
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var position = 0

        public mutating func next() -> (name: String, value: String)? {
            guard position < headers.fields.count else { return nil }
            let field = headers.fields[position]
            position += 1
            return headers.bytes.withUnsafeBytes { p in
                (name: String(decoding: UnsafeRawBufferPointer(rebasing: p[field.name]), as: UTF8.self),
                 value: String(decoding: UnsafeRawBufferPointer(rebasing: p[field.value]), as: UTF8.self))
            }
        }
    }

    public func makeIterator() -> Iterator { Iterator(headers: self) }

    /// Same fields, same spelling, same order.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        return lhs.bytes.withUnsafeBytes { l in
            rhs.bytes.withUnsafeBytes { r in
                zip(lhs.fields, rhs.fields).allSatisfy { a, b in
                    l[a.name].elementsEqual(r[b.name]) && l[a.value].elementsEqual(r[b.value])
                }
            }
        }
    }
}

extension StringProtocol {
    /// ASCII-only case folding: header names and tokens are ASCII by grammar.
    @inlinable
    public func asciiCaseInsensitiveEquals<Other: StringProtocol>(_ other: Other) -> Bool {
        let a = self.utf8, b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

}

extension String {
    /// The same comparison on two Strings, over their contiguous UTF-8 storage.
    @inlinable
    public func asciiCaseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        // Native Strings (and small ones) lend their bytes without a copy.
        let fast = utf8.withContiguousStorageIfAvailable { pa in
            other.utf8.withContiguousStorageIfAvailable { pb in
                HTTPHeaders.equalsFolded(UnsafeRawBufferPointer(pa), UnsafeRawBufferPointer(pb))
            }
        }
        if let fast, let result = fast { return result }
        return asciiCaseInsensitiveEquals(Substring(other))
    }
}

extension StringProtocol {
    /// Strips optional whitespace (SP / HTAB) at both ends.
    public func trimmingOWS() -> Substring {
        var s = Substring(self)
        while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}
