/// The token rules of RFC 8259 that both strict readers share: `JSONValue.parse`,
/// which builds every value, and the webhook envelope reader, which keeps four strings
/// and skips the rest. Sharing them means a text one refuses, the other refuses too.
///
/// Each function takes absolute indices into `bytes` (an array or a buffer pointer,
/// whose indices start at 0) and is inlinable, so that a reader on raw buffers gets
/// code specialised for them.
public enum JSONScan {
    /// The index of the first byte at or after `from` that is not JSON whitespace
    /// (space, tab, LF, CR; §2).
    @inlinable
    public static func skipWhitespace<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, from: Int) -> Int
    where Bytes.Index == Int {
        var i = from
        while i < bytes.endIndex {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    /// Moves `i` past `word` (`true`, `false`, `null`) when the bytes at `i` spell it.
    @inlinable
    public static func literal<Bytes: RandomAccessCollection<UInt8>>(_ word: StaticString, in bytes: Bytes,
                                                                       at i: inout Int) -> Bool
    where Bytes.Index == Int {
        let count = word.utf8CodeUnitCount
        guard i + count <= bytes.endIndex else { return false }
        for k in 0..<count where bytes[i + k] != word.utf8Start[k] { return false }
        i += count
        return true
    }

    /// Moves `i` past the number that starts there (§6):
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. False when none does.
    @inlinable
    public static func number<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at i: inout Int) -> Bool
    where Bytes.Index == Int {
        let n = bytes.endIndex
        func digits(_ i: inout Int) -> Int {
            let start = i
            while i < n, bytes[i] &- 0x30 < 10 { i += 1 }
            return i - start
        }
        if i < n, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n else { return false }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            guard bytes[i] &- 0x31 < 9 else { return false }
            _ = digits(&i)
        }
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&i) > 0 else { return false }
        }
        if i < n, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&i) > 0 else { return false }
        }
        return true
    }

    /// Decodes the string whose contents start at `start` (just after the opening
    /// quote) into `out` and returns the index of its closing quote. Nil for a raw
    /// control character, a bad escape or a missing closing quote (§7). The caller
    /// checks that `out` is valid UTF-8.
    @inlinable
    public static func string<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, from start: Int,
                                                                      into out: inout [UInt8]) -> Int?
    where Bytes.Index == Int {
        var i = start
        while i < bytes.endIndex {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                return i
            case UInt8(ascii: "\\"):
                i += 1
                guard JSONEscape.decode(bytes, at: &i, into: &out) else { return nil }
            default:
                guard b >= 0x20 else { return nil }
                out.append(b)
                i += 1
            }
        }
        return nil
    }
}
