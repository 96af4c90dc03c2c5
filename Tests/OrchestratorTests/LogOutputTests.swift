import JSON
import Logging
@testable import Orchestrator
import XCTest

final class LogOutputTests: XCTestCase {
    /// Log lines and the emulators' answers are written with one escaper
    /// (`JSONEscape`), so a string comes out the same in both, U+2028/U+2029 and
    /// control characters included, and a log line stays one line for every reader.
    func testLogLinesEscapeStringsExactlyAsTheEmulatorsWriterDoes() throws {
        let tricky = "a\"b\\c/\n\r\t\u{00}\u{08}\u{1F}\u{7F} line\u{2028}para\u{2029} é😀"
        let line = LineLogHandler.jsonLine(level: .info, label: tricky, message: tricky, metadata: ["k": .string(tricky)])
        let written = JSONValue.string(tricky).serialized
        XCTAssertEqual(written, JSONEscape.quoted(tricky))
        for key in ["logger", "msg", "k"] {
            XCTAssertTrue(line.contains("\"\(key)\":" + written), "\(key) in \(line)")
        }
        XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x2028 || $0.value == 0x2029 },
                       "no raw line breaks or controls in a log line")
        let parsed = try JSONValue.parse(line)
        XCTAssertEqual(parsed["msg"]?.stringValue, tricky)
        XCTAssertEqual(parsed["k"]?.stringValue, tricky)
    }
}
