import HTTPServer
import JSON
import Glibc

/// The access line's bytes, written without a metadata dictionary: the same fields,
/// order (sorted keys) and escaping as `LineLogHandler` gives the `info` record
/// "request" that `HTTPServer` logs when it has no sink, so log consumers see one format.
public enum AccessLine {
    public struct Format: Sendable {
        let json: Bool
        /// `{"ts":"` … or nothing: what comes before the timestamp.
        private let head: [UInt8]
        /// What follows the timestamp up to the first field's value.
        private let afterStamp: [UInt8]

        public init(json: Bool, label: String) {
            self.json = json
            if json {
                head = Array(#"{"ts":""#.utf8)
                var rest = Array(#"","level":"info","logger":"#.utf8)
                JSONEscape.appendQuoted(label, to: &rest)
                rest += Array(#","msg":"request""#.utf8)
                afterStamp = rest
            } else {
                head = []
                afterStamp = Array(" INFO request".utf8)
            }
        }

        /// Appends one line, newline included.
        func append(_ r: AccessRecord, stamp: inout Stamp, to out: inout [UInt8]) {
            out.append(contentsOf: head)
            stamp.appendNow(to: &out)
            out.append(contentsOf: afterStamp)
            key("client.address", &out); string(r.clientAddress, &out)
            key("http.bytes", &out); number(&out) { decimal(r.bytes, &$0) }
            key("http.duration_ms", &out); number(&out) { milliseconds(r.durationNanos, &$0) }
            key("http.method", &out); string(r.method.description, &out)
            key("http.path", &out); string(r.path, &out)
            key("http.status", &out); number(&out) { decimal(r.status, &$0) }
            key("request.id", &out); string(r.requestID, &out)
            if json { out.append(UInt8(ascii: "}")) }
            out.append(UInt8(ascii: "\n"))
        }

        private func key(_ key: StaticString, _ out: inout [UInt8]) {
            out.append(UInt8(ascii: json ? "," : " "))
            if json { out.append(UInt8(ascii: "\"")) }
            key.withUTF8Buffer { out.append(contentsOf: $0) }
            if json { out.append(UInt8(ascii: "\"")); out.append(UInt8(ascii: ":")) } else { out.append(UInt8(ascii: "=")) }
        }

        /// A string value: JSON-escaped and quoted, or in text escaped as every text line
        /// is (`LineLogHandler.textEscaped`), so a header value cannot forge a line.
        private func string(_ s: some StringProtocol, _ out: inout [UInt8]) {
            if json { JSONEscape.appendQuoted(s, to: &out) } else {
                out.append(contentsOf: LineLogHandler.textEscaped(String(s)).utf8)
            }
        }

        /// Every metadata value is a JSON string in `LineLogHandler`'s lines, numbers too.
        private func number(_ out: inout [UInt8], _ digits: (inout [UInt8]) -> Void) {
            if json { out.append(UInt8(ascii: "\"")) }
            digits(&out)
            if json { out.append(UInt8(ascii: "\"")) }
        }
    }

    /// The `ts` of a line (`UTCTimestamp.now()`'s text), its date and time computed
    /// once per second.
    public struct Stamp: Sendable {
        private var second = -1
        private var prefix: [UInt8] = []

        public init() {}

        mutating func appendNow(to out: inout [UInt8]) {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            append(unixSeconds: Int(ts.tv_sec), milliseconds: Int(ts.tv_nsec / 1_000_000), to: &out)
        }

        mutating func append(unixSeconds: Int, milliseconds: Int, to out: inout [UInt8]) {
            if unixSeconds != second {
                second = unixSeconds
                prefix = Array(UTCTimestamp.format(unixSeconds: unixSeconds).utf8.dropLast())   // without "Z"
                prefix.append(UInt8(ascii: "."))
            }
            out.append(contentsOf: prefix)
            padded(milliseconds, width: 3, &out)
            out.append(UInt8(ascii: "Z"))
        }
    }

    static func decimal(_ n: Int, _ out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")); decimal(UInt(n.magnitude), &out); return }
        decimal(UInt(n), &out)
    }

    static func decimal(_ n: UInt, _ out: inout [UInt8]) {
        if n >= 10 { decimal(n / 10, &out) }
        out.append(UInt8(ascii: "0") + UInt8(n % 10))
    }

    static func padded(_ n: Int, width: Int, _ out: inout [UInt8]) {
        var digits = 1, p = 10
        while p <= n { digits += 1; p *= 10 }
        for _ in digits..<max(width, digits) { out.append(UInt8(ascii: "0")) }
        decimal(n, &out)
    }

    /// `Connection.milliseconds`: whole milliseconds, a dot, three digits of microseconds.
    static func milliseconds(_ nanos: UInt64, _ out: inout [UInt8]) {
        let micros = UInt(nanos / 1000)
        decimal(micros / 1000, &out)
        out.append(UInt8(ascii: "."))
        padded(Int(micros % 1000), width: 3, &out)
    }
}
