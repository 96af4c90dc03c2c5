import Glibc

/// An IPv4 or IPv6 address in binary form. IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`, what a dual-stack listener reports) are stored as IPv4 so that
/// `10.0.0.0/8` matches them.
struct IPAddress: Sendable, Equatable {
    /// 4 or 16.
    let length: Int
    /// Network byte order, left-aligned: the first 8 bytes and the last 8 bytes.
    let high: UInt64
    let low: UInt64

    init(v4 b: [UInt8]) {
        length = 4
        var hi: UInt64 = 0
        for x in b.prefix(4) { hi = hi << 8 | UInt64(x) }
        high = hi << 32
        low = 0
    }

    init(v6 b: [UInt8]) {
        // ::ffff:a.b.c.d → IPv4
        if b.count == 16, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff {
            self.init(v4: Array(b[12..<16]))
        } else {
            var hi: UInt64 = 0, lo: UInt64 = 0
            for x in b[0..<8] { hi = hi << 8 | UInt64(x) }
            for x in b[8..<16] { lo = lo << 8 | UInt64(x) }
            self.init(length: 16, high: hi, low: lo)
        }
    }

    private init(length: Int, high: UInt64, low: UInt64) {
        self.length = length
        self.high = high
        self.low = low
    }

    /// Parses textual IPv4 or IPv6 (no zone, no brackets); nil otherwise.
    init?(_ text: some StringProtocol) {
        var s = String(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = String(s.dropFirst().dropLast()) }
        if s.isEmpty || s.utf8.count > 45 { return nil }
        var a4 = in_addr()
        if inet_pton(AF_INET, s, &a4) == 1 {
            let v = UInt32(bigEndian: a4.s_addr)
            self.init(v4: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])
            return
        }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, s, &a6) == 1 {
            let b = withUnsafeBytes(of: &a6) { Array($0) }
            self.init(v6: b)
            return
        }
        return nil
    }

    /// From a socket address filled by accept/getsockname.
    init?(_ storage: sockaddr_storage) {
        var st = storage
        switch Int32(st.ss_family) {
        case AF_INET:
            let v = withUnsafeBytes(of: &st) { $0.load(as: sockaddr_in.self) }
            let x = UInt32(bigEndian: v.sin_addr.s_addr)
            self.init(v4: [UInt8(x >> 24), UInt8(x >> 16 & 0xff), UInt8(x >> 8 & 0xff), UInt8(x & 0xff)])
        case AF_INET6:
            var v = withUnsafeBytes(of: &st) { $0.load(as: sockaddr_in6.self) }
            let b = withUnsafeBytes(of: &v.sin6_addr) { Array($0) }
            self.init(v6: b)
        default:
            return nil
        }
    }

    /// Bit `i` (0 = most significant) of the address.
    func bit(_ i: Int) -> Bool {
        i < 64 ? (high >> UInt64(63 - i)) & 1 == 1 : (low >> UInt64(127 - i)) & 1 == 1
    }

    var text: String {
        if length == 4 {
            let v = high >> 32
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        }
        var raw = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i)) }
        for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i)) }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = raw.withUnsafeBytes { p in inet_ntop(AF_INET6, p.baseAddress, &out, socklen_t(out.count)) != nil }
        guard ok else { return "::" }
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// An address block (`10.0.0.0/8`, `fd00::/8`) or a single address.
struct CIDR: Sendable, Equatable {
    let network: IPAddress
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let addr = IPAddress(parts[0]) else { return nil }
        let maxBits = addr.length * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= maxBits else { return nil }
            prefixLength = n
        } else {
            prefixLength = maxBits
        }
        network = addr
    }

    func contains(_ a: IPAddress) -> Bool {
        guard a.length == network.length else { return false }
        for i in 0..<prefixLength where a.bit(i) != network.bit(i) { return false }
        return true
    }
}
