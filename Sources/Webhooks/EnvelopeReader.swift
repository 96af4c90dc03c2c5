import JSON

/// A strict RFC 8259 reader that walks one JSON text on raw bytes and keeps only the
/// string members the envelope needs (`type`, `id`, `data.type`, `data.id`). Every
/// other value is validated and skipped without being built, so a malformed body is
/// refused exactly as a full parser would refuse it, and a well-formed one costs four
/// Strings (the webhook route runs inline on a connection queue).
///
/// One loop over the bytes with an explicit container stack: no recursion, no
/// closures, and the wanted strings are kept as ranges until the end. The token rules
/// (whitespace, literals, numbers, escapes) are the JSON module's, shared with
/// `JSONValue.parse`; only the string scan has a fast path of its own here.
struct EnvelopeReader {
    /// Nesting bound: deeper documents are refused.
    static let maximumDepth = 64

    /// Which envelope member the value being read belongs to.
    private enum Slot { case none, type, id, data, dataType, dataID }

    /// What the grammar allows next.
    private enum Expect { case value, valueOrEnd, key, keyOrEnd, colon, commaOrEnd }

    /// A string's bytes between its quotes, and whether it holds escapes.
    private struct Span {
        var start: Int
        var end: Int
        var escaped: Bool
    }

    private let bytes: UnsafeBufferPointer<UInt8>

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Nil unless `bytes` is exactly one JSON object (surrounding whitespace allowed)
    /// with string `type`, `id` and `data.type`, `data` being an object.
    static func read(_ bytes: [UInt8]) -> WebhookEnvelope? {
        bytes.withUnsafeBufferPointer { EnvelopeReader($0).read() }
    }

