import Foundation

/// What an egress entry may be (superserve.md §5): a host name, a wildcard host
/// (`*.example.com`: any depth of subdomain, never a bare `*`), an IPv4 address or an
/// IPv4 CIDR. IPv6 is always blocked by Superserve, so an IPv6 entry is refused here
/// rather than at the first create.
public enum EgressEntryCheck {
    public static func problem(_ entry: String) -> String? {
        if entry.isEmpty { return "is empty" }
        if entry.contains(where: { $0.isWhitespace }) { return "must not contain spaces" }
        if entry.contains("://") || entry.contains("/") && !isCIDR(entry) {
            return "must be a host, a wildcard host (*.example.com) or an IPv4 CIDR, not a URL or path"
        }
        if entry.contains(":") { return "IPv6 and host:port are not supported (Superserve blocks IPv6; rules take no ports)" }
        if isIPv4(entry) || isCIDR(entry) { return nil }
        if entry == "*" { return "a bare * matches nothing at Superserve; name the domain (*.example.com)" }
        var host = Substring(entry)
        if host.hasPrefix("*.") { host = host.dropFirst(2) }
        guard isHostName(host) else {
            return "must be a host, a wildcard host (*.example.com) or an IPv4 CIDR"
        }
        return nil
    }

    static func isHostName(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 || host == "localhost" else { return false }
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
            else { return false }
        }
        // A last label of digits only would be a mistyped address.
        return !(labels.last!.allSatisfy(\.isNumber))
    }

    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && Int(part).map { (0...255).contains($0) } == true
        }
    }

    static func isIPv4(_ text: String) -> Bool { isIPv4(Substring(text)) }

    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isIPv4(parts[0]), let bits = Int(parts[1]), (0...32).contains(bits),
              parts[1].allSatisfy(\.isNumber) else { return false }
        return true
    }
}
