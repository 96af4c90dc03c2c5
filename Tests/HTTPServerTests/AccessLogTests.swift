import HTTPServer
import Logging
import Synchronization
import TestSupport
import XCTest

/// Captures log records for assertions.
final class CapturedLogs: Sendable {
    struct Record: Sendable { let level: Logger.Level; let message: String; let metadata: [String: String] }
    private let records = Mutex<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ r: Record) { records.withLock { $0.append(r) } }

    func logger(level: Logger.Level) -> Logger {
        var l = Logger(label: "test.capture") { _ in CaptureHandler(sink: self) }
        l.logLevel = level
        return l
    }
}

struct CaptureHandler: LogHandler {
    let sink: CapturedLogs
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let md = (event.metadata ?? [:]).mapValues { "\($0)" }
        sink.append(.init(level: event.level, message: "\(event.message)", metadata: md))
    }
}

final class AccessLogTests: XCTestCase {
    private func start(_ logs: CapturedLogs, level: Logger.Level) throws -> HTTPServer {
        var config = HTTPServerConfiguration()
        config.port = 0
        config.trustedProxies = ["127.0.0.1"]
        let s = HTTPServer(configuration: config, router: .testing(), logger: logs.logger(level: level))
        try s.start()
        return s
    }

    func testOneInfoLinePerRequestWithPathOnlyAndBoundedMetadata() async throws {
        let logs = CapturedLogs()
        let s = try start(logs, level: .info)
        let c = try RawClient(port: s.boundPort)
        try c.send("GET /healthz?token=sk-ant-oat01-TEST HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
        let r = try c.readResponse()
        await waitUntil(.seconds(2), "access log line") { logs.all.contains { $0.message == "request" } }
        let lines = logs.all.filter { $0.message == "request" }
        XCTAssertEqual(lines.count, 1)
        let m = try XCTUnwrap(lines.first?.metadata)
        XCTAssertEqual(lines.first?.level, .info)
        XCTAssertEqual(m["http.method"], "GET")
        XCTAssertEqual(m["http.path"], "/healthz")
        XCTAssertEqual(m["http.status"], "200")
        XCTAssertGreaterThan(m["http.bytes"].flatMap(Int.init) ?? 0, r.body.count, "head and body bytes")
        XCTAssertNotNil(m["http.duration_ms"].flatMap(Double.init))
        XCTAssertEqual(m["request.id"], r.header("X-Request-Id"))
        XCTAssertEqual(m["client.address"], "203.0.113.7")
        XCTAssertFalse(logs.all.contains { rec in rec.metadata.values.contains { $0.contains("sk-ant") } }, "queries never reach logs")
        await s.shutdown()
    }

    func testRejectionsAreLoggedAtDebugOnlyAndNeverEchoInput() async throws {
        let logs = CapturedLogs()
        let s = try start(logs, level: .debug)
        let c = try RawClient(port: s.boundPort)
        try c.send("GET /ZQXJMARKER HTTP/1.1 junk\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 400)
        XCTAssertNotNil(r.header("Date"))
        XCTAssertNotNil(r.header("X-Request-Id"))
        await waitUntil(.seconds(2), "rejection log") { logs.all.contains { $0.message == "request.rejected" } }
        let rec = try XCTUnwrap(logs.all.first { $0.message == "request.rejected" })
        XCTAssertEqual(rec.level, .debug)
        XCTAssertEqual(rec.metadata["request.id"], r.header("X-Request-Id"))
        XCTAssertFalse(logs.all.contains { rec in rec.metadata.values.contains { $0.contains("ZQXJ") } })
        await s.shutdown()
    }

    func testASinkGetsEachAnswerAsPlainFieldsAndExcludedRoutesGetNone() async throws {
        let sink = RecordingSink()
        let logs = CapturedLogs()
        var config = HTTPServerConfiguration()
        config.port = 0
        config.accessLogExcludedRoutes = ["/healthz"]
        let s = HTTPServer(configuration: config, router: .testing(), logger: logs.logger(level: .info), accessLog: sink)
        try s.start()
        let c = try RawClient(port: s.boundPort)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /id?q=sk-ant HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try c.readResponse()
        let r = try c.readResponse()
        await waitUntil(.seconds(2), "access record") { !sink.records.isEmpty }
        let records = sink.records
        XCTAssertEqual(records.map { String($0.path) }, ["/id"], "the excluded route is not logged; no query")
        XCTAssertEqual(records.first?.status, 200)
        XCTAssertEqual(records.first?.requestID, r.header("X-Request-Id"))
        XCTAssertEqual(records.first?.clientAddress, "127.0.0.1")
        XCTAssertFalse(logs.all.contains { $0.message == "request" }, "the logger gets no access lines when a sink is set")
        await s.shutdown()
    }
}

final class RecordingSink: AccessLogSink {
    private let state = Mutex<[AccessRecord]>([])
    var records: [AccessRecord] { state.withLock { $0 } }
    func record(_ entry: AccessRecord) { state.withLock { $0.append(entry) } }
}
