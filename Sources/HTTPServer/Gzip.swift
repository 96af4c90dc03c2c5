import CZlib
import HTTPWire

/// gzip (RFC 9110 §8.4.1.3) through zlib's deflate with windowBits 31 (gzip wrapper).
enum Gzip {
    /// Compresses `input`; nil when zlib fails or the result is not smaller.
    static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var stream = z_stream()
        // 31 = 15 (32 KiB window) + 16 (gzip header and trailer instead of zlib's); memLevel 8 is zlib's default.
        guard cma_deflateInit2(&stream, level, 31, 8) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let status: Int32 = input.withUnsafeBytes { inp in
            out.withUnsafeMutableBytes { outp in
                stream.next_in = UnsafeMutablePointer(mutating: inp.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(inp.count)
                stream.next_out = outp.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(outp.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        let n = Int(stream.total_out)
        guard n < input.count else { return nil }
        out.removeSubrange(n...)
        return out
    }

    /// Content types worth compressing: text, JSON, JavaScript, SVG, XML.
    static func isCompressible(contentType: String?) -> Bool {
        guard let ct = contentType else { return false }
        let base = ct.split(separator: ";", maxSplits: 1).first.map { $0.trimmingOWS() } ?? Substring(ct)
        let lower = base.lowercased()
        if lower.hasPrefix("text/") { return true }
        switch lower {
        case "application/json", "application/javascript", "application/xml", "image/svg+xml",
             "application/x-javascript", "application/manifest+json", "application/problem+json",
             "application/x-ndjson", "application/wasm":
            return true
        default:
            return lower.hasSuffix("+json") || lower.hasSuffix("+xml")
        }
    }

    /// Whether `Accept-Encoding` lets us send gzip (RFC 9110 §12.5.3): `gzip` or
    /// `x-gzip` with q > 0, or `*` with q > 0 when gzip is not listed; `q=0` refuses.
    static func accepts(_ headers: HTTPHeaders) -> Bool {
        var gzipQ: Double? = nil
        var starQ: Double? = nil
        for value in headers[all: "Accept-Encoding"] {
            for item in value.split(separator: ",") {
                var parts = item.split(separator: ";").makeIterator()
                guard let coding = parts.next()?.trimmingOWS(), !coding.isEmpty else { continue }
                var q = 1.0
                while let p = parts.next() {
                    let kv = p.trimmingOWS()
                    if kv.utf8.count >= 2, kv.utf8.first == UInt8(ascii: "q") || kv.utf8.first == UInt8(ascii: "Q"),
                       kv.dropFirst().utf8.first == UInt8(ascii: "=") {
                        q = Double(kv.dropFirst(2)) ?? 0
                    }
                }
                if coding.asciiCaseInsensitiveEquals("gzip") || coding.asciiCaseInsensitiveEquals("x-gzip") {
                    gzipQ = max(gzipQ ?? 0, q)
                } else if coding == "*" {
                    starQ = q
                }
            }
        }
        if let q = gzipQ { return q > 0 }
        if let q = starQ { return q > 0 }
        return false
    }
}
