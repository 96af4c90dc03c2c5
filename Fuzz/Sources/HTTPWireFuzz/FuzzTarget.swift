import HTTPWire

/// Small limits so that every limit path is reachable by inputs of a few KiB.
let fuzzLimits: HTTPLimits = {
    var l = HTTPLimits()
    l.maxRequestLineBytes = 256
    l.maxHeaderBytes = 512
    l.maxHeaderCount = 8
    l.maxBodyBytes = 4096
    l.maxChunkLineBytes = 64
    l.maxTrailerBytes = 128
    return l
}()

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

func parse(_ bytes: [UInt8]) -> HeadParseResult {
    bytes.withUnsafeBytes { HTTPRequestParser.parseHead($0, limits: fuzzLimits) }
}

/// Decodes `bytes` fed in two pieces (cut at `cut`) the way a connection would, and
/// returns the outcome with `consumed` counted from the start, plus the body.
func decode(_ bytes: [UInt8], framing: BodyFraming, cut: Int) -> (BodyDecodeResult, [UInt8]) {
    var decoder = BodyDecoder(framing: framing, maxBodyBytes: fuzzLimits.maxBodyBytes, limits: fuzzLimits)
    var body: [UInt8] = []
    var buffer: [UInt8] = []
    var offset = 0
    var last = BodyDecodeResult.needMore(consumed: 0)
    for (start, end) in [(0, cut), (cut, bytes.count)] {
        buffer += bytes[start..<end]
        let r = buffer.withUnsafeBytes { decoder.decode($0, into: &body) }
        switch r {
        case .invalid: return (r, body)
        case .done(let c):
            check(c <= buffer.count, "body consumed \(c) > \(buffer.count)")
            return (.done(consumed: offset + c), body)
        case .needMore(let c):
            check(c <= buffer.count, "body consumed \(c) > \(buffer.count)")
            buffer.removeFirst(c)
            offset += c
            last = .needMore(consumed: offset)
        }
    }
    return (last, body)
}

/// Checks that the decoder agrees with itself however the bytes arrive.
func checkBody(_ bytes: [UInt8], framing: BodyFraming) {
    let (whole, wholeBody) = decode(bytes, framing: framing, cut: bytes.count)
    check(wholeBody.count <= fuzzLimits.maxBodyBytes, "body over limit")
    if case .done(let c) = whole { check(c <= bytes.count, "done consumed \(c) > \(bytes.count)") }
    for cut in [bytes.count / 2, bytes.count / 3, 1].filter({ $0 <= bytes.count }) {
        let (split, splitBody) = decode(bytes, framing: framing, cut: cut)
        check(split == whole, "body split at \(cut): \(split) vs \(whole)")
        if case .invalid = whole {} else { check(splitBody == wholeBody, "body bytes differ at cut \(cut)") }
    }
}

/// Serialises a parsed head back to the wire; parsing that must give the same head.
func serialise(_ head: HTTPRequestHead) -> [UInt8] {
    var out = Array("\(head.method) \(head.target) \(head.version)\r\n".utf8)
    // Field bytes as received: values may hold obs-text that is not UTF-8.
    head.headers.forEachField { name, value in
        out += name
        out += [0x3A, 0x20]
        out += value
        out += [13, 10]
        return true
    }
    out += [13, 10]
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let result = parse(bytes)

    // A prefix must be incomplete or end the same way (the server re-parses on each read).
    for cut in [size / 2, size - 1].filter({ $0 >= 0 && $0 < size }) {
        let partial = parse(Array(bytes[..<cut]))
        check(partial == .incomplete || partial == result, "prefix \(cut): \(partial) vs \(result)")
    }

    switch result {
    case .complete(let head, let consumed):
        check(consumed > 0 && consumed <= size, "consumed \(consumed) of \(size)")
        check(consumed <= fuzzLimits.maxRequestLineBytes + fuzzLimits.maxHeaderBytes, "head over limits")
        check(head.headers.count <= fuzzLimits.maxHeaderCount, "too many headers")
        // The head alone re-parses identically; so does its re-serialisation.
        check(parse(Array(bytes[..<consumed])) == result, "head re-parse differs")
        // The serialisation writes the field bytes back as received, with one space
        // after each colon and no other whitespace around the values.
        let reparsed = serialise(head).withUnsafeBytes { HTTPRequestParser.parseHead($0, limits: .default) }
        if case .complete(let again, _) = reparsed {
            check(again == head, "serialised head re-parses differently")
        } else {
            check(false, "serialised head does not parse")
        }
        checkBody(Array(bytes[consumed...]), framing: head.framing)
    case .incomplete:
        break
    case .invalid:
        break
    }
    // The chunked decoder also gets the raw input directly.
    checkBody(bytes, framing: .chunked)
    return 0
}
