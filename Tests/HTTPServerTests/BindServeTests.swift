import HTTPServer
import Logging
import TestSupport
import XCTest

final class BindServeTests: XCTestCase {
    private func unserved() -> HTTPServer {
        var config = HTTPServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.shutdownGracePeriod = .seconds(2)
        var logger = Logger(label: "test.http")
        logger.logLevel = .critical
        return HTTPServer(configuration: config, logger: logger)
    }

    func testBindReservesThePortAndAConnectionMadeBeforeServeIsAnsweredAfterIt() async throws {
        let server = unserved()
        let port = try server.bind()
        XCTAssertGreaterThan(port, 0)
        XCTAssertEqual(server.boundPort, port)

        var taken = HTTPServerConfiguration()
        taken.host = "127.0.0.1"
        taken.port = port
        XCTAssertThrowsError(try HTTPServer(configuration: taken, logger: .init(label: "t")).bind(), "the port is reserved") {
            guard case .system(let call, _) = $0 as? HTTPServerError else { return XCTFail("\($0)") }
            XCTAssertEqual(call, "bind")
        }

        // The kernel completes the connect from the backlog; nothing answers until serve.
        let early = try RawClient(port: port)
        try early.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertFalse(try early.fill(until: RawClient.deadline(after: .milliseconds(100))), "no answer before serve")

        try server.serve(router: .testing())
        let r = try early.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyText, "ok")
        XCTAssertThrowsError(try server.serve(router: .testing())) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
        await server.shutdown()
    }

    func testShutdownBeforeServeReleasesThePortAndServeThenRefuses() async throws {
        let server = unserved()
        let port = try server.bind()
        let waiting = try RawClient(port: port)
        await server.shutdown()
        XCTAssertTrue(try waiting.waitForClose(timeout: .seconds(2)), "a connect waiting in the backlog is dropped")
        XCTAssertThrowsError(try RawClient(port: port), "the listener is closed")
        XCTAssertThrowsError(try server.serve(router: .testing())) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
        XCTAssertEqual(server.openConnections, 0)

        let never = unserved()
        await never.shutdown()
        XCTAssertThrowsError(try never.bind()) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
    }

    func testServeBindsWhenBindWasNotCalledAndStartNeedsTheRouterGivenAtInit() async throws {
        let server = unserved()
        XCTAssertThrowsError(try server.start()) {
            guard case .invalidConfiguration = $0 as? HTTPServerError else { return XCTFail("\($0)") }
        }
        try server.serve(router: .testing())
        XCTAssertGreaterThan(server.boundPort, 0)
        let c = try RawClient(port: server.boundPort)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertThrowsError(try server.bind()) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
        await server.shutdown()
    }
}
