import XCTest
import Foundation
import APIClient
import AnthropicEmulator
import Logging
import TestSupport
@testable import WorkQueue

/// The drainer against the real Anthropic emulator (its router in process): real
/// work items, real secrets, the emulator's auth and state machine.
final class DrainerEmulatorTests: XCTestCase {
    private func setUp(handler: RecordingHandler, configure: (inout DrainerConfiguration) -> Void = { _ in })
        -> (AnthropicEmulator, Drainer, CapturingLogHandler.Store) {
        var emulatorConfiguration = AnthropicEmulatorConfiguration()
        emulatorConfiguration.environmentID = "env_test"
        emulatorConfiguration.environmentKey = "sk-ant-oat01-TEST"
        let emulator = AnthropicEmulator(configuration: emulatorConfiguration, logger: Logger(label: "emulator") { _ in SwiftLogNoOpLogHandler() })
        let client = WorkClient(configuration: AnthropicAPIConfiguration(baseURL: URL(string: "http://127.0.0.1:9")!,
                                                                         environmentID: "env_test", environmentKey: "sk-ant-oat01-TEST"),
                                transport: RouterTransport(router: emulator.router))
        var configuration = DrainerConfiguration()
        configure(&configuration)
        let (logger, store) = CapturingLogHandler.logger()
        let drainer = Drainer(client: client, handler: handler, configuration: configuration, logger: logger)
        return (emulator, drainer, store)
    }

    func testDrainTakesRealItemsAcksThemAndStopsOnlyTheUnrunnable() async throws {
        let handler = RecordingHandler(outcome: { item in
            item.metadata["fail"] == "yes" ? .failed(reason: "scripted failure") : .handedOff
        })
        let (emulator, drainer, logs) = setUp(handler: handler)
        let first = try emulator.createSession(metadata: ["superserve.sandbox_id": "sbx-1"])
        let second = try emulator.createSession(workMetadata: ["fail": "yes"])
        let health = try emulator.enqueueHealthcheck()

        await drainer.drain()
        await drainer.waitForLaunches()

        XCTAssertEqual(Set(handler.handled), [first.workID, second.workID])
        let items = Dictionary(uniqueKeysWithValues: handler.handledItems.map { ($0.id, $0) })
        XCTAssertEqual(items[first.workID]?.sessionID, first.sessionID)
        XCTAssertEqual(items[first.workID]?.dataType, "session")
        XCTAssertNotNil(items[first.workID]?.sessionsToken)       // §3.1 against the emulator's real secret
        let state = emulator.snapshot
        XCTAssertEqual(state.items[first.workID]?.state, .starting)   // acked, handed off, never stopped (rule 9)
        XCTAssertEqual(state.items[second.workID]?.state, .stopped)   // failed launch → force stop (rule 37)
        XCTAssertEqual(state.items[health]?.state, .stopped)          // healthcheck → force stop (rule 8)
        XCTAssertFalse(state.items[first.workID]?.calls.contains { $0.kind == "stop" || $0.kind == "heartbeat" } ?? true)
        XCTAssertNil(drainer.health.configurationError)
        XCTAssertFalse(logs.text.contains("sk-ant"))

        // Rule 40 groundwork: a second drain finds nothing and ends after one poll.
        await drainer.drain()
        XCTAssertEqual(Set(handler.handled), [first.workID, second.workID])
    }

    func testWrongKeyIsAConfigurationErrorWithoutTheKey() async throws {
        let emulator = AnthropicEmulator(configuration: {
            var c = AnthropicEmulatorConfiguration()
            c.environmentID = "env_test"
            c.environmentKey = "sk-ant-oat01-TEST"
            return c
        }(), logger: Logger(label: "emulator") { _ in SwiftLogNoOpLogHandler() })
        let client = WorkClient(configuration: AnthropicAPIConfiguration(baseURL: URL(string: "http://127.0.0.1:9")!,
                                                                         environmentID: "env_test", environmentKey: "sk-ant-oat01-WRONG"),
                                transport: RouterTransport(router: emulator.router))
        let (logger, logs) = CapturingLogHandler.logger()
        let drainer = Drainer(client: client, handler: RecordingHandler(), logger: logger)
        try emulator.createSession()
        // A fatal poll answer ends a drain (rule 33); the always-on loop would retry it
        // slowly instead (DrainerTests), with the same report.
        let loop = Task { await drainer.runForever() }
        let reported = await ManualSleeper.waitUntil { drainer.health.configurationError != nil }
        loop.cancel()
        await loop.value
        XCTAssertTrue(reported)
        let error = try XCTUnwrap(drainer.health.configurationError)
        XCTAssertTrue(error.hasPrefix("anthropic HTTP 401"), error)
        XCTAssertFalse(error.contains("WRONG"))
        XCTAssertFalse(logs.text.contains("WRONG"))
    }

    /// Real sockets end to end: URLSessionTransport → HTTPServer → emulator. The
    /// always-on loop long-polls (block_ms 999) and takes an item enqueued while
    /// its poll waits; cancelling the loop ends it without stopping the item.
    func testAlwaysOnLoopOverRealSocketsTakesAnItemEnqueuedDuringALongPoll() async throws {
        var emulatorConfiguration = AnthropicEmulatorConfiguration()
        emulatorConfiguration.environmentID = "env_test"
        emulatorConfiguration.environmentKey = "sk-ant-oat01-TEST"
        let emulator = AnthropicEmulator(configuration: emulatorConfiguration, logger: Logger(label: "emulator") { _ in SwiftLogNoOpLogHandler() })
        let harness = try ServerHarness(router: emulator.router)
        let client = WorkClient(configuration: AnthropicAPIConfiguration(baseURL: URL(string: "http://127.0.0.1:\(harness.port)")!,
                                                                         environmentID: "env_test", environmentKey: "sk-ant-oat01-TEST"),
                                transport: URLSessionTransport())
        let handler = RecordingHandler()
        let (logger, logs) = CapturingLogHandler.logger()
        let drainer = Drainer(client: client, handler: handler, logger: logger)
        let loop = Task { await drainer.runForever() }
        do { let ok = await ManualSleeper.waitUntil { emulator.waitingPolls(environmentID: "env_test") == 1 }; XCTAssertTrue(ok) }
        let created = try emulator.createSession()
        do { let ok = await ManualSleeper.waitUntil { handler.handled == [created.workID] }; XCTAssertTrue(ok) }
        loop.cancel()
        await loop.value
        let record = emulator.snapshot.items[created.workID]
        XCTAssertEqual(record?.state, .starting)
        XCTAssertEqual(record?.calls.map(\.kind).filter { $0 != "poll" }, ["ack"])
        XCTAssertEqual(handler.handledItems.first?.sessionID, created.sessionID)
        XCTAssertNil(drainer.health.configurationError)
        XCTAssertNotNil(drainer.health.lastSuccess)
        XCTAssertFalse(logs.text.contains("sk-ant"))
        await harness.stop()
        await emulator.shutdown()
    }
}
