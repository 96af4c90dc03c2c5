import Foundation
import Glibc

/// RFC 3339 timestamps in UTC for log lines, `/status` and test webhooks, built by
/// hand: `String(format:)` and `ISO8601DateFormatter` go through CoreFoundation and
/// ICU, which is more work (and resident memory) than a log line or a probe deserves.
enum UTCTimestamp {
    /// `2026-12-01T05:48:19Z`, or `…:19.482Z` with `milliseconds`.
    static func format(unixSeconds: Int, milliseconds: Int? = nil) -> String {
        var t = tm()
        var seconds = time_t(unixSeconds)
        gmtime_r(&seconds, &t)
        var out = ""
        out.reserveCapacity(24)
        pad(Int(t.tm_year) + 1900, 4, &out); out += "-"
        pad(Int(t.tm_mon) + 1, 2, &out); out += "-"
        pad(Int(t.tm_mday), 2, &out); out += "T"
        pad(Int(t.tm_hour), 2, &out); out += ":"
        pad(Int(t.tm_min), 2, &out); out += ":"
        pad(Int(t.tm_sec), 2, &out)
        if let milliseconds {
            out += "."
            pad(milliseconds, 3, &out)
        }
        return out + "Z"
    }

    /// Whole seconds.
    static func format(_ date: Date) -> String {
        format(unixSeconds: Int(date.timeIntervalSince1970.rounded(.down)))
    }

    /// Now, with milliseconds (log lines).
    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return format(unixSeconds: Int(ts.tv_sec), milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    private static func pad(_ value: Int, _ width: Int, _ out: inout String) {
        let digits = String(value)
        if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
        out += digits
    }
}
