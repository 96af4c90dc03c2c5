import XCTest
@testable import HTTPWire

/// Helpers shared by the HTTPWire tests: run the parser on byte arrays, and feed inputs
/// whole and split at every position, as picohttpparser's tests do.
enum Wire {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func parse(_ input: [UInt8], limits: HTTPLimits = .default) -> HeadParseResult {
        input.withUnsafeBytes { HTTPRequestParser.parseHead($0, limits: limits) }
    }

    /// Parses `input` whole, then every prefix; each prefix must be `.incomplete` or give
    /// the very same outcome as the whole input. Returns the whole-input outcome.
    static func parseWholeAndSplit(_ input: [UInt8], limits: HTTPLimits = .default, row: String,
                                   file: StaticString = #filePath, line: UInt = #line) -> HeadParseResult {
        let whole = parse(input, limits: limits)
        for k in 0..<input.count {
            let partial = parse(Array(input[..<k]), limits: limits)
            if partial != .incomplete && partial != whole {
                XCTFail("\(row): prefix of \(k) bytes gave \(partial), whole gave \(whole)", file: file, line: line)
                break
            }
        }
        return whole
    }

    /// Drives a BodyDecoder the way a connection does: bytes arrive in `pieces`, consumed
    /// bytes are dropped, the rest stays buffered. Returns the final result (with
    /// `consumed` counted from the start of the input), the body, and any invalid outcome.
    static func decode(_ input: [UInt8], framing: BodyFraming, maxBodyBytes: Int, limits: HTTPLimits = .default,
                       splitAt cuts: [Int]) -> (result: BodyDecodeResult, body: [UInt8]) {
        var decoder = BodyDecoder(framing: framing, maxBodyBytes: maxBodyBytes, limits: limits)
        var body: [UInt8] = []
        var buffer: [UInt8] = []
        var offset = 0   // bytes consumed so far, counted from the input start
        var last = BodyDecodeResult.needMore(consumed: 0)
        let edges = cuts + [input.count]
        var start = 0
        for end in edges {
            buffer += input[start..<end]
            start = end
            let r = buffer.withUnsafeBytes { decoder.decode($0, into: &body) }
            switch r {
            case .invalid:
                return (r, body)
            case .done(let c):
                return (.done(consumed: offset + c), body)
            case .needMore(let c):
                buffer.removeFirst(c)
                offset += c
                last = .needMore(consumed: offset)
            }
        }
        return (last, body)
    }

    /// Decodes whole, split at every position, and one byte at a time; all must agree
    /// (an `.invalid` may only come with the same error). Returns the whole-input outcome.
    static func decodeWholeAndSplit(_ input: [UInt8], framing: BodyFraming, maxBodyBytes: Int, limits: HTTPLimits = .default,
                                    row: String, file: StaticString = #filePath, line: UInt = #line) -> (result: BodyDecodeResult, body: [UInt8]) {
        let whole = decode(input, framing: framing, maxBodyBytes: maxBodyBytes, limits: limits, splitAt: [])
        var splits = (0...input.count).map { [$0] }
        splits.append(Array(0...input.count))
        for cuts in splits {
            let got = decode(input, framing: framing, maxBodyBytes: maxBodyBytes, limits: limits, splitAt: cuts)
            if got.result != whole.result || (got.body != whole.body && !isInvalid(whole.result)) {
                XCTFail("\(row): split at \(cuts.count == 1 ? "\(cuts[0])" : "every byte") gave \(got.result), whole gave \(whole.result)",
                        file: file, line: line)
                break
            }
        }
        return whole
    }

    static func isInvalid(_ r: BodyDecodeResult) -> Bool {
        if case .invalid = r { return true }
        return false
    }
}
