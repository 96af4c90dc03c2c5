import CZlib
import HTTPServer
import TestSupport
import XCTest

/// Inflates a gzip body with zlib (windowBits 31), independent of the server's code.
func gunzip(_ data: [UInt8]) -> [UInt8]? {
    var s = z_stream()
    guard inflateInit2_(&s, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { inflateEnd(&s) }
    var out: [UInt8] = []
    var input = data
    var buf = [UInt8](repeating: 0, count: 65536)
    return input.withUnsafeMutableBytes { inp -> [UInt8]? in
        s.next_in = inp.bindMemory(to: Bytef.self).baseAddress
        s.avail_in = uInt(inp.count)
        while true {
            let rc = buf.withUnsafeMutableBytes { o -> Int32 in
                s.next_out = o.bindMemory(to: Bytef.self).baseAddress
                s.avail_out = uInt(o.count)
                return inflate(&s, Z_NO_FLUSH)
            }
            out.append(contentsOf: buf[0..<(buf.count - Int(s.avail_out))])
            if rc == Z_STREAM_END { return out }
            if rc != Z_OK { return nil }
        }
    }
}

final class GzipTests: XCTestCase {
    func testCompressibleBodiesAreGzippedWhenAcceptedAndDecompressToTheOriginal() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let plain = try c.readResponse()
        XCTAssertNil(plain.header("Content-Encoding"))
        XCTAssertEqual(plain.header("Vary"), "Accept-Encoding")
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip;q=0.5\r\n\r\n")
        let z = try c.readResponse()
        XCTAssertEqual(z.header("Content-Encoding"), "gzip")
        XCTAssertEqual(z.header("Vary"), "Accept-Encoding")
        XCTAssertLessThan(z.body.count, plain.body.count)
        XCTAssertEqual(gunzip(z.body), plain.body)
        await h.stop()
    }

    func testGzipIsSkippedForQZeroSmallBodiesAndIncompressibleTypes() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        let cases: [(String, String)] = [
            ("/big", "gzip;q=0"),
            ("/big", "identity"),
            ("/big", "*;q=0"),
            ("/tiny", "gzip"),
            ("/png", "gzip"),
        ]
        for (path, ae) in cases {
            try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\nAccept-Encoding: \(ae)\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertNil(r.header("Content-Encoding"), "\(path) \(ae)")
        }
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: *\r\n\r\n")
        XCTAssertEqual(try c.readResponse().header("Content-Encoding"), "gzip")
        await h.stop()
    }
}
