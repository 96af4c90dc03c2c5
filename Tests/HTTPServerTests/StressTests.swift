import Dispatch
import HTTPServer
import Synchronization
import TestSupport
import XCTest

final class StressTests: XCTestCase {
    /// Many clients at once, each pipelining a mix of inline, asynchronous, streamed and
    /// body-carrying requests: every answer arrives, in order, with the right body.
    func testConcurrentClientsMixingHandlerKindsAllGetTheirAnswersInOrder() async throws {
        let gate = Gate()
        gate.open()
        let observer = RecordingObserver()
        let h = try ServerHarness(router: .testing(slow: gate), observer: observer)
        let port = h.port
        let failures = Mutex<[String]>([])
        let clients = 24, rounds = 20
        DispatchQueue.concurrentPerform(iterations: clients) { i in
            do {
                let c = try RawClient(port: port)
                for round in 0..<rounds {
                    let payload = "client\(i)-round\(round)"
                    try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
                        + "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                    let got = try (0..<4).map { _ in try c.readResponse(timeout: .seconds(20)).bodyText }
                    let want = ["ok", "slow", payload, "part0;part1;part2;"]
                    if got != want { failures.withLock { $0.append("client \(i) round \(round): \(got)") } }
                }
            } catch {
                failures.withLock { $0.append("client \(i): \(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(observer.completed.count, clients * rounds * 4)
        await h.stop()
        XCTAssertEqual(observer.opened, observer.closed)
    }
}
