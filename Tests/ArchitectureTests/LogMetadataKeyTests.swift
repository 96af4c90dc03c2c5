import Foundation
import XCTest

/// Style habit 9: constant messages with dotted metadata keys (`webhook.id`, `work.id`,
/// `error.message`, `http.status`), checked in the text of every file under Sources.
final class LogMetadataKeyTests: XCTestCase {
    func testEveryLogMetadataKeyIsDotted() throws {
        var bare: [String] = []
        for (file, found) in try Self.metadataKeysUnderSources() {
            for (line, key) in found where !Self.isDotted(key) {
                bare.append("\(file):\(line): \"\(key)\"")
            }
        }
        XCTAssertEqual(bare, [], "log metadata keys must be dotted (`error.message`, `http.route`):\n" + bare.joined(separator: "\n"))
    }

    /// The key pattern itself.
    func testDottedKeysAreLowercaseSegmentsJoinedByDots() {
        let table: [(String, Bool)] = [
            ("work.id", true), ("error.message", true), ("http.open_connections", true), ("retry.attempt", true),
            ("a.b.c", true), ("sandbox.id2", true),
            ("error", false), ("reason", false), ("Work.id", false), ("work.", false), (".id", false),
            ("work..id", false), ("work.Id", false), ("1work.id", false), ("work-id.x", false), ("work.\\(x)", false),
        ]
        for (key, dotted) in table {
            XCTAssertEqual(Self.isDotted(key), dotted, key)
        }
    }

