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

    /// Style habit 9 in the text format: a session id carrying a newline (or any
    /// control character) cannot end the record and forge a second line; what was
    /// escaped stays readable and distinct (the backslash is escaped too).
    func testTheTextFormatEscapesControlCharactersSoNoValueCanForgeALine() throws {
        let forged = "sesn_1\n2026-12-02T00:00:00.000Z INFO webhook.queued session.id=sesn_forged"
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        var logger = Logger(label: "test") { label in LineLogHandler(label: label, level: .info, json: false, fd: fds[1]) }
        logger.logLevel = .info
        logger.info("webhook.queued", metadata: ["session.id": "\(forged)", "event.type": "a\rb\u{1B}[2Jc\u{2028}d\\n"])
        close(fds[1])
        let written = String(decoding: FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(written.hasSuffix("\n"))
        let lines = written.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1, written)
        XCTAssertTrue(written.contains(#"session.id=sesn_1\n2026-12-02T00:00:00.000Z INFO"#), written)
        XCTAssertFalse(written.unicodeScalars.dropLast().contains { $0.value < 0x20 || $0.value == 0x2028 }, written)

        let cases: [(String, String)] = [
            ("plain sesn_1 é😀", "plain sesn_1 é😀"),
            ("a\nb", #"a\nb"#),
            ("a\r\tb", #"a\r\tb"#),
            ("esc\u{1B}[0m", #"esc\u001b[0m"#),
            ("nul\u{00}", #"nul\u0000"#),
            ("ls\u{2028}ps\u{2029}", #"ls\u2028ps\u2029"#),
            (#"already\n"#, #"already\\n"#),
            (#"say "hi""#, #"say \"hi\""#),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(LineLogHandler.textEscaped(input), expected, input.debugDescription)
        }
    }
}
