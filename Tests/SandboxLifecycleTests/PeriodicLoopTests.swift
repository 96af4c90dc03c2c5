import APIClient
import Foundation
import Logging
import Synchronization
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The janitor's and the template check's loops on a manual clock.
final class PeriodicLoopTests: XCTestCase {
    func client(_ transport: HandlerTransport, _ sleeper: any Sleeper) -> SuperserveClient {
        SuperserveClient(configuration: SuperserveConfiguration(controlPlaneURL: URL(string: "http://control.test")!,
                                                                apiKey: "ss-key-TEST"),
                         transport: transport, logger: Logger(label: "t"), sleeper: sleeper)
    }

    /// Rule 44: one sweep per interval, listing only this environment's active sandboxes.
    func testJanitorSweepsEveryIntervalUntilCancelled() async throws {
        let sleeper = ManualSleeper()
        let transport = HandlerTransport { _ in json(200, []) }
        var config = Janitor.Configuration(environmentID: "env_1")
        config.interval = .seconds(60)
        let janitor = Janitor(client: client(transport, sleeper), configuration: config, locks: SessionLocks(),
                              activity: SandboxActivity(), logger: Logger(label: "t"), sleeper: sleeper)
        let task = Task { await janitor.run() }
        for expected in 1...3 {
            let parked = await ManualSleeper.waitUntil { sleeper.requestedSleeps.filter { $0 == .seconds(60) }.count == expected }
            XCTAssertTrue(parked)
            XCTAssertEqual(transport.requests.count, expected)
            sleeper.advance(by: .seconds(60))
        }
        task.cancel()
        await task.value
        let list = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(list.queryItems, ["metadata.cma.environment_id": "env_1", "status": "active"])
    }

    /// Rule 47: not ready → back off and check again; ready → stop; `/readyz` reason meanwhile.
    func testTemplateCheckRetriesWithBackoffUntilReady() async throws {
        let sleeper = ManualSleeper()
        let answers = Mutex(["building", "failed-lookup", "ready"])
        let transport = HandlerTransport { _ in
            let next = answers.withLock { $0.removeFirst() }
            if next == "failed-lookup" { return errorResponse(503, "service_unavailable") }
            return json(200, [["id": "t1", "team_id": "team", "name": "cma-runner", "status": next,
                               "created_at": "2026-11-01T12:00:00Z"],
                              ["id": "t2", "team_id": "team", "name": "cma-runner-old", "status": "ready",
                               "created_at": "2026-11-01T12:00:00Z"]])
        }
        let check = TemplateCheck(client: client(transport, sleeper), templateName: "cma-runner", logger: Logger(label: "t"),
                                  sleeper: sleeper, retryCap: .seconds(60))
        let task = Task { await check.run() }
        var reasons: [String] = []
        for _ in 0..<2 {
            let parked = await sleeper.waitForSleepers(1)
            XCTAssertTrue(parked)
            reasons.append(check.status.reason ?? "")
            sleeper.advanceToNextDeadline()
        }
        await task.value
        XCTAssertEqual(check.status, .ready)
        XCTAssertEqual(reasons[0], "template cma-runner is building")
        XCTAssertTrue(reasons[1].hasPrefix("template check failed: HTTP 503"), reasons[1])
        XCTAssertEqual(transport.requests.first?.queryItems, ["name_prefix": "cma-runner"])
        let sleeps = sleeper.requestedSleeps
        XCTAssertEqual(sleeps.count, 2)
        XCTAssertLessThanOrEqual(sleeps[0], .milliseconds(500))
    }
}
