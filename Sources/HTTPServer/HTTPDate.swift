import Glibc

/// IMF-fixdate (RFC 9110 §5.6.7) for the `Date` header, formatted by hand: no
/// Foundation, no formatter per request. Each connection queue caches the string of
/// the current second (`ConnectionLoop.dateHeader`).
enum HTTPDate {
    private static let days: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT` as bytes.
    static func format(_ t: time_t) -> [UInt8] {
        var tt = t
        var tm = tm()
        gmtime_r(&tt, &tm)
        var out: [UInt8] = []
        out.reserveCapacity(29)
        append(days[Int(tm.tm_wday)], &out)
        out.append(contentsOf: [0x2c, 0x20])
        two(Int(tm.tm_mday), &out)
        out.append(0x20)
        append(months[Int(tm.tm_mon)], &out)
        out.append(0x20)
        let y = Int(tm.tm_year) + 1900
        two(y / 100, &out); two(y % 100, &out)
        out.append(0x20)
        two(Int(tm.tm_hour), &out); out.append(0x3a)
        two(Int(tm.tm_min), &out); out.append(0x3a)
        two(Int(tm.tm_sec), &out)
        out.append(contentsOf: [0x20, 0x47, 0x4d, 0x54])
        return out
    }

    private static func append(_ s: StaticString, _ out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private static func two(_ v: Int, _ out: inout [UInt8]) {
        out.append(UInt8(48 + v / 10 % 10)); out.append(UInt8(48 + v % 10))
    }
}