    /// The reader: logger calls on any receiver named `logger` or `log`, one line or
    /// several, keys only in key position of a literal inside the call.
    func testKeysAreReadFromLoggerCallsOnly() {
        let table: [(String, [String])] = [
            (#"logger.info("a.b", metadata: ["work.id": "\(id)", "error": "\(error)"])"#, ["work.id", "error"]),
            ("context.logger.warning(\"x\", metadata: [\n    \"sandbox.id\": \"\\(id)\",\n    \"status\": \"\\(s)\",\n])", ["sandbox.id", "status"]),
            (#"log.error("x", metadata: ["route": "\(route?.kind ?? "unknown")", "http.status": "\(r ? "a" : "b")"])"#, ["route", "http.status"]),
            (#"logger.error("x", metadata: meta.merging(["error.message": "\(error)"]) { $1 })"#, ["error.message"]),
            (#"logger.debug("x", metadata: ["k.v": flag ? "yes" : "no"])"#, ["k.v"]),
            ("logger.info(\"x\", metadata: [ // a \"quoted\" comment\n \"a.b\": \"1\"])", ["a.b"]),
            (#"logger.info("webhook.queued")"#, []),
            (#"let m: [String: String] = ["bare": "1"]"#, []),
            (#"catalog.error("x", metadata: ["bare": "1"])"#, []),
        ]
        for (source, keys) in table {
            XCTAssertEqual(Self.metadataKeys(in: source).map(\.key), keys, source)
        }
    }

    // MARK: reading

    static func isDotted(_ key: String) -> Bool {
        key.wholeMatch(of: /[a-z][a-z0-9_]*(\.[a-z0-9_]+)+/) != nil
    }

    /// `Sources/…/*.swift` relative path → the metadata keys its logger calls name.
    static func metadataKeysUnderSources() throws -> [(file: String, keys: [(line: Int, key: String)])] {
        let sources = ImportGraphTests.packageRoot.appendingPathComponent("Sources")
        guard let walk = FileManager.default.enumerator(atPath: sources.path) else { return [] }
        var result: [(file: String, keys: [(line: Int, key: String)])] = []
        for case let path as String in walk where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            result.append(("Sources/\(path)", metadataKeys(in: text)))
        }
        return result.sorted { $0.file < $1.file }
    }

    /// Key literals (with their lines) of the dictionary literals inside each
    /// `logger.<level>(…)` / `log.<level>(…)` call of `source`.
    static func metadataKeys(in source: String) -> [(line: Int, key: String)] {
        let bytes = Array(source.utf8)
        var keys: [(line: Int, key: String)] = []
        // Simple word boundaries: Unicode ones see `context.logger` as one word.
        let calls = /\b(?:logger|log)\.(?:trace|debug|info|notice|warning|error|critical)\(/.wordBoundaryKind(.simple)
        for call in source.matches(of: calls) {
            let open = source.utf8.distance(from: source.startIndex, to: call.range.upperBound) - 1
            for (offset, key) in keyLiterals(inCallAt: open, bytes) {
                keys.append((bytes[..<offset].reduce(1) { $1 == newline ? $0 + 1 : $0 }, key))
            }
        }
        return keys
    }

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), slash = UInt8(ascii: "/")
    private static let newline = UInt8(ascii: "\n"), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")
    private static let openers: Set<UInt8> = [UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{")]
    private static let closers: Set<UInt8> = [UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}")]
    private static let blanks: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    /// Walks the call whose `(` is at `open` to its `)`. A string literal right after a
    /// `[` or a `,` of a bracket, and followed by `:`, is a dictionary key.
    private static func keyLiterals(inCallAt open: Int, _ b: [UInt8]) -> [(offset: Int, key: String)] {
        var keys: [(offset: Int, key: String)] = []
        var brackets: [(opener: UInt8, expectingKey: Bool)] = []
        var i = open
        while i < b.count {
            let c = b[i]
            if c == quote {
                let (content, end) = stringLiteral(b, from: i)
                if let top = brackets.last, top.opener == UInt8(ascii: "["), top.expectingKey {
                    var j = end
                    while j < b.count, blanks.contains(b[j]) { j += 1 }
                    if j < b.count, b[j] == colon { keys.append((i, String(decoding: content, as: UTF8.self))) }
                }
                if !brackets.isEmpty { brackets[brackets.count - 1].expectingKey = false }
                i = end
                continue
            }
            if c == slash, i + 1 < b.count, b[i + 1] == slash {
                while i < b.count, b[i] != newline { i += 1 }
                continue
            }
            if openers.contains(c) {
                brackets.append((c, c == UInt8(ascii: "[")))
            } else if closers.contains(c) {
                brackets.removeLast()
                if brackets.isEmpty { return keys }
                brackets[brackets.count - 1].expectingKey = false
            } else if c == comma {
                brackets[brackets.count - 1].expectingKey = brackets[brackets.count - 1].opener == UInt8(ascii: "[")
            } else if !blanks.contains(c), !brackets.isEmpty {
                brackets[brackets.count - 1].expectingKey = false
            }
            i += 1
        }
        return keys
    }

    /// The text of the literal starting at the `"` at `start` (an interpolation kept as
    /// `\(…)`, so such a key is never dotted) and the index after its closing quote.
    private static func stringLiteral(_ b: [UInt8], from start: Int) -> (content: [UInt8], end: Int) {
        var content: [UInt8] = []
        var i = start + 1
        while i < b.count, b[i] != quote {
            if b[i] == backslash, i + 1 < b.count, b[i + 1] == UInt8(ascii: "(") {
                i = afterParentheses(b, from: i + 1)
                content += Array(#"\(…)"#.utf8)
            } else if b[i] == backslash, i + 1 < b.count {
                content += [b[i], b[i + 1]]
                i += 2
            } else {
                content.append(b[i])
                i += 1
            }
        }
        return (content, i + 1)
    }

    /// The index after the `)` matching the `(` at `open`, string literals skipped.
    private static func afterParentheses(_ b: [UInt8], from open: Int) -> Int {
        var depth = 0
        var i = open
        while i < b.count {
            if b[i] == quote { i = stringLiteral(b, from: i).end; continue }
            if b[i] == UInt8(ascii: "(") { depth += 1 } else if b[i] == UInt8(ascii: ")") {
                depth -= 1
                if depth == 0 { return i + 1 }
            }
            i += 1
        }
        return i
    }
}
