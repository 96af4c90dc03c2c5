@testable import HTTPServer
import HTTPWire
import JSON
import Logging
@testable import Orchestrator
import Synchronization
import TestSupport
import XCTest

/// What the writer hands to stdout, and the periodic trigger it asked for.
private final class Captured: Sendable {
    private let state = Mutex<(batches: [[UInt8]], drops: Int, interval: Duration?,
                               flush: (@Sendable () -> Void)?, stopped: Bool, wakes: [@Sendable () -> Void])>(
        ([], 0, nil, nil, false, []))
    /// Flushes asked for at half capacity, not run until the test runs them.
    var wakes: [@Sendable () -> Void] { state.withLock { $0.wakes } }
    var batches: [[UInt8]] { state.withLock { $0.batches } }
    var lines: [String] { batches.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) } }
    var drops: Int { state.withLock { $0.drops } }
    var interval: Duration? { state.withLock { $0.interval } }
    var stopped: Bool { state.withLock { $0.stopped } }
    func tick() { state.withLock { $0.flush }?() }

    func writer(capacity: Int = AccessLogWriter.defaultCapacity, json: Bool = true) -> AccessLogWriter {
        AccessLogWriter(capacity: capacity, format: AccessLine.Format(json: json, label: "cma-orchestrator"),
                        output: { raw in self.state.withLock { $0.batches.append(Array(raw)) } },
                        onDrop: { self.state.withLock { $0.drops += 1 } },
                        trigger: { interval, flush in
                            self.state.withLock { $0.interval = interval; $0.flush = flush }
                            return { self.state.withLock { $0.stopped = true } }
                        },
                        wake: { flush in self.state.withLock { $0.wakes.append(flush) } })
    }
}

private func record(_ n: Int, path: Substring = "/style.css") -> AccessRecord {
    AccessRecord(method: .GET, path: path, status: 200, bytes: 100 + n, durationNanos: 1_234_567,
                 requestID: "req-\(n)", clientAddress: "203.0.113.7")
}

final class AccessLogWriterTests: XCTestCase {
    func testLinesWaitForTheHundredMillisecondTriggerThenLeaveInOrderInOneBatch() throws {
        let out = Captured()
        let w = out.writer()
        XCTAssertEqual(out.interval, .milliseconds(100))
        for i in 0..<50 { w.record(record(i)) }
        XCTAssertTrue(out.batches.isEmpty, "nothing is written on the connection's path")
        out.tick()
        XCTAssertEqual(out.batches.count, 1)
        let ids = try out.lines.map { try JSONValue.parse($0)["request.id"]?.stringValue }
        XCTAssertEqual(ids, (0..<50).map { "req-\($0)" })
        out.tick()
        XCTAssertEqual(out.batches.count, 1, "an empty buffer writes nothing")
    }

    func testTheJSONLineIsTheOneLineLogHandlerWritesForTheSameRecord() throws {
        let tricky: Substring = "/a\"b\\c\u{1F}\u{2028}é"
        let out = Captured()
        let w = out.writer()
        w.record(record(7, path: tricky))
        w.close()
        let line = try XCTUnwrap(out.lines.first)
        let expected = LineLogHandler.jsonLine(level: .info, label: "cma-orchestrator", message: "request", metadata: [
            "http.method": .stringConvertible(HTTPMethod.GET), "http.path": .string(String(tricky)),
            "http.status": .stringConvertible(200), "http.bytes": .stringConvertible(107),
            "http.duration_ms": .string("1.234"), "request.id": .string("req-7"),
            "client.address": .string("203.0.113.7"),
        ])
        // The timestamps differ (each line reads the clock); everything after them is equal.
        func afterStamp(_ s: String) -> Substring { s[s.range(of: "\",\"level\"")!.lowerBound...] }
        XCTAssertEqual(afterStamp(line), afterStamp(expected))
        XCTAssertEqual(try JSONValue.parse(line)["http.path"]?.stringValue, String(tricky))
        XCTAssertEqual(line.count, line.filter { $0 != "\n" }.count)
        XCTAssertEqual(line.dropFirst(7).prefix(24).count, 24, "ts has milliseconds: \(line)")
    }

