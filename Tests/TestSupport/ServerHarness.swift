import HTTPServer
import Logging

/// Starts an `HTTPServer` on 127.0.0.1, port 0, for a test; `stop()` (or the test's
/// teardown) shuts it down. Short deadlines are the caller's choice.
public final class ServerHarness: Sendable {
    public let server: HTTPServer
    public var port: Int { server.boundPort }

    public init(router: Router, configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                observer: (any HTTPServerObserver)? = nil, logLevel: Logger.Level = .critical) throws {
        var config = HTTPServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.shutdownGracePeriod = .seconds(2)
        configure(&config)
        var logger = Logger(label: "test.http")
        logger.logLevel = logLevel
        server = HTTPServer(configuration: config, router: router, logger: logger, observer: observer)
        try server.start()
    }

    public func client() throws -> RawClient { try RawClient(port: port) }

    public func stop() async { await server.shutdown() }
}
