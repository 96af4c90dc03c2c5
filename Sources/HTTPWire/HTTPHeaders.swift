/// Header fields in arrival order. Names keep their original spelling; lookups are
/// ASCII case-insensitive (RFC 9110 §5.1). Values are stored without the optional
/// whitespace around them (RFC 9112 §5).
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public typealias Element = (name: String, value: String)

    @usableFromInline var storage: [(name: String, value: String)]

    public init() { storage = [] }

    public init(_ fields: [(String, String)]) {
        storage = fields.map { (name: $0.0, value: $0.1) }
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public mutating func add(name: String, value: String) {
        storage.append((name: name, value: value))
    }

    /// Replaces every field with this name by one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        storage.append((name: name, value: value))
    }

    public mutating func remove(name: String) {
        storage.removeAll { $0.name.asciiCaseInsensitiveEquals(name) }
    }

    /// The first value of `name`, if any.
    public subscript(first name: String) -> String? {
        // Fields are read in place: `for field in storage` would copy (retain and
        // release) both Strings of every field on every lookup, several per request.
        storage.withUnsafeBufferPointer { fields in
            for i in fields.indices where fields[i].name.asciiCaseInsensitiveEquals(name) { return fields[i].value }
            return nil
        }
    }

    /// Every value of `name`, in order.
    public subscript(all name: String) -> [String] {
        storage.filter { $0.name.asciiCaseInsensitiveEquals(name) }.map(\.value)
    }

    public func contains(name: String) -> Bool { self[first: name] != nil }

    /// True when a comma-separated list header (`Connection`, `Transfer-Encoding`)
    /// carries `token`, compared case-insensitively (RFC 9110 §5.6.1). Scans the bytes in
    /// place: it runs for every request (keep-alive), so it must not allocate.
    public func containsToken(_ token: String, in name: String) -> Bool {
        var token = token
        return token.withUTF8 { t in
            storage.withUnsafeBufferPointer { fields in
                for i in fields.indices where fields[i].name.asciiCaseInsensitiveEquals(name) {
                    var value = fields[i].value
                    if value.withUTF8({ HTTPHeaders.list($0, contains: t) }) { return true }
                }
                return false
            }
        }
    }

    static func list(_ v: UnsafeBufferPointer<UInt8>, contains t: UnsafeBufferPointer<UInt8>) -> Bool {
        var k = 0
        while k < v.count {
            while k < v.count && (v[k] == 0x20 || v[k] == 0x09) { k += 1 }
            let start = k
            while k < v.count && v[k] != 0x2C { k += 1 }
            var end = k
            while end > start && (v[end - 1] == 0x20 || v[end - 1] == 0x09) { end -= 1 }
            k += 1
            guard end - start == t.count else { continue }
            var equal = true
            for j in 0..<t.count {
                let x = v[start + j], y = t[j]
                let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                if lx != ly { equal = false; break }
            }
            if equal { return true }
        }
        return false
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        storage.makeIterator()
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.storage.count == rhs.storage.count
            && zip(lhs.storage, rhs.storage).allSatisfy { $0.name == $1.name && $0.value == $1.value }
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
    /// The same comparison on two Strings, over their contiguous UTF-8 storage: header
    /// lookups run several times per request, and the generic version walks two views.
    @inlinable
    public func asciiCaseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        // Native Strings (and small ones) lend their bytes without a copy.
        let fast = utf8.withContiguousStorageIfAvailable { pa in
            other.utf8.withContiguousStorageIfAvailable { pb in
                for i in 0..<pa.count where pa[i] != pb[i] {
                    let x = pa[i], y = pb[i]
                    let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                    let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                    if lx != ly { return false }
                }
                return true
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
