@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// superserve.md §7's team limits, on by default: 20 req/s with a burst of 40 over
/// the control and the data plane, `RateLimit-*` headers on every answer the bucket
/// let through, 50 active sandboxes, and the refusals counted on `/calls`.
final class SuperserveTeamLimitTests: XCTestCase {
    func testTheDefaultsAreTheServiceCodes() {
        let configuration = SuperserveEmulatorConfiguration(apiKey: "k", sandboxesRoot: URL(fileURLWithPath: "/nonexistent"))
        XCTAssertEqual(configuration.maxActiveSandboxes, 50)
        XCTAssertEqual(configuration.teamRateLimit?.requestsPerSecond, 20)
        XCTAssertEqual(configuration.teamRateLimit?.burst, 40)
    }

    func testEveryAnswerCarriesTheTeamBudgetAndTheDataPlaneSpendsIt() async {
        let h = SuperserveHarness { $0.teamRateLimit = SuperserveRateLimit(requestsPerSecond: 0.5, burst: 4) }
        addTeardownBlock { await h.close() }
        let listed = await h.control(.GET, "/sandboxes")
        XCTAssertEqual(listed.status, 200)
        XCTAssertEqual(listed.headers[first: "RateLimit-Limit"], "1")
        XCTAssertEqual(listed.headers[first: "RateLimit-Remaining"], "3")
        XCTAssertEqual(listed.headers[first: "RateLimit-Policy"], "1;w=1;burst=4")
        let box = await h.create()                                   // 2 left
        let ran = await h.exec(box.id, box.token, #"{"command":"echo hi"}"#)
        XCTAssertEqual(ran.status, 200, ran.text)
        XCTAssertEqual(ran.headers[first: "RateLimit-Remaining"], "1", "the data plane counts toward the team")
        _ = await h.exec(box.id, box.token, #"{"command":"true"}"#)   // the last token
        let limited = await h.exec(box.id, box.token, #"{"command":"true"}"#)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.code, "rate_limited")
        XCTAssertEqual(limited.headers[first: "Retry-After"], "2")
        XCTAssertEqual(limited.headers[first: "RateLimit-Remaining"], "0")
        let calls = await h.send(.GET, "/_emulator/superserve/calls")
        XCTAssertEqual(calls.json?["rejected"]?["rate_limited"]?.intValue, 1)
        XCTAssertEqual(calls.json?["active_sandboxes"]?.intValue, 1)
    }

    func testQuotaRefusalsAreCountedAndCarryNoRetryAfter() async {
        let h = SuperserveHarness {
            $0.maxActiveSandboxes = 1
            $0.teamRateLimit = SuperserveEmulatorConfiguration.serviceRateLimit
        }
        addTeardownBlock { await h.close() }
        _ = await h.create()
        let refused = await h.control(.POST, "/sandboxes", json: #"{"name":"b","from_template":"cma-runner"}"#)
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.code, "too_many_sandboxes")
        XCTAssertNil(refused.headers[first: "Retry-After"], "room is made by pausing, not by waiting")
        XCTAssertNotNil(refused.headers[first: "RateLimit-Remaining"], "it went through the rate limit")
        let calls = await h.send(.GET, "/_emulator/superserve/calls")
        XCTAssertEqual(calls.json?["rejected"]?["too_many_sandboxes"]?.intValue, 1)
        let reset = await h.send(.DELETE, "/_emulator/superserve/calls")
        XCTAssertEqual(reset.status, 204)
        let after = await h.send(.GET, "/_emulator/superserve/calls")
        XCTAssertEqual(after.json?["rejected"]?.objectValue?.count, 0)
    }

    func testLiftedLimitsSendNoRateLimitHeaders() async {
        let h = SuperserveHarness { $0.teamRateLimit = nil; $0.maxActiveSandboxes = nil }
        addTeardownBlock { await h.close() }
        for _ in 0..<60 {
            let answer = await h.control(.GET, "/sandboxes")
            XCTAssertEqual(answer.status, 200)
            XCTAssertNil(answer.headers[first: "RateLimit-Limit"])
        }
    }
}
