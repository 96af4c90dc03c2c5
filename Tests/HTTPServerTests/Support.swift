import HTTPServer
import HTTPWire
import Synchronization
import TestSupport
import XCTest

/// Records observer callbacks for assertions.
final class RecordingObserver: HTTPServerObserver {
    struct Completed: Sendable { let method: HTTPMethod; let route: String; let status: Int; let bytes: Int }
    private let state = Mutex<(opened: Int, closed: Int, rejected: [String], completed: [Completed])>((0, 0, [], []))

    func connectionOpened() { state.withLock { $0.opened += 1 } }
    func connectionClosed() { state.withLock { $0.closed += 1 } }
    func requestRejected(reason: String) { state.withLock { $0.rejected.append(reason) } }
    func requestCompleted(method: HTTPMethod, routePattern: String, status: Int, bytesSent: Int, duration: Duration) {
        state.withLock { $0.completed.append(Completed(method: method, route: routePattern, status: status, bytes: bytesSent)) }
    }

    var rejected: [String] { state.withLock { $0.rejected } }
    var completed: [Completed] { state.withLock { $0.completed } }
    var opened: Int { state.withLock { $0.opened } }
    var closed: Int { state.withLock { $0.closed } }
}

/// Waits for `condition` with a deadline, checking every few milliseconds.
func waitUntil(_ timeout: Duration = .seconds(5), _ what: String, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) async {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return }
        try? await Task.sleep(for: .milliseconds(5))
    }
    XCTFail("timed out waiting for \(what)", file: file, line: line)
}

/// A counter visible from handlers.
final class Counter: Sendable {
    private let v = Atomic<Int>(0)
    @discardableResult func increment() -> Int { v.wrappingAdd(1, ordering: .relaxed).newValue }
    var value: Int { v.load(ordering: .relaxed) }
}

extension Router {
    /// Routes most tests share.
    /// `slowEntered` counts requests that reached the `/slow` handler.
    static func testing(slow: Gate? = nil, hits: Counter? = nil, slowEntered: Counter? = nil) -> Router {
        var r = Router()
        r.add(.GET, "/healthz", .sync { _ in .text("ok") })
        r.add(.GET, "/id", .sync { req in .text(req.requestID) })
        r.add(.POST, "/echo", .sync { req in .bytes(req.body, contentType: "application/octet-stream") })
        r.add(.POST, "/small", maxBodyBytes: 16, .sync { req in .text("\(req.body.count)") })
        r.add(.GET, "/slow", .async { _ in
            slowEntered?.increment()
            await slow?.wait()
            return .text("slow")
        })
        r.add(.GET, "/fast", .sync { _ in hits?.increment(); return .text("fast") })
        r.add(.GET, "/client", .sync { req in .text("\(req.remoteAddress) \(req.scheme)") })
        r.add(.GET, "/big", .sync { _ in .text(String(repeating: "hello gzip world ", count: 200)) })
        r.add(.GET, "/tiny", .sync { _ in .text("tiny body") })
        r.add(.GET, "/png", .sync { _ in .bytes([UInt8](repeating: 7, count: 4000), contentType: "image/png") })
        r.add(.GET, "/stream", .async { _ in
            Response(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: .stream { w in
                for i in 0..<3 { try await w.write(Array("part\(i);".utf8)) }
            })
        })
        r.add(.DELETE, "/items", .sync { _ in .empty(status: 204) })
        return r
    }
}
