import JSON
import XCTest

final class JSONEscapeTests: XCTestCase {
    // RFC 8259 §7: the text after a backslash, what it decodes to (nil: refused), and
    // how many bytes it takes.
    func testEscapesDecodeOrAreRefused() {
        let table: [(String, [UInt8]?, Int)] = [
            (#"""#, [0x22], 1), (#"\"#, [0x5C], 1), ("/", [0x2F], 1),
            ("b", [0x08], 1), ("f", [0x0C], 1), ("n", [0x0A], 1), ("r", [0x0D], 1), ("t", [0x09], 1),
            ("u0041", Array("A".utf8), 5),
            ("u00e9", Array("é".utf8), 5),
            ("u20AC", Array("€".utf8), 5),
            (#"uD83D\uDE00"#, Array("😀".utf8), 11),
            ("uD83D", nil, 0),          // high surrogate alone
            (#"uD83D\u0041"#, nil, 0),  // followed by no low surrogate
            ("uDE00", nil, 0),          // low surrogate alone
            ("u00G1", nil, 0),          // not hex
            ("u00", nil, 0),            // too short
            ("x", nil, 0),              // unknown escape
            ("", nil, 0),
        ]
        for (text, expected, length) in table {
            let bytes = Array(text.utf8)
            var index = 0
            var out: [UInt8] = []
            let ok = JSONEscape.decode(bytes, at: &index, into: &out)
            XCTAssertEqual(ok ? out : nil, expected, text)
            if ok { XCTAssertEqual(index, length, text) }
        }
    }

    /// The one escaper: quotes, backslashes and every control character, and U+2028/
    /// U+2029 too (line terminators to JavaScript and to line-splitting readers); all
    /// other text, `/` included, stays as it is.
    func testTheEscaperEscapesControlsQuotesAndUnicodeLineSeparators() {
        let table: [(String, String)] = [
            ("plain", #""plain""#),
            ("a\"b\\c/d", #""a\"b\\c/d""#),
            ("\n\r\t", #""\n\r\t""#),
            ("\u{00}\u{01}\u{08}\u{0C}\u{1F}", #""\u0000\u0001\u0008\u000c\u001f""#),
            ("\u{7F}é€😀", "\"\u{7F}é€😀\""),
            ("line\u{2028}para\u{2029}", #""line\u2028para\u2029""#),
        ]
        for (text, expected) in table {
            XCTAssertEqual(JSONEscape.quoted(text), expected, text.debugDescription)
            XCTAssertEqual(try JSONValue.parse(expected).stringValue, text, "reads back: \(expected)")
        }
    }
}
