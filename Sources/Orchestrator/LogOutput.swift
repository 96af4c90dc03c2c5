import Foundation
import JSON
import Logging
import Glibc

/// swift-log handler writing one line per record to a file descriptor: JSON lines
/// in production (stdout not a terminal, or `CMA_LOG_FORMAT=json`), readable text
/// on a terminal (style habit 9). Each line leaves in one `write(2)`, so lines from
/// different threads never interleave. Strings are escaped by `JSONEscape`, the
/// escaper the emulators write with too (U+2028/U+2029 included).
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let json: Bool
    let fd: Int32

    public init(label: String, level: Logger.Level, json: Bool, fd: Int32 = STDOUT_FILENO) {
        self.label = label
        self.logLevel = level
        self.json = json
        self.fd = fd
    }

    /// Installs the handler for the whole process (once, before any logger is made).
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        let json = writesJSON(format)
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, json: json) }
    }

    static func writesJSON(_ format: LogFormat) -> Bool {
        switch format {
        case .json: true
        case .text: false
        case .automatic: isatty(STDOUT_FILENO) == 0
        }
    }

    /// The access line as this handler would write the `info` record "request" of a
    /// logger labelled `label`; nil when `level` logs no access lines.
    public static func accessLineFormat(format: LogFormat, level: Logger.Level, label: String) -> AccessLine.Format? {
        level <= .info ? AccessLine.Format(json: writesJSON(format), label: label) : nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = json
            ? Self.jsonLine(level: event.level, label: label, message: "\(event.message)", metadata: merged)
            : Self.textLine(level: event.level, label: label, message: "\(event.message)", metadata: merged)
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    static func jsonLine(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"ts\":\"\(UTCTimestamp.now())\",\"level\":\"\(level.rawValue)\",\"logger\":"
        JSONEscape.appendQuoted(label, to: &out)
        out += ",\"msg\":"
        JSONEscape.appendQuoted(message, to: &out)
        for key in metadata.keys.sorted() {
            out += ","
            JSONEscape.appendQuoted(key, to: &out)
            out += ":"
            JSONEscape.appendQuoted(metadata[key]!.flatText, to: &out)
        }
        out += "}"
        return out
    }

    static func textLine(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "\(UTCTimestamp.now()) \(level.rawValue.uppercased()) \(textEscaped(message))"
        for key in metadata.keys.sorted() { out += " \(textEscaped(key))=\(textEscaped(metadata[key]!.flatText))" }
        return out
    }

    /// The text format's escaping is the JSON format's (`JSONEscape`, without the
    /// quotes): control characters, U+2028/U+2029, the backslash and the quote become
    /// visible escapes, so a value (a session id from a webhook, say) can never end
    /// the line or forge another one. Plain values are written as they are.
    static func textEscaped(_ text: String) -> String {
        let plain = !text.unicodeScalars.contains { scalar in
            scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 || scalar == "\\" || scalar == "\""
        }
        return plain ? text : String(JSONEscape.quoted(text).dropFirst().dropLast())
    }
}

extension Logger.MetadataValue {
    /// Nested values flattened to their description.
    var flatText: String {
        switch self {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        default: description
        }
    }
}
