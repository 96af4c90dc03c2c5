import Foundation

/// Reading a `TokenBucket.Report` from an answer's `RateLimit-*` headers
/// (superserve.md §7; the shape of the IETF httpapi draft):
///
/// - `RateLimit-Limit: 20`: the team's requests per second (a list such as
///   `20, 20;w=1` is read by its first number);
/// - `RateLimit-Policy: 20;w=1;burst=40`: a window `w` other than 1 s divides the
///   limit, and `burst` is the team's burst;
/// - `RateLimit-Remaining: 7`: requests the team has left now.
///
/// Missing or unreadable headers leave their field nil; nothing here throws.
extension TokenBucket.Report {
    public static func parse(_ response: InboundResponse) -> TokenBucket.Report {
        var report = TokenBucket.Report()
        if let raw = response.header("ratelimit-limit"), let limit = leadingNumber(raw), limit > 0 {
            report.limitPerSecond = limit
        }
        if let raw = response.header("ratelimit-policy") {
            let parts = raw.split(separator: ",").first.map { $0.split(separator: ";") } ?? []
            var window = 1.0
            for part in parts.dropFirst() {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, let value = Double(pair[1]), value.isFinite, value > 0 else { continue }
                switch pair[0].lowercased() {
                case "w": window = value
                case "burst": report.burst = Int(value)
                default: continue
                }
            }
            if let quota = parts.first.flatMap({ leadingNumber(String($0)) }), quota > 0 {
                report.limitPerSecond = quota / window
            }
        }
        if let raw = response.header("ratelimit-remaining"), let remaining = leadingNumber(raw), remaining >= 0 {
            report.remaining = Int(remaining)
        }
        return report
    }

    static func leadingNumber(_ text: String) -> Double? {
        let head = text.split(whereSeparator: { $0 == "," || $0 == ";" }).first.map(String.init) ?? text
        guard let value = Double(head.trimmingCharacters(in: .whitespaces)), value.isFinite else { return nil }
        return value
    }
}
