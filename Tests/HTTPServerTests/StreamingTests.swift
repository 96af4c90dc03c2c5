import HTTPServer
import HTTPWire
import Synchronization
import TestSupport
import XCTest

final class StreamingTests: XCTestCase {
    /// `BodyWriter.write` returns only once the bytes are in the kernel, so a client that
    /// stops reading stalls the producer; once it goes away the next write throws `.closed`.
    func testStreamWritesApplyBackpressureAndFailWithClosedWhenThePeerLeaves() async throws {
        let written = Counter()
        let outcome = Mutex<String?>(nil)
        var r = Router()
        r.add(.GET, "/firehose", .async { _ in
            Response(status: 200, headers: .init([("Content-Type", "application/octet-stream")]), body: .stream { w in
                let chunk = [UInt8](repeating: 120, count: 64 * 1024)
                do {
                    while true {
                        try await w.write(chunk)
                        written.increment()
                    }
                } catch BodyWriterError.closed {
                    outcome.withLock { $0 = "closed" }
                    throw BodyWriterError.closed
                } catch {
                    outcome.withLock { $0 = "other: \(error)" }
                    throw error
                }
            })
        })
        let h = try ServerHarness(router: r, configure: { $0.writeTimeout = .seconds(30) })
        let c = try h.client()
        var small: Int32 = 16 * 1024
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try c.send("GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n")
        await waitUntil(.seconds(3), "some chunks written") { written.value > 0 }
        // Not reading: the producer must stall once the socket buffers are full.
        var last = -1
        await waitUntil(.seconds(5), "producer stalls") {
            let v = written.value
            defer { last = v }
            return v == last
        }
        let stalledAt = written.value
        XCTAssertLessThan(stalledAt, 200, "a stalled reader must not let the server buffer without bound")
        c.close()   // the peer leaves
        await waitUntil(.seconds(3), "write throws closed") { outcome.withLock { $0 } != nil }
        XCTAssertEqual(outcome.withLock { $0 }, "closed")
        await waitUntil(.seconds(3), "connection released") { h.server.openConnections == 0 }
        await h.stop()
    }

    func testLargePipelinedAnswersSurvivePartialWrites() async throws {
        var r = Router()
        let big = (0..<(3 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        r.add(.GET, "/big", .sync { _ in .bytes(big, contentType: "application/octet-stream") })
        r.add(.GET, "/after", .sync { _ in .text("after") })
        let h = try ServerHarness(router: r)
        let c = try h.client()
        try c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        let a = try c.readResponse(timeout: .seconds(10)), b = try c.readResponse(timeout: .seconds(10))
        XCTAssertEqual(a.body, big)
        XCTAssertEqual(b.body, big)
        XCTAssertEqual(try c.readResponse().bodyText, "after")
        await h.stop()
    }

    func testRequestsTricklingInByteByByteAreParsedOnce() async throws {
        let h = try ServerHarness(router: .testing())
        let c = try h.client()
        for byte in "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8 { try c.send([byte]) }
        XCTAssertEqual(try c.readResponse().bodyText, "ok")
        for byte in "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8 {
            try c.send([byte])
        }
        XCTAssertEqual(try c.readResponse().bodyText, "abcde")
        await h.stop()
    }

    func testServesOnIPv6Loopback() async throws {
        var config = HTTPServerConfiguration()
        config.host = "::1"
        config.port = 0
        config.trustedProxies = []
        let s = HTTPServer(configuration: config, router: .testing(), logger: .init(label: "t"))
        do { try s.start() } catch HTTPServerError.system(let call, _) where call == "bind" || call == "socket" {
            // A container without IPv6 loopback cannot run this; that is an environment fact, reported.
            XCTFail("IPv6 loopback unavailable (\(call))"); return
        }
        let c = try RawClient(port: s.boundPort, host: "::1")
        try c.send("GET /client HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().bodyText, "::1 http")
        await s.shutdown()
    }
}
