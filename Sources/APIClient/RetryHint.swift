import Foundation

/// Server hints for how long to wait before retrying (rule 34, anthropic.md §4):
/// `retry-after-ms` (milliseconds) first, then `Retry-After` as delta-seconds or an
/// HTTP-date (RFC 9110 §10.2.3). Only positive values count; the result is capped at
/// `Backoff.maximumHint` (60 s). Garbage, zero and negative values give `nil`.
public enum RetryHint {
    public static func delay(from response: InboundResponse, now: Date = Date()) -> Duration? {
        if let raw = response.header("retry-after-ms"), let ms = Double(raw.trimmingCharacters(in: .whitespaces)),
           ms.isFinite, ms > 0 {
            return capped(seconds: ms / 1000)
        }
        guard let raw = response.header("retry-after")?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            return nil
        }
        if let seconds = Double(raw) {
            guard seconds.isFinite, seconds > 0 else { return nil }
            return capped(seconds: seconds)
        }
        guard let date = httpDate(raw) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds > 0 else { return nil }
        return capped(seconds: seconds)
    }

    private static func capped(seconds: Double) -> Duration {
        let s = min(seconds, Backoff.maximumHint.secondsDouble)
        return .nanoseconds(Int64((s * 1e9).rounded()))
    }

    /// IMF-fixdate, plus the obsolete RFC 850 and asctime forms RFC 9110 §5.6.7 says
    /// recipients must accept.
    static func httpDate(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