    private func read() -> WebhookEnvelope? {
        let n = bytes.count
        var i = JSONScan.skipWhitespace(bytes, from: 0)
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        // Bit k of `objects` is set when the container at depth k + 1 is an object.
        var depth = 1
        var objects: UInt64 = 1
        // True while inside the object that is the value of the top-level `data`.
        var inData = false
        var slot = Slot.none
        var expect = Expect.keyOrEnd
        var type: Span?, id: Span?, dataType: Span?, dataID: Span?
        var dataIsObject = false

        while true {
            i = JSONScan.skipWhitespace(bytes, from: i)
            guard i < n else { return nil }
            let b = bytes[i]
            switch expect {
            case .key, .keyOrEnd:
                if b == UInt8(ascii: "}") && expect == .keyOrEnd {
                    i += 1
                    guard close(&depth, &objects, &inData, object: true) else { return nil }
                    if depth == 0 { return finish(i, type, id, dataType, dataID, dataIsObject) }
                    expect = .commaOrEnd
                    continue
                }
                guard b == UInt8(ascii: "\""), let span = string(at: i) else { return nil }
                i = span.end + 1
                slot = .none
                if depth == 1 || (depth == 2 && inData) {
                    switch name(span) {
                    case 1: slot = depth == 1 ? .type : .dataType
                    case 2: slot = depth == 1 ? .id : .dataID
                    case 3: slot = depth == 1 ? .data : .none
                    default: break
                    }
                }
                expect = .colon
            case .colon:
                guard b == UInt8(ascii: ":") else { return nil }
                i += 1
                expect = .value
            case .value, .valueOrEnd:
                if b == UInt8(ascii: "]") && expect == .valueOrEnd {
                    i += 1
                    guard close(&depth, &objects, &inData, object: false) else { return nil }
                    expect = .commaOrEnd
                    continue
                }
                switch b {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < Self.maximumDepth else { return nil }
                    let object = b == UInt8(ascii: "{")
                    if object {
                        objects |= 1 << UInt64(depth)
                        // Later duplicates of `data` are read too; the last string wins.
                        if slot == .data { dataIsObject = true; inData = true }
                    } else {
                        objects &= ~(1 << UInt64(depth))
                    }
                    depth += 1
                    i += 1
                    expect = object ? .keyOrEnd : .valueOrEnd
                    slot = .none
                    continue
                case UInt8(ascii: "\""):
                    guard let span = string(at: i) else { return nil }
                    i = span.end + 1
                    switch slot {
                    case .type: type = span
                    case .id: id = span
                    case .dataType: dataType = span
                    case .dataID: dataID = span
                    case .none, .data: break
                    }
                case UInt8(ascii: "t"): guard JSONScan.literal("true", in: bytes, at: &i) else { return nil }
                case UInt8(ascii: "f"): guard JSONScan.literal("false", in: bytes, at: &i) else { return nil }
                case UInt8(ascii: "n"): guard JSONScan.literal("null", in: bytes, at: &i) else { return nil }
                default: guard JSONScan.number(bytes, at: &i) else { return nil }
                }
                slot = .none
                expect = .commaOrEnd
            case .commaOrEnd:
                let inObject = objects >> UInt64(depth - 1) & 1 == 1
                i += 1
                if b == UInt8(ascii: ",") {
                    expect = inObject ? .key : .value
                } else if b == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    guard close(&depth, &objects, &inData, object: inObject) else { return nil }
                    if depth == 0 { return finish(i, type, id, dataType, dataID, dataIsObject) }
                } else {
                    return nil
                }
            }
        }
    }

    /// Leaves the innermost container, which must be of the given kind.
    private func close(_ depth: inout Int, _ objects: inout UInt64, _ inData: inout Bool, object: Bool) -> Bool {
        guard (objects >> UInt64(depth - 1) & 1 == 1) == object else { return false }
        if depth == 2 { inData = false }
        depth -= 1
        return true
    }

    /// After the top-level object: only whitespace may follow, and the envelope's
    /// members must all be there.
    private func finish(_ i: Int, _ type: Span?, _ id: Span?, _ dataType: Span?, _ dataID: Span?,
                        _ dataIsObject: Bool) -> WebhookEnvelope? {
        guard JSONScan.skipWhitespace(bytes, from: i) == bytes.count, let type, let id, dataIsObject, let dataType else { return nil }
        return WebhookEnvelope(type: text(type), id: text(id), dataType: text(dataType), sessionID: dataID.map(text))
    }

    /// 1 for `type`, 2 for `id`, 3 for `data`, 0 for any other member name.
    private func name(_ span: Span) -> Int {
        if span.escaped {
            // `"\u0074ype"` is `type`: compare the decoded text.
            switch text(span) {
            case "type": return 1
            case "id": return 2
            case "data": return 3
            default: return 0
            }
        }
        let s = span.start
        switch span.end - s {
        case 2 where bytes[s] == UInt8(ascii: "i") && bytes[s + 1] == UInt8(ascii: "d"): return 2
        case 4 where equals(s, "type"): return 1
        case 4 where equals(s, "data"): return 3
        default: return 0
        }
    }

    private static func equals(_ raw: UnsafeBufferPointer<UInt8>, _ word: StaticString) -> Bool {
        guard raw.count == word.utf8CodeUnitCount else { return false }
        for k in 0..<raw.count where raw[k] != word.utf8Start[k] { return false }
        return true
    }

    private func equals(_ start: Int, _ word: StaticString) -> Bool {
        for k in 0..<word.utf8CodeUnitCount where bytes[start + k] != word.utf8Start[k] { return false }
        return true
    }

    /// The string whose opening quote is at `quote`, validated: no control characters,
    /// valid escapes and surrogate pairs, valid UTF-8. Nil when malformed.
    private func string(at quote: Int) -> Span? {
        let start = quote + 1
        var end = start
        var high: UInt64 = 0
        // Eight bytes at a time while none is a quote, a backslash or a control
        // character (SWAR: the any-byte tests are exact per word).
        if let base = bytes.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            while end + 8 <= bytes.count {
                let w = UnsafeRawPointer(base + end).loadUnaligned(as: UInt64.self)
                let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
                let hits = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w)
                if hits & highs != 0 { break }
                high |= w
                end += 8
            }
        }
        var ascii = high & 0x8080_8080_8080_8080 == 0
        while end < bytes.count {
            let b = bytes[end]
            if b == UInt8(ascii: "\"") {
                guard ascii || String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) != nil else {
                    return nil
                }
                return Span(start: start, end: end, escaped: false)
            }
            if b == UInt8(ascii: "\\") { return escapedString(start) }
            if b < 0x20 { return nil }
            if b >= 0x80 { ascii = false }
            end += 1
        }
        return nil
    }

    /// The slow path for a string with escapes: decode it once to validate it.
    private func escapedString(_ start: Int) -> Span? {
        var end = start
        guard let decoded = decode(from: start, end: &end), String(validating: decoded, as: UTF8.self) != nil else {
            return nil
        }
        return Span(start: start, end: end, escaped: true)
    }

    /// Unescaped bytes of the string starting at `start`; `end` is set to its closing quote.
    private func decode(from start: Int, end: inout Int) -> [UInt8]? {
        var out: [UInt8] = []
        guard let close = JSONScan.string(bytes, from: start, into: &out) else { return nil }
        end = close
        return out
    }

    /// The text of a validated string.
    private func text(_ span: Span) -> String {
        guard !span.escaped else {
            var end = span.start
            return String(decoding: decode(from: span.start, end: &end) ?? [], as: UTF8.self)
        }
        let raw = UnsafeBufferPointer(rebasing: bytes[span.start..<span.end])
        // Event types the route branches on are too long for a small String: answer
        // them with the literal, which costs no allocation.
        switch raw.count {
        case 26 where Self.equals(raw, "session.status_run_started"): return "session.status_run_started"
        case 20 where Self.equals(raw, "session.status_idled"): return "session.status_idled"
        case 25 where Self.equals(raw, "session.status_terminated"): return "session.status_terminated"
        default: break
        }
        return String(decoding: raw, as: UTF8.self)
    }
}
