import XCTest
@testable import HTTPWire

/// The word-at-a-time fast paths must agree with the byte-by-byte grammar for every byte
/// value at every position, or the parser would skip a byte it has to reject.
final class ByteClassTests: XCTestCase {
    func word(_ b: UInt8, at position: Int, filler: UInt8) -> UInt64 {
        var bytes = [UInt8](repeating: filler, count: 8)
        bytes[position] = b
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    func testWordTestsAgreeWithByteTestsForEveryByteAtEveryPosition() {
        for filler in [UInt8(ascii: "a"), 0x20, 0x7E, 0xFF, 0x80] {
            for value in 0...255 {
                let b = UInt8(value)
                for position in 0..<8 {
                    let w = word(b, at: position, filler: filler)
                    let fillerPlainValue = filler >= 0x20 && filler != 0x7F
                    XCTAssertEqual(ByteClass.isPlainFieldValueWord(w), fillerPlainValue && b >= 0x20 && b != 0x7F, "value \(b) at \(position)")
                    let fillerPlainTarget = ByteClass.isTargetByte(filler)
                    XCTAssertEqual(ByteClass.isPlainTargetWord(w), fillerPlainTarget && ByteClass.isTargetByte(b), "target \(b) at \(position)")
                }
            }
        }
    }

    func testTokenBitmapMatchesTheRFCList() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        for value in 0...255 {
            XCTAssertEqual(ByteClass.isTChar(UInt8(value)), tchar.contains(UInt8(value)), "\(value)")
        }
    }
}
