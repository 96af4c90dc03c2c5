import XCTest
@testable import HTTPWire

/// The word-at-a-time fast paths must agree with the byte-by-byte grammar for every byte
/// value at every position, or the parser would skip a byte it has to reject.
final class ByteClassTests: XCTestCase {
    /// The byte predicates the word scans stand for.
    static let scans: [(name: String, prefix: @Sendable (UInt64) -> Int, plain: @Sendable (UInt8) -> Bool)] = [
        ("value", ByteClass.plainFieldValuePrefix, { $0 >= 0x20 && $0 != 0x7F }),
        ("target", ByteClass.plainTargetPrefix, ByteClass.isTargetByte),
        ("name", ByteClass.plainNamePrefix, { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D }),
    ]

    func check(_ bytes: [UInt8], _ context: @autoclosure () -> String) {
        let w = bytes.withUnsafeBytes { ByteClass.word($0.baseAddress!) }
        for scan in Self.scans {
            let expected = bytes.firstIndex { !scan.plain($0) } ?? 8
            XCTAssertEqual(scan.prefix(w), expected, "\(scan.name) \(context())")
        }
    }

    func testWordScansStopExactlyAtTheFirstByteOutsideTheirClass() {
        for filler in [UInt8(ascii: "a"), UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "7"), 0x20, 0x7E, 0xFF, 0x80, 0x00] {
            for value in 0...255 {
                for position in 0..<8 {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = UInt8(value)
                    check(bytes, "byte \(value) at \(position) among \(filler)")
                }
            }
        }
        // Several bytes that end a run, in any order: only the first may decide.
        let interesting: [UInt8] = [0x00, 0x09, 0x0D, 0x0A, 0x10, 0x19, 0x20, 0x21, 0x2D, 0x2F, 0x30, 0x39, 0x3A, 0x40,
                                    0x41, 0x5A, 0x5B, 0x60, 0x61, 0x7A, 0x7B, 0x7E, 0x7F, 0x80, 0xC3, 0xE1, 0xFF]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for round in 0..<200_000 {
            var bytes = [UInt8](repeating: 0, count: 8)
            for k in 0..<8 {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                bytes[k] = interesting[Int(state % UInt64(interesting.count))]
            }
            check(bytes, "round \(round): \(bytes)")
        }
    }

    func testTokenBitmapMatchesTheRFCList() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        for value in 0...255 {
            XCTAssertEqual(ByteClass.isTChar(UInt8(value)), tchar.contains(UInt8(value)), "\(value)")
        }
    }
}
