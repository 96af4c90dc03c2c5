@usableFromInline
enum ChunkLine {
    case line(size: Int, next: Int)
    case incomplete
    case invalid(HTTPParseError)
}

extension BodyDecoder {
    /// Where the chunk-line scan is (RFC 9112 §7.1.1):
    /// chunk = chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF
    @usableFromInline
    enum ChunkLineState {
        case size, bwsAfterSize, extNameStart, extName, bwsAfterName, extValueStart,
             extToken, quoted, quotedPair, afterQuoted, bwsAfterValue, cr
    }

    /// Scans one chunk-size line at `start` without consuming anything; the whole line
    /// (with CRLF) must fit in `maxChunkLineBytes`. The size is hex without sign or
    /// whitespace, checked for overflow and against the remaining body allowance.
    @usableFromInline
    func scanChunkLine(_ p: UnsafeRawBufferPointer, from start: Int) -> ChunkLine {
        typealias C = ByteClass
        let count = p.count
        let limit = max(0, limits.maxChunkLineBytes)
        let bound = limit < count &- start ? start &+ limit : count
        let allowance = maxBodyBytes &- decodedBytes
        var size = 0
        var state = ChunkLineState.size
        var i = start
        let badSize = ChunkLine.invalid(.badRequest(reason: .chunkSize))
        let badExt = ChunkLine.invalid(.badRequest(reason: .chunkExtension))
        while i < bound {
            let b = p[i]
            switch state {
            case .size:
                if let h = C.hexValue(b) {
                    guard size <= (Int.max &- h) >> 4 else { return badSize }
                    size = size << 4 | h
                    // Refuse as soon as the size announces more than the body may hold.
                    if size > allowance { return .invalid(.contentTooLarge) }
                } else if i == start {
                    return b == C.lf ? .invalid(.badRequest(reason: .bareLF)) : badSize
                } else if b == C.semicolon {
                    state = .extNameStart
                } else if C.isWhitespace(b) {
                    state = .bwsAfterSize
                } else if b == C.cr {
                    state = .cr
                } else if b == C.lf {
                    return .invalid(.badRequest(reason: .bareLF))
                } else {
                    return badSize
                }
            case .bwsAfterSize:
                // BWS is only allowed in front of an extension.
                if b == C.semicolon { state = .extNameStart } else if !C.isWhitespace(b) { return badSize }
            case .extNameStart:
                if C.isTChar(b) { state = .extName } else if !C.isWhitespace(b) { return badExt }
            case .extName:
                if C.isTChar(b) { break }
                switch b {
                case C.equals: state = .extValueStart
                case C.semicolon: state = .extNameStart
                case C.cr: state = .cr
                case C.sp, C.htab: state = .bwsAfterName
                default: return badExt
                }
            case .bwsAfterName:
                switch b {
                case C.equals: state = .extValueStart
                case C.semicolon: state = .extNameStart
                case C.sp, C.htab: break
                default: return badExt
                }
            case .extValueStart:
                if b == C.dquote { state = .quoted } else if C.isTChar(b) { state = .extToken } else if !C.isWhitespace(b) { return badExt }
            case .extToken:
                if C.isTChar(b) { break }
                switch b {
                case C.semicolon: state = .extNameStart
                case C.cr: state = .cr
                case C.sp, C.htab: state = .bwsAfterValue
                default: return badExt
                }
            case .quoted:
                if b == C.dquote { state = .afterQuoted } else if b == C.backslash { state = .quotedPair } else if !C.isQDText(b) { return badExt }
            case .quotedPair:
                guard C.isQuotedPairByte(b) else { return badExt }
                state = .quoted
            case .afterQuoted:
                switch b {
                case C.semicolon: state = .extNameStart
                case C.cr: state = .cr
                case C.sp, C.htab: state = .bwsAfterValue
                default: return badExt
                }
            case .bwsAfterValue:
                if b == C.semicolon { state = .extNameStart } else if !C.isWhitespace(b) { return badExt }
            case .cr:
                guard b == C.lf else { return .invalid(.badRequest(reason: .bareCR)) }
                return .line(size: size, next: i &+ 1)
            }
            i &+= 1
        }
        // Out of bytes: at the limit the line is too long, otherwise wait for more.
        return bound < count ? badSize : .incomplete
    }
}