    func testTheTextLineIsTheOneLineLogHandlerWritesForTheSameRecord() throws {
        let out = Captured()
        let w = out.writer(json: false)
        w.record(record(3))
        w.close()
        let line = try XCTUnwrap(out.lines.first)
        let expected = LineLogHandler.textLine(level: .info, label: "x", message: "request", metadata: [
            "http.method": "GET", "http.path": "/style.css", "http.status": "200", "http.bytes": "103",
            "http.duration_ms": "1.234", "request.id": "req-3", "client.address": "203.0.113.7",
        ])
        XCTAssertEqual(line.drop { $0 != " " }, expected.drop { $0 != " " })
    }

    /// A request id is a client's header value: in text, as in JSON, it is escaped, so a
    /// control character in it can never end the line or forge another one.
    func testATextLineEscapesAClientsRequestIDAsEveryTextLineDoes() throws {
        let out = Captured()
        let w = out.writer(json: false)
        let forged = "a\tb\u{1B}[31m \"quoted\" back\\slash"
        w.record(AccessRecord(method: .GET, path: "/status", status: 200, bytes: 1, durationNanos: 1_000_000,
                              requestID: forged, clientAddress: "203.0.113.7"))
        w.close()
        let line = try XCTUnwrap(out.lines.first)
        XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, line)
        XCTAssertTrue(line.contains("request.id=\(LineLogHandler.textEscaped(forged))"), line)
    }

    func testAFullBufferDropsAndCountsLinesAndNeverHoldsMoreThanItsCapacity() throws {
        let out = Captured()
        let oneLine = { () -> Int in
            let probe = Captured(); let w = probe.writer(); w.record(record(0)); w.close(); return probe.batches[0].count
        }()
        // Room for three lines; the flush asked for at half capacity has not run yet.
        let w = out.writer(capacity: oneLine * 3 + oneLine / 2)
        for i in 0..<6 { w.record(record(i)) }
        XCTAssertEqual(out.drops, 3)
        XCTAssertEqual(out.wakes.count, 1, "one flush asked for, not one per line")
        XCTAssertTrue(out.batches.isEmpty)
        w.close()
        XCTAssertEqual(try out.lines.map { try JSONValue.parse($0)["request.id"]?.stringValue }, ["req-0", "req-1", "req-2"])
        XCTAssertLessThanOrEqual(out.batches.map(\.count).max() ?? 0, oneLine * 3 + oneLine / 2)
    }

    func testHalfTheCapacityWaitingAsksForAFlushWithoutWaitingForTheTrigger() throws {
        let out = Captured()
        let w = out.writer(capacity: 4096)
        var i = 0
        while out.wakes.isEmpty && i < 100 { w.record(record(i)); i += 1 }
        XCTAssertEqual(out.wakes.count, 1)
        out.wakes[0]()
        let sizes = out.lines.map { $0.utf8.count + 1 }
        XCTAssertGreaterThanOrEqual(sizes.reduce(0, +), 2048, "at half the capacity")
        XCTAssertLessThan(sizes.dropLast().reduce(0, +), 2048, "not before")
        XCTAssertEqual(out.lines.count, i)
        XCTAssertEqual(out.drops, 0)
        w.record(record(i))
        XCTAssertEqual(out.wakes.count, 1, "the next flush is asked for when half is waiting again")
    }

    func testCloseWritesWhatWaitsStopsTheTriggerAndRefusesLaterLines() throws {
        let out = Captured()
        let w = out.writer()
        for i in 0..<3 { w.record(record(i)) }
        w.close()
        XCTAssertTrue(out.stopped)
        XCTAssertEqual(out.lines.count, 3)
        w.record(record(9))
        w.flush()
        XCTAssertEqual(out.lines.count, 3)
    }

    func testProbesAreLeftOutOfTheAccessLogUnlessAskedFor() throws {
        let env = ConfigurationTests.valid
        let root = Harness.packageRoot
        let quiet = try Configuration.load(mode: .webhook, environment: env, overrides: CommandLineOverrides(), workingDirectory: root)
        XCTAssertEqual(Set(quiet.server.accessLogExcludedRoutes), ["/healthz", "/readyz", "/metrics"])
        var all = env
        all["CMA_ACCESS_LOG_PROBES"] = "true"
        let loud = try Configuration.load(mode: .webhook, environment: all, overrides: CommandLineOverrides(), workingDirectory: root)
        XCTAssertTrue(loud.server.accessLogExcludedRoutes.isEmpty)
    }
}
