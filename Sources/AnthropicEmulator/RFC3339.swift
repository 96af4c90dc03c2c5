import Foundation

/// RFC 3339 timestamps in UTC (`2026-11-01T12:00:31.482113Z`), computed from the Unix
/// time with the civil-from-days algorithm so that no formatter or locale is involved.
/// The Anthropic work API prints microseconds (anthropic.md §2.3) and the heartbeat
/// precondition compares these strings byte for byte, so the format must be stable.
public enum RFC3339 {
    /// `fractionDigits` 0 prints whole seconds (`…:00Z`); 6 prints microseconds.
    public static func format(_ date: Date, fractionDigits: Int = 6) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        var out = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
        out += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if fractionDigits > 0 {
            let digits = min(fractionDigits, 6)
            var f = fraction
            for _ in digits..<6 { f /= 10 }
            out += "." + pad(f, digits)
        }
        return out + "Z"
    }

    /// Howard Hinnant's days-to-civil: days since 1970-01-01 → (year, month, day).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
